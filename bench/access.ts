/**
 * Resolver benchmark (issue: teams/access). Seeds a fresh schema with 100,000 users, 10,000 systems, 1,000 teams
 * (about 20 members each), 500 groups (about 50 systems each), 200,000 user grants and 20,000 team grants, then prints
 * p50/p99 of (a) the single (user, system) check, (b) the accessible-systems list of a user with about 2,000
 * systems, (c) the floor: a bare indexed SELECT of one grant row, and the ratio a/c, all in this one run.
 *
 * Usage: npm run bench:access   (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test; uses schema gatehouse_bench)
 */
import { performance } from "node:perf_hooks";
import { createDb } from "../src/db/index.ts";
import { migrateLatest } from "../src/db/migrate.ts";
import { accessibleSystems, permissionLevel } from "../src/repositories/effective-access.ts";

const baseUrl = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SCHEMA = "gatehouse_bench";
const USERS = 100_000;
const SYSTEMS = 10_000;
const TEAMS = 1_000;
const GROUPS = 500;

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function time(samples: number[], task: () => Promise<unknown>): Promise<void> {
  const start = performance.now();
  await task();
  samples.push(performance.now() - start);
}

const admin = createDb({ databaseUrl: baseUrl, embeddedDir: undefined, poolMax: 1 });
await admin.raw(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
await admin.raw(`CREATE SCHEMA ${SCHEMA}`);
await admin.destroy();
const url = new URL(baseUrl);
url.searchParams.set("options", `-c search_path=${SCHEMA}`);
const db = createDb({ databaseUrl: url.toString(), embeddedDir: undefined, poolMax: 1 });
await migrateLatest(db);

const seedStart = performance.now();
await db.raw(`INSERT INTO users (username, username_key, full_name, password_hash)
  SELECT 'user' || g, 'user' || g, 'User ' || g, NULL FROM generate_series(1, ${USERS}) g`);
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
const HEAVY = 424_242 % USERS;
await db.raw(`INSERT INTO user_system_grants (user_id, system_id, permission)
  SELECT ${HEAVY}, s, 1 FROM generate_series(1, ${SYSTEMS}, 10) s ON CONFLICT DO NOTHING`);
await db.raw(`INSERT INTO user_group_grants (user_id, group_id, permission)
  SELECT ${HEAVY}, g, 2 FROM generate_series(1, 12) g ON CONFLICT DO NOTHING`);
await db.raw(`INSERT INTO team_members (team_id, user_id) VALUES (1, ${HEAVY}), (2, ${HEAVY}) ON CONFLICT DO NOTHING`);
await db.raw("ANALYZE");
const counts = await db.raw(`SELECT
  (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM systems) AS systems, (SELECT count(*) FROM teams) AS teams,
  (SELECT count(*) FROM team_members) AS memberships, (SELECT count(*) FROM system_groups) AS groups,
  (SELECT count(*) FROM system_group_members) AS group_links,
  (SELECT count(*) FROM user_system_grants) + (SELECT count(*) FROM user_group_grants) AS user_grants,
  (SELECT count(*) FROM team_system_grants) + (SELECT count(*) FROM team_group_grants) AS team_grants`);
console.log(`seeded in ${((performance.now() - seedStart) / 1000).toFixed(1)} s:`, counts.rows[0]);

const pairs = Array.from({ length: 3000 }, (_, i) => ({ user: ((i * 7919) % USERS) + 1, system: ((i * 104729) % SYSTEMS) + 1 }));

// Warm up both paths so that neither pays for planning or cold pages alone.
for (const p of pairs.slice(0, 300)) {
  await permissionLevel(db, p.user, p.system);
  await db("user_system_grants").select("permission").where({ user_id: p.user, system_id: p.system }).first();
}

const check: number[] = [];
const floor: number[] = [];
for (const p of pairs) {
  await time(check, () => permissionLevel(db, p.user, p.system));
  await time(floor, () => db("user_system_grants").select("permission").where({ user_id: p.user, system_id: p.system }).first());
}

const list: number[] = [];
let listed = 0;
for (let i = 0; i < 60; i++) {
  await time(list, async () => {
    listed = (await accessibleSystems(db, HEAVY)).systems.length;
  });
}

const row = (label: string, samples: number[]) =>
  console.log(`${label.padEnd(52)} n=${String(samples.length).padStart(5)}  p50 ${percentile(samples, 50).toFixed(3).padStart(8)} ms  p99 ${percentile(samples, 99).toFixed(3).padStart(8)} ms`);
row("(a) single (user, system) check", check);
row(`(b) accessible systems of one user (${listed} systems)`, list);
row("(c) floor: bare indexed SELECT of one grant row", floor);
console.log(`a/c ratio: p50 ${(percentile(check, 50) / percentile(floor, 50)).toFixed(2)}  p99 ${(percentile(check, 99) / percentile(floor, 99)).toFixed(2)}`);
console.log(`targets: (a) p50 < 1 ms and a/c < 3; (b) p50 < 30 ms`);
await db.destroy();
