import { createDb, type Db } from "../../src/db/index.ts";
import { migrateLatest } from "../../src/db/migrate.ts";

/**
 * The database under test: the real Postgres that TEST_DATABASE_URL names, or an in-memory PGlite.
 * Migrated to the latest version; call `resetDb` before each test.
 */
export async function createTestDb(): Promise<Db> {
  const db = createDb({ databaseUrl: process.env.TEST_DATABASE_URL || undefined, embeddedDir: undefined });
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
