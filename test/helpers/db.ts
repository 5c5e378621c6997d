import { createDb, type Db } from "../../src/db/index.ts";
import { migrateLatest } from "../../src/db/migrate.ts";

/**
 * On the real Postgres each test process works in a schema of its own, so two runs on one machine
 * (or a run beside a developer's) never truncate each other's rows.
 */
async function isolatedPostgresUrl(baseUrl: string): Promise<string> {
  const schema = `gatehouse_test_${process.pid}`;
  const admin = createDb({ databaseUrl: baseUrl, embeddedDir: undefined, poolMax: 1 });
  try {
    await admin.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.raw(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.destroy();
  }
  const url = new URL(baseUrl);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return url.toString();
}

/**
 * The database under test: the real Postgres that TEST_DATABASE_URL names, or an in-memory PGlite.
 * Migrated to the latest version; call `resetDb` before each test.
 */
export async function createTestDb(options: { embedded?: boolean } = {}): Promise<Db> {
  const base = options.embedded ? undefined : process.env.TEST_DATABASE_URL;
  const db = createDb({ databaseUrl: base ? await isolatedPostgresUrl(base) : undefined, embeddedDir: undefined });
  await migrateLatest(db);
  return db;
}

export async function resetDb(db: Db): Promise<void> {
  const result = await db.raw(
    `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT LIKE 'knex_migrations%'`,
  );
  const tables = (result.rows as { tablename: string }[]).map((r) => `"${r.tablename}"`);
  if (tables.length > 0) await db.raw(`TRUNCATE ${tables.join(", ")} RESTART IDENTITY CASCADE`);
}

export const usingPostgres = Boolean(process.env.TEST_DATABASE_URL);
