import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { IP_POLICY } from "../../src/services/sign-in.ts";
import { TestAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { buildAdmin } from "../helpers/factories.ts";

let db: Db;
useTestDb(
  (created) => {
    db = created;
  },
  { reset: "once" },
);

describe("L6: the per-address limit says when to come back", () => {
  it("answers Retry-After with the time left in the address's window, and says it in minutes", async () => {
    await buildAdmin(db, { username: "root" });
    const agent = new TestAgent(createTestApp(db));
    // 30 failures counted for this address, the first of them 10 minutes ago: 5 minutes of the window remain.
    await db("login_failures").insert({
      scope: "ip",
      key: "127.0.0.1",
      failures: IP_POLICY.maxFailures,
      window_started_at: db.raw("now() - interval '10 minutes'"),
    });
    const res = await agent.post("/login", { username: "root", password: "whatever it is here" });
    expect(res.status).toBe(429);
    const seconds = Number(res.headers["retry-after"]);
    expect(seconds).toBeGreaterThan(240);
    expect(seconds).toBeLessThanOrEqual(300);
    expect(res.text).toContain("Try again in 5 minutes.");
  });
});
