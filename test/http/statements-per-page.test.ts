import type { Knex } from "knex";
import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { saveGeneralSettings } from "../../src/services/general-settings.ts";
import { signedInAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { grant, makeSystem } from "../helpers/access.ts";
import { useTestDb } from "../helpers/db.ts";
import { pageText } from "../helpers/html.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

let db: Db;
useTestDb((d) => {
  db = d;
});

/** The SQL statements `db` runs while `work` does. */
async function statementsDuring(work: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const listener = (query: Knex.Sql) => seen.push(query.sql);
  db.on("query", listener);
  try {
    await work();
  } finally {
    db.off("query", listener);
  }
  return seen;
}

// A round trip to Postgres is the largest single cost of a signed-in page (bench:http): these pin how many it takes.
describe("statements per signed-in page", () => {
  it("/systems for a member: the session with its account and settings, then the page's systems", async () => {
    const user = await insertTestUser(db, { username: "member" });
    const system = await makeSystem(db, { name: "nas-1" });
    await grant(db, { kind: "user", id: user.id }, { kind: "system", id: system.id });
    const app = createTestApp(db);
    const agent = await signedInAgent(app, user);
    // The first visit also remembers the page (for a return after expiry); a reload writes nothing more than the idle
    // clock, which the statement reading the session moves (src/repositories/sessions.ts), so idle expiry is exact.
    await agent.get("/systems").expect(200);
    let text = "";
    const statements = await statementsDuring(async () => {
      text = pageText((await agent.get("/systems").expect(200)).text);
    });
    expect(text).toContain("nas-1");
    expect(statements, statements.join("\n")).toHaveLength(2);
    expect(statements[0]).toMatch(/UPDATE sessions s[\s\S]*LEFT JOIN users u/);
  });

  it("an administrator's page reads the General settings once, with the session (the 2FA rule and the timeouts)", async () => {
    const admin = await insertTestAdmin(db, { username: "boss" });
    const app = createTestApp(db);
    const agent = await signedInAgent(app, admin);
    const statements = await statementsDuring(() => agent.get("/admin/users").expect(200));
    expect(statements.filter((sql) => /\bsettings\b/.test(sql))).toHaveLength(1);
  });

  it("what is read with the session is as fresh as the request: a settings change made elsewhere counts at the next page", async () => {
    const admin = await insertTestAdmin(db, { username: "boss" });
    const app = createTestApp(db);
    const agent = await signedInAgent(app, admin);
    await agent.get("/admin/users").expect(200);
    // As another instance would: straight to the database, with nothing of this process told.
    await saveGeneralSettings(db, { id: admin.id, username: "boss", clientIp: null, requestId: null, isAdmin: true }, true, 0, { requireAdminTwoFactor: true });
    const res = await agent.get("/admin/users");
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/profile#two-factor");
  });
});
