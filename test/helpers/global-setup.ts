import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import knexFactory, { type Knex } from "knex";
import ClientPgLite from "knex-pglite";
import type { TestProject } from "vitest/node";
import { createDb } from "../../src/db/index.ts";
import { migrateLatest } from "../../src/db/migrate.ts";

const snapshotFile = path.join(tmpdir(), `gatehouse-test-pglite-${process.pid}.tar`);

/** Creates and migrates one embedded database and saves it, so that each test file can start from a copy. */
async function makePgliteSnapshot(): Promise<string> {
  const pglite = new PGlite();
  const db = knexFactory({ client: ClientPgLite, dialect: "postgres", connection: { pglite } } as Knex.Config);
  try {
    await migrateLatest(db);
    const dump = await pglite.dumpDataDir("none");
    await writeFile(snapshotFile, Buffer.from(await dump.arrayBuffer()));
    return snapshotFile;
  } finally {
    await db.destroy();
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Drops the per-process test schemas (see db.ts) whose process has ended. */
async function dropStaleSchemas(): Promise<void> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) return;
  const db = createDb({ databaseUrl: url, embeddedDir: undefined, poolMax: 1 });
  try {
    const result = await db.raw("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'gatehouse_test_%'");
    for (const { nspname } of result.rows as { nspname: string }[]) {
      // gatehouse_test_<pid>_<n> (db.ts); gatehouse_test_<pid> from before.
      const pid = /^gatehouse_test_(\d+)(?:_\d+)?$/.exec(nspname)?.[1];
      if (pid && !isRunning(Number(pid))) await db.raw(`DROP SCHEMA IF EXISTS "${nspname}" CASCADE`);
    }
  } finally {
    await db.destroy();
  }
}

/** Projects whose tests need no database (test/vitest.config.ts): a run of only these makes no snapshot. */
const WITHOUT_DATABASE = new Set(["unit"]);

export async function setup(project: TestProject): Promise<void> {
  await dropStaleSchemas();
  // project.vitest.projects is what this run runs (after --project); a test that needs a database anyway makes one.
  if (project.vitest.projects.every((p) => WITHOUT_DATABASE.has(p.name))) return;
  project.provide("pgliteSnapshot", await makePgliteSnapshot());
}

export async function teardown(): Promise<void> {
  await dropStaleSchemas();
  await rm(snapshotFile, { force: true });
}
