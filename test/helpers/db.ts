import { readFile } from "node:fs/promises";
import { directoryBreaker } from "../../src/ldap/circuit-breaker.ts";
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

let schemasMade = 0;

/**
 * On the real Postgres each database a test process makes is a schema of its own, named after the process
 * (global-setup.ts drops the schemas of processes that have ended): two files running at once, two runs on one
 * machine, or a run beside a developer's never see or truncate each other's rows. A worker runs several files one
 * after another (isolate: false in test/vitest.config.ts): each gets a new schema, whatever the one before left.
 */
async function isolatedPostgresUrl(baseUrl: string): Promise<string> {
  schemasMade += 1;
  const schema = `gatehouse_test_${process.pid}_${schemasMade}`;
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

/**
 * Empties the schema's tables and restarts their sequences, in one round trip: what `TRUNCATE … RESTART IDENTITY
 * CASCADE` of every table does, but as a DELETE of only the tables that have rows (TRUNCATE of all 22 tables
 * costs 100–450 ms a test, mostly creating and removing files; a few DELETEs cost a few milliseconds). Falls back
 * to TRUNCATE when a table holds many rows (a DELETE would be the slower one) or has a trigger of its own (a fault a
 * test injected: TRUNCATE fires no row triggers). Tables are deleted children first: a DELETE that a foreign key
 * refuses is retried after the others.
 */
const RESET_SQL = `DO $reset$
DECLARE
  all_tables text[];
  filled text[] := '{}';
  remaining text[];
  t text;
  rows_seen bigint;
  truncate_instead boolean := false;
  progress boolean;
  seq record;
BEGIN
  SELECT coalesce(array_agg(tablename::text ORDER BY tablename), '{}') INTO all_tables
    FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT LIKE 'knex_migrations%';
  IF cardinality(all_tables) = 0 THEN RETURN; END IF;
  SELECT EXISTS (
    SELECT 1 FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
     WHERE NOT tg.tgisinternal AND c.relnamespace = current_schema()::regnamespace AND c.relname::text = ANY (all_tables)
  ) INTO truncate_instead;
  IF NOT truncate_instead THEN
    FOREACH t IN ARRAY all_tables LOOP
      EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %I LIMIT 1001) AS x', t) INTO rows_seen;
      IF rows_seen > 1000 THEN truncate_instead := true; EXIT; END IF;
      IF rows_seen > 0 THEN filled := filled || t; END IF;
    END LOOP;
  END IF;
  IF truncate_instead THEN
    EXECUTE 'TRUNCATE ' || (SELECT string_agg(quote_ident(x), ', ') FROM unnest(all_tables) AS x) || ' RESTART IDENTITY CASCADE';
    RETURN;
  END IF;
  remaining := filled;
  WHILE cardinality(remaining) > 0 LOOP
    progress := false;
    FOREACH t IN ARRAY remaining LOOP
      BEGIN
        EXECUTE format('DELETE FROM %I', t);
        remaining := array_remove(remaining, t);
        progress := true;
      EXCEPTION WHEN foreign_key_violation THEN
        NULL;
      END;
    END LOOP;
    IF NOT progress THEN
      EXECUTE 'TRUNCATE ' || (SELECT string_agg(quote_ident(x), ', ') FROM unnest(all_tables) AS x) || ' RESTART IDENTITY CASCADE';
      RETURN;
    END IF;
  END LOOP;
  -- RESTART IDENTITY: every sequence a column of these tables owns (serial or identity) that has been used.
  FOR seq IN
    SELECT s.oid::regclass AS name, ps.start_value
      FROM pg_class s
      JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.deptype IN ('a', 'i')
      JOIN pg_class owner ON owner.oid = d.refobjid
      JOIN pg_sequences ps ON ps.schemaname = current_schema() AND ps.sequencename = s.relname
     WHERE s.relkind = 'S' AND owner.relnamespace = current_schema()::regnamespace
       AND owner.relname::text = ANY (all_tables) AND ps.last_value IS NOT NULL
  LOOP
    PERFORM setval(seq.name, seq.start_value, false);
  END LOOP;
END
$reset$`;

export async function resetDb(db: Db): Promise<void> {
  await db.raw(RESET_SQL);
  // The breaker knows LDAP servers by id, and a reset starts the ids again: what it learnt belongs to the old rows.
  directoryBreaker.reset();
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
