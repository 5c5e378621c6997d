/**
 * The access data set shared by the benchmarks (bench:access, bench:http): 100,000 users, 10,000 systems, 1,000 teams
 * (about 20 members each), 500 groups (about 50 systems each), 200,000 user grants, 20,000 team grants, and one heavy
 * user with about 2,100 systems. Also the scratch-schema helpers: each benchmark works in a schema of its own.
 */
import { performance } from "node:perf_hooks";
import { createDb, type Db } from "../src/db/index.ts";
import { migrateLatest } from "../src/db/migrate.ts";

export const BENCH_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export const USERS = 100_000;
export const SYSTEMS = 10_000;
export const TEAMS = 1_000;
export const GROUPS = 500;
/** The heavy user: about 2,000 systems through direct grants, groups and two teams. */
export const HEAVY = 424_242 % USERS;

/** `baseUrl` with every connection's search_path set to `schema`. */
export function schemaUrl(schema: string, baseUrl = BENCH_DATABASE_URL): string {
  const url = new URL(baseUrl);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return url.toString();
}

/** Drops `schema` if it exists and creates it empty; `andCreate: false` only drops it. */
export async function resetSchema(schema: string, andCreate = true, baseUrl = BENCH_DATABASE_URL): Promise<void> {
  const admin = createDb({ databaseUrl: baseUrl, embeddedDir: undefined, poolMax: 1 });
  try {
    await admin.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    if (andCreate) await admin.raw(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.destroy();
  }
}

/** Drops and re-creates `schema`, migrates it and returns a connection to it (its own pool settings). */
export async function freshSchema(schema: string, poolMax?: number): Promise<Db> {
  await resetSchema(schema);
  const db = createDb({ databaseUrl: schemaUrl(schema), embeddedDir: undefined, poolMax });
  await migrateLatest(db);
  return db;
}

export interface SeedOptions {
  /** Every seeded user's password hash (one shared hash: 100,000 argon2 hashes would take too long); null: none. */
  passwordHash?: string | null;
}

/**
 * Seeds the access data set into the (migrated, empty) schema `db` points at, analyses it, and prints the counts.
 * Users are `user1` … `user100000` ("User 1" …), ids 1 … 100,000; systems `nas-1` … `nas-10000`.
 */
export async function seedAccess(db: Db, options: SeedOptions = {}): Promise<void> {
  const seedStart = performance.now();
  await db.raw(
    `INSERT INTO users (username, username_key, full_name, password_hash)
     SELECT 'user' || g, 'user' || g, 'User ' || g, CAST(? AS text) FROM generate_series(1, ${USERS}) g`,
    [options.passwordHash ?? null],
  );
  await db.raw(`INSERT INTO systems (name, name_key, host)
    SELECT 'nas-' || g, 'nas-' || g, '10.' || (g / 65536) || '.' || ((g / 256) % 256) || '.' || (g % 256) FROM generate_series(1, ${SYSTEMS}) g`);
  await db.raw(`INSERT INTO teams (name, name_key) SELECT 'team-' || g, 'team-' || g FROM generate_series(1, ${TEAMS}) g`);
  await db.raw(`INSERT INTO system_groups (name, name_key) SELECT 'group-' || g, 'group-' || g FROM generate_series(1, ${GROUPS}) g`);
  // Teams of about 20: member i of team t is user ((t * 97 + i * 4099) mod USERS) + 1.
  await db.raw(`INSERT INTO team_members (team_id, user_id)
    SELECT t, ((t * 97 + i * 4099) % ${USERS}) + 1 FROM generate_series(1, ${TEAMS}) t, generate_series(1, 20) i ON CONFLICT DO NOTHING`);
  // Groups of about 50 systems.
  await db.raw(`INSERT INTO system_group_members (group_id, system_id)
    SELECT gr, ((gr * 31 + i * 199) % ${SYSTEMS}) + 1 FROM generate_series(1, ${GROUPS}) gr, generate_series(1, 50) i ON CONFLICT DO NOTHING`);
  // 200,000 user grants: 160,000 on systems, 40,000 on groups, spread over all users (formulas chosen so that pairs never repeat).
  await db.raw(`INSERT INTO user_system_grants (user_id, system_id, permission)
    SELECT (i % ${USERS}) + 1, ((i * 7 + (i / ${USERS}) * 3331) % ${SYSTEMS}) + 1, 1 + (i % 2) FROM generate_series(0, 159999) i`);
  await db.raw(`INSERT INTO user_group_grants (user_id, group_id, permission)
    SELECT ((i * 37) % ${USERS}) + 1, (i % ${GROUPS}) + 1, 1 + (i % 2) FROM generate_series(0, 39999) i`);
  // 20,000 team grants: 15,000 on systems, 5,000 on groups.
  await db.raw(`INSERT INTO team_system_grants (team_id, system_id, permission)
    SELECT (i % ${TEAMS}) + 1, ((i * 13 + (i / ${TEAMS}) * 101) % ${SYSTEMS}) + 1, 1 + (i % 2) FROM generate_series(0, 14999) i`);
  await db.raw(`INSERT INTO team_group_grants (team_id, group_id, permission)
    SELECT (i % ${TEAMS}) + 1, ((i / ${TEAMS}) * 97 + i) % ${GROUPS} + 1, 1 + (i % 2) FROM generate_series(0, 4999) i`);
  // The heavy user: about 2,000 systems through direct grants, groups and two teams.
  await db.raw(`INSERT INTO user_system_grants (user_id, system_id, permission)
    SELECT ${HEAVY}, s, 1 FROM generate_series(1, ${SYSTEMS}, 10) s ON CONFLICT DO NOTHING`);
  await db.raw(`INSERT INTO user_group_grants (user_id, group_id, permission)
    SELECT ${HEAVY}, g, 2 FROM generate_series(1, 12) g ON CONFLICT DO NOTHING`);
  await db.raw(`INSERT INTO team_members (team_id, user_id) VALUES (1, ${HEAVY}), (2, ${HEAVY}) ON CONFLICT DO NOTHING`);
  // VACUUM as well: a database in use has been vacuumed (visibility map, GIN pending lists merged), and autovacuum
  // would otherwise start on these fresh tables in the middle of a measurement.
  await db.raw("VACUUM ANALYZE");
  const counts = await db.raw(`SELECT
    (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM systems) AS systems, (SELECT count(*) FROM teams) AS teams,
    (SELECT count(*) FROM team_members) AS memberships, (SELECT count(*) FROM system_groups) AS groups,
    (SELECT count(*) FROM system_group_members) AS group_links,
    (SELECT count(*) FROM user_system_grants) + (SELECT count(*) FROM user_group_grants) AS user_grants,
    (SELECT count(*) FROM team_system_grants) + (SELECT count(*) FROM team_group_grants) AS team_grants`);
  console.log(`seeded in ${((performance.now() - seedStart) / 1000).toFixed(1)} s:`, counts.rows[0]);
}
