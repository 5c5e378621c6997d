import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { migrateLatest, pendingMigrations, rollbackAll } from "../../src/db/migrate.ts";
import { createTestDb, usingPostgres } from "../helpers/db.ts";

async function tableNames(db: Db): Promise<string[]> {
  const result = await db.raw("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename");
  return (result.rows as { tablename: string }[]).map((r) => r.tablename).filter((t) => !t.startsWith("knex_migrations"));
}

const backends = [{ name: "PGlite", embedded: true }, ...(usingPostgres ? [{ name: "Postgres", embedded: false }] : [])];

describe.each(backends)("migrations on $name", ({ embedded }) => {
  it("go latest → roll back all → latest again, leaving the same schema", async () => {
    const db = await createTestDb({ embedded });
    try {
      const before = await tableNames(db);
      expect(before).toEqual(expect.arrayContaining(["users", "sessions", "audit_events", "login_failures"]));
      expect((await rollbackAll(db)).length).toBeGreaterThan(0);
      expect(await tableNames(db)).toEqual([]);
      await migrateLatest(db);
      expect(await tableNames(db)).toEqual(before);
      expect(await pendingMigrations(db)).toEqual([]);
    } finally {
      await db.destroy();
    }
  });
});
