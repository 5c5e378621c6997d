import { readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Knex } from "knex";
import type { Db } from "./index.ts";

const migrationsDir = fileURLToPath(new URL("../../migrations/", import.meta.url));

interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
  config?: { transaction?: boolean };
}

/**
 * Loads migrations through our own dynamic import so that the same TypeScript files run under
 * tsx (npm start, npm run migrate) and under vitest; Knex's own loader cannot import .ts files.
 */
const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    const files = await readdir(migrationsDir);
    return files.filter((f) => /^\d{14}_[a-z0-9_]+\.ts$/.test(f)).sort();
  },
  getMigrationName(name) {
    return name;
  },
  async getMigration(name) {
    return (await import(pathToFileURL(path.join(migrationsDir, name)).href)) as MigrationModule;
  },
};

export async function migrateLatest(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}

export async function rollbackAll(db: Db): Promise<string[]> {
  const [, rolledBack] = (await db.migrate.rollback({ migrationSource }, true)) as [number, string[]];
  return rolledBack;
}

export async function pendingMigrations(db: Db): Promise<string[]> {
  const [, pending] = (await db.migrate.list({ migrationSource })) as [unknown, { file?: string }[] | string[]];
  return pending.map((m) => (typeof m === "string" ? m : (m.file ?? "")));
}

/** Undoes the newest applied migration (tests use it to start from the schema before it). */
export async function migrateDownOne(db: Db): Promise<string[]> {
  const [, undone] = (await db.migrate.down({ migrationSource })) as [number, string[]];
  return undone;
}
