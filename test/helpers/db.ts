import { readFile } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import knexFactory, { type Knex } from "knex";
import ClientPgLite from "knex-pglite";
import { afterAll, beforeAll, beforeEach, inject } from "vitest";
import { createDb, type Db } from "../../src/db/index.ts";
import { migrateLatest } from "../../src/db/migrate.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** A migrated embedded database as a tar file, made once per run by global-setup.ts. */
    pgliteSnapshot: string | undefined;
  }
}

/**
 * An in-memory PGlite restored from the migrated snapshot: a second instead of the 10–20 s that creating and
 * migrating a new embedded database takes. Falls back to a new database when no snapshot was made.
 */
async function embeddedTestDb(): Promise<Db> {
  const snapshot = inject("pgliteSnapshot");
  if (!snapshot) return createDb({ databaseUrl: undefined, embeddedDir: undefined });
  const pglite = new PGlite({ loadDataDir: new Blob([await readFile(snapshot)]) });
  return knexFactory({ client: ClientPgLite, dialect: "postgres", connection: { pglite } } as Knex.Config);
}

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
  const db = base ? createDb({ databaseUrl: await isolatedPostgresUrl(base), embeddedDir: undefined }) : await embeddedTestDb();
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

/**
 * Registers the usual hooks of a test file: a migrated database before all tests (handed to `use`), emptied
 * before each test (or once, with `{ reset: "once" }`), destroyed after all.
 */
export function useTestDb(use: (db: Db) => void, options: { reset: "each" | "once" } = { reset: "each" }): void {
  let db: Db | undefined;
  beforeAll(async () => {
    db = await createTestDb();
    if (options.reset === "once") await resetDb(db);
    use(db);
  });
  afterAll(async () => {
    await db?.destroy();
  });
  if (options.reset === "each") {
    beforeEach(async () => {
      if (db) await resetDb(db);
    });
  }
}
