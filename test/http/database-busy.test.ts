import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { createTestApp } from "../helpers/app.ts";
import { signedInAgent } from "../helpers/agent.ts";
import { useTestDb, usingPostgres } from "../helpers/db.ts";
import { buildAdmin } from "../helpers/factories.ts";

let db: Db;
useTestDb(
  (created) => {
    db = created;
  },
  { reset: "once" },
);

/** docs/security.md §4 "Lock waits and pool exhaustion": lock_timeout, then 503 "try again"; other pages still serve. */
describe.skipIf(!usingPostgres)("a table locked by someone else (Postgres only)", () => {
  it("answers 503 after the lock timeout instead of hanging or a 500, and other pages still serve", async () => {
    const admin = await buildAdmin(db, { username: "root" });
    const agent = await signedInAgent(createTestApp(db), admin);
    const blocker = await db.transaction();
    try {
      await blocker.raw("LOCK TABLE teams IN ACCESS EXCLUSIVE MODE");
      const res = await agent.post("/admin/teams", { name: "blocked", description: "" });
      expect(res.status).toBe(503);
      expect(res.text).toContain("The database is busy. Try again in a moment.");
      expect((await agent.get("/profile")).status).toBe(200);
    } finally {
      await blocker.rollback();
    }
    expect((await agent.post("/admin/teams", { name: "blocked", description: "" })).status).toBe(303);
  });
});
