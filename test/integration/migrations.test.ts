import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { migrateDownOne, migrateLatest, pendingMigrations, rollbackAll } from "../../src/db/migrate.ts";
import { nameSkeleton } from "../../src/lib/fields.ts";
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

describe("the email and two-factor migration", () => {
  it("keeps a shared email address on the oldest account only, and records each address it removed", async () => {
    const db = await createTestDb({ embedded: !usingPostgres });
    try {
      // Down, one migration at a time, to just before the email and two-factor migration.
      const undone: string[] = [];
      while (!undone.includes("20261128120000_create_email_and_two_factor.ts")) {
        const step = await migrateDownOne(db);
        expect(step).toHaveLength(1);
        undone.push(...step);
      }
      const insert = (username: string, email: string | null) =>
        db("users").insert({ username, username_key: username, email, email_verified: true }).returning("id");
      const [first] = await insert("first", "Shared@Example.com");
      const [second] = await insert("second", "shared@example.com");
      await insert("third", "other@example.com");
      await insert("fourth", null);
      await migrateLatest(db);

      const rows = await db("users").select("username", "email", "email_verified").orderBy("id");
      expect(rows).toEqual([
        { username: "first", email: "Shared@Example.com", email_verified: true },
        { username: "second", email: null, email_verified: false },
        { username: "third", email: "other@example.com", email_verified: true },
        { username: "fourth", email: null, email_verified: true },
      ]);
      const events = await db("audit_events").select("action", "target_id", "details").where({ action: "user.email_removed_as_duplicate" });
      expect(events).toHaveLength(1);
      expect(events[0]?.target_id).toBe(String(second.id));
      expect(events[0]?.details).toEqual({ changes: { email: { from: "shared@example.com", to: null } } });
      expect(first.id).not.toBe(second.id);
      await expect(db("users").insert({ username: "fifth", username_key: "fifth", email: "OTHER@example.com" })).rejects.toThrow();
    } finally {
      await db.destroy();
    }
  });
});

describe("the username skeleton migration", () => {
  it("gives every account the skeleton of its name; of accounts that already look alike only the oldest keeps it, and the trail names the others", async () => {
    const db = await createTestDb({ embedded: !usingPostgres });
    try {
      const undone: string[] = [];
      while (!undone.includes("20261204110000_add_username_skeletons.ts")) {
        const step = await migrateDownOne(db);
        expect(step).toHaveLength(1);
        undone.push(...step);
      }
      const insert = async (username: string) => {
        const [row] = await db("users").insert({ username, username_key: username.toLowerCase() }).returning("id");
        return Number(row.id);
      };
      const admin = await insert("admin");
      const cyrillic = await insert("\u0430dmin");
      const greek = await insert("\u03b1dmin");
      await insert("alice");
      await insert("Bob");
      await migrateLatest(db);

      const rows = await db("users").select("username", "username_skeleton").orderBy("id");
      expect(rows).toEqual([
        { username: "admin", username_skeleton: nameSkeleton("admin") },
        { username: "\u0430dmin", username_skeleton: null },
        { username: "\u03b1dmin", username_skeleton: null },
        { username: "alice", username_skeleton: nameSkeleton("alice") },
        { username: "Bob", username_skeleton: nameSkeleton("bob") },
      ]);
      const events = await db("audit_events").select("target_id", "details").where({ action: "user.username_lookalike_found" }).orderBy("target_id");
      expect(events).toEqual([
        { target_id: String(cyrillic), details: { lookalikeOf: { id: admin, username: "admin" } } },
        { target_id: String(greek), details: { lookalikeOf: { id: admin, username: "admin" } } },
      ]);
      // From now on the index keeps look-alikes out.
      await expect(db("users").insert({ username: "ADM\u0399N", username_key: "adm\u03b9n", username_skeleton: nameSkeleton("admin") })).rejects.toThrow();
    } finally {
      await db.destroy();
    }
  });
});
