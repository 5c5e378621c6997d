import type { Express } from "express";
import { beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { createUser } from "../../src/services/accounts.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { pageText } from "../helpers/html.ts";
import { attemptSignIn, auditEvents, failureRow, presetFailures } from "../helpers/sign-in.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/** The administrator's "Issue temporary password" on a user's page (docs/domain.md, "Passwords and reset", break-glass). */

let db: Db;
let app: Express;

useTestDb((d) => {
  db = d;
});

beforeEach(() => {
  app = createTestApp(db);
});

const TEMPORARY = /\b([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})\b/;

async function issue(agent: TestAgent, userId: number) {
  await agent.refreshToken(`/admin/users/${userId}`);
  return agent.post(`/admin/users/${userId}/temporary-password`);
}

describe("Issue temporary password", () => {
  it("shows a temporary password once, lifts the lock, is audited without the password, and leads to choosing a new one", async () => {
    const admin = await insertTestAdmin(db, { username: "root" });
    const pat = await insertTestUser(db, { username: "pat" });
    await presetFailures(db, "account", "pat", 20);
    await db("login_failures").where({ scope: "account", key: "pat" }).update({ blocked_until: db.raw("now() + interval '1 hour'") });
    const agent = await signedInAgent(app, admin);

    const page = await agent.get(`/admin/users/${pat.id}`);
    expect(pageText(page.text)).toContain("Issue temporary password");
    const res = await issue(agent, pat.id);
    expect(res.status).toBe(200);
    const password = TEMPORARY.exec(pageText(res.text))?.[1];
    expect(password).toBeDefined();
    expect(await failureRow(db, "account", "pat")).toBeUndefined();
    const [event] = await auditEvents(db, "password.temporary_issued");
    expect(event?.targetLabel).toBe("pat");
    expect(JSON.stringify(event?.details)).not.toContain(password as string);
    // Shown once: the user's page does not show it again.
    expect((await agent.get(`/admin/users/${pat.id}`)).text).not.toContain(password as string);

    const person = new TestAgent(app);
    const signIn = await attemptSignIn(person, "pat", password as string);
    expect(signIn.status).toBe(303);
    expect(signIn.headers.location).toBe("/login/new-password");
    // Single use.
    expect((await attemptSignIn(new TestAgent(app), "pat", password as string)).status).toBe(401);
    // The old password still works until a new one is chosen.
    expect((await attemptSignIn(new TestAgent(app), "pat", pat.password)).status).toBe(303);
  });

  it("is not offered for one's own account or an LDAP account, and refused if posted anyway", async () => {
    const admin = await insertTestAdmin(db, { username: "root" });
    const { user: directoryUser } = await createUser(db, SYSTEM_ACTOR, {
      details: { username: "dora", fullName: "", title: "", email: null, phone: "", isAdmin: false, authSource: "ldap" },
      password: undefined,
    });
    const agent = await signedInAgent(app, admin);
    expect(pageText((await agent.get(`/admin/users/${admin.id}`)).text)).not.toContain("Issue temporary password");
    expect(pageText((await agent.get(`/admin/users/${directoryUser.id}`)).text)).not.toContain("Issue temporary password");
    expect((await issue(agent, admin.id)).status).toBe(403);
    const ldap = await issue(agent, directoryUser.id);
    expect(ldap.status).toBe(409);
    expect(pageText(ldap.text)).toContain("signs in through the directory (LDAP)");
    expect(Number((await db("password_resets").count<{ count: string }[]>("* as count"))[0]?.count)).toBe(0);
  });

  it("is for administrators only", async () => {
    const user = await insertTestUser(db, { username: "uma" });
    const other = await insertTestUser(db, { username: "pat" });
    const agent = await signedInAgent(app, user);
    await agent.refreshToken("/profile");
    expect((await agent.post(`/admin/users/${other.id}/temporary-password`)).status).toBe(403);
    expect(Number((await db("password_resets").count<{ count: string }[]>("* as count"))[0]?.count)).toBe(0);
  });
});
