import type { Express } from "express";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { countUsers, findUserByUsername } from "../../src/repositories/users/index.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { createTestDb, resetDb } from "../helpers/db.ts";
import { errorSummary, fieldError, h1, inputValue, isInvalid, labelText, pageText } from "../helpers/html.ts";
import { insertTestUser } from "../helpers/users.ts";
import { agentSessionCookie, sessionCookieFrom, sessionExists, sidOf } from "../helpers/sign-in.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { seedAdministrator } from "../../src/services/seed.ts";

let db: Db;
let app: Express;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(async () => {
  await db.destroy();
});
beforeEach(async () => {
  await resetDb(db);
  app = createTestApp(db);
});

const PASSWORD = "first admin passphrase 1";

/** A visitor on a fresh install, holding the setup page's CSRF token. */
async function visitor(): Promise<TestAgent> {
  const agent = new TestAgent(app);
  await agent.refreshToken("/setup");
  return agent;
}

function setupForm(changes: Record<string, string> = {}) {
  return { username: "admin", password: PASSWORD, confirmPassword: PASSWORD, ...changes };
}

describe("first run: no account yet", () => {
  it("every page leads to /setup while no account exists", async () => {
    const agent = new TestAgent(app);
    for (const url of ["/", "/login", "/profile", "/admin", "/admin/users", "/admin/users/new", "/admin/users/1", "/forgot-password", "/no-such-page"]) {
      const res = await agent.get(url);
      expect(res.status, url).toBe(303);
      expect(res.headers.location, url).toBe("/setup");
    }
    const json = await agent.http.get("/admin/users").set("Accept", "application/json");
    expect(json.status).toBe(503);
    expect(json.body.error.code).toBe("setup_required");
    expect((await agent.http.get("/healthz")).status).toBe(200);
  });

  it("GET /setup shows the first-administrator form with the contract's labels and button", async () => {
    const res = await new TestAgent(app).get("/setup");
    expect(res.status).toBe(200);
    expect(h1(res.text)).toBe("Set up Gatehouse");
    expect(labelText(res.text, "username")).toBe("Username");
    expect(labelText(res.text, "password")).toBe("Password");
    expect(labelText(res.text, "confirmPassword")).toBe("Confirm password");
    expect(res.text).toMatch(/<button type="submit">Create administrator<\/button>/);
  });

  it("POST /setup creates the first administrator and signs them in under a new session id (S1), audited", async () => {
    const agent = await visitor();
    const before = agentSessionCookie(agent);
    const res = await agent.post("/setup", setupForm({ username: "  Chief " }));
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/");
    const after = sessionCookieFrom(res);
    expect(after).toBeDefined();
    expect(sidOf(after!)).not.toBe(sidOf(before));
    expect(await sessionExists(db, sidOf(before))).toBe(false);

    const chief = await findUserByUsername(db, "chief");
    expect(chief).toMatchObject({ username: "Chief", isAdmin: true, disabled: false, authSource: "local" });
    const home = await agent.get("/");
    expect(home.status).toBe(200);
    expect(pageText(home.text)).toContain("Administrator Chief created. You are signed in.");
    expect((await agent.get("/admin/users")).status).toBe(200);

    const [created] = await listAuditEvents(db, { action: "setup.administrator_created" });
    expect(created).toMatchObject({ targetId: String(chief?.id), targetLabel: "Chief" });
    expect(created?.details.changes).toMatchObject({ isAdmin: { from: null, to: true }, password: { from: null, to: "------" } });
    const [signedIn] = await listAuditEvents(db, { action: "sign_in.succeeded" });
    expect(signedIn).toMatchObject({ actorId: chief?.id, targetId: String(chief?.id), details: { method: "setup" } });
    expect(JSON.stringify([created, signedIn])).not.toContain(PASSWORD);
    expect((await findUserByUsername(db, "chief"))?.lastLoginAt).not.toBeNull();

    // The password works for the next sign-in too.
    const again = await signedInAgent(app, { username: "chief", password: PASSWORD });
    expect((await again.get("/admin/users")).status).toBe(200);
  });

  it("an administrator seeded from the environment is not signed in by anyone", async () => {
    await seedAdministrator(db, { username: "seeded", password: PASSWORD }, createLogger("silent"));
    expect(await listAuditEvents(db, { action: "sign_in.succeeded" })).toEqual([]);
    expect((await findUserByUsername(db, "seeded"))?.lastLoginAt ?? null).toBeNull();
    const res = await new TestAgent(app).get("/admin/users");
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/login/);
  });

  it("bad input is a 422 naming the field; the username is kept, never a password", async () => {
    const agent = await visitor();
    const cases: [Record<string, string>, string, string][] = [
      [{ username: "   " }, "username", "Enter a username."],
      [{ username: "a".repeat(65) }, "username", "Username must be at most 64 characters; this one has 65."],
      [{ username: "root\u202Eevil" }, "username", "Username cannot contain control, invisible or direction-changing characters."],
      [{ password: "short-pw", confirmPassword: "short-pw" }, "password", "Password must be at least 12 characters; this one has 8."],
      [{ password: "password1234", confirmPassword: "password1234" }, "password", "This password is too common or too easy to guess; choose another."],
      [{ username: "operator", password: "operator-2024-xyz", confirmPassword: "operator-2024-xyz" }, "password", "Password cannot contain your username."],
      [{ confirmPassword: `${PASSWORD}?` }, "confirmPassword", "Confirm password does not match the password; type the same password twice."],
    ];
    for (const [changes, field, message] of cases) {
      const res = await agent.post("/setup", setupForm(changes));
      expect(res.status, JSON.stringify(changes)).toBe(422);
      expect(isInvalid(res.text, field), JSON.stringify(changes)).toBe(true);
      expect(fieldError(res.text, field), JSON.stringify(changes)).toBe(message);
      expect(errorSummary(res.text)?.links).toContain(field);
      expect(inputValue(res.text, "username")).toBe(changes.username ?? "admin");
      expect(res.text).not.toContain(changes.password ?? PASSWORD);
    }
    expect(await countUsers(db)).toBe(0);
  });

  it("A4: extra fields such as role or is_admin are a 400 and create nothing", async () => {
    const agent = await visitor();
    const extras: Record<string, string>[] = [{ role: "user" }, { is_admin: "0" }, { isAdmin: "" }, { id: "7" }];
    for (const extra of extras) {
      const res = await agent.post("/setup", setupForm(extra));
      expect(res.status, JSON.stringify(extra)).toBe(400);
    }
    expect(await countUsers(db)).toBe(0);
  });

  it("two concurrent POST /setup create exactly one account", async () => {
    const first = await visitor();
    const second = await visitor();
    const results = await Promise.all([
      first.post("/setup", setupForm({ username: "alpha" })),
      second.post("/setup", setupForm({ username: "bravo" })),
    ]);
    // The one who created the account is signed in; the other is sent to sign in.
    expect(results.map((res) => [res.status, res.headers.location]).sort()).toEqual([
      [303, "/"],
      [303, "/login"],
    ]);
    expect(await countUsers(db)).toBe(1);
    expect(await listAuditEvents(db, { action: "setup.administrator_created" })).toHaveLength(1);
  });

  it("two concurrent POST /setup with the same name create exactly one account", async () => {
    const first = await visitor();
    const second = await visitor();
    await Promise.all([first.post("/setup", setupForm({ username: "alpha" })), second.post("/setup", setupForm({ username: "ALPHA" }))]);
    expect(await countUsers(db)).toBe(1);
  });
});

describe("after setup", () => {
  it("GET /setup redirects to /login, also for a visitor who loaded the form before", async () => {
    const early = await visitor();
    await insertTestUser(db, { username: "first", isAdmin: true });
    const res = await new TestAgent(app).get("/setup");
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/login");
    expect((await early.get("/setup")).headers.location).toBe("/login");
    expect((await early.get("/login")).status).toBe(200);
  });

  it("POST /setup cannot create a second administrator, with good input or bad", async () => {
    const early = await visitor();
    await insertTestUser(db, { username: "first", isAdmin: true });
    for (const form of [
      setupForm({ username: "second" }),
      setupForm({ username: "first" }),
      setupForm({ username: "", password: "x", confirmPassword: "y" }),
      setupForm({ username: "third", is_admin: "1" }),
    ]) {
      const res = await early.post("/setup", form);
      expect(res.status, JSON.stringify(form)).toBe(303);
      expect(res.headers.location, JSON.stringify(form)).toBe("/login");
    }
    const later = new TestAgent(app);
    await later.refreshToken("/login");
    const res = await later.post("/setup", setupForm({ username: "fourth" }));
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/login");
    expect(await countUsers(db)).toBe(1);
    expect(await listAuditEvents(db, { action: "setup.administrator_created" })).toHaveLength(0);
  });

  it("the other pages no longer lead to /setup", async () => {
    await insertTestUser(db, { username: "first", isAdmin: true });
    const agent = new TestAgent(app);
    expect((await agent.get("/login")).status).toBe(200);
    expect((await agent.get("/")).headers.location).toBe("/login");
  });
});
