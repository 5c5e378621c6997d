import type { Express } from "express";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { nameKey } from "../../src/lib/fields.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { addFailure } from "../../src/repositories/login-failures.ts";
import { countUserSessions } from "../../src/repositories/sessions.ts";
import { countUsers, findUserById, findUserByUsername, setDisabled } from "../../src/repositories/users/index.ts";
import { deleteUser, LAST_ADMIN_MESSAGE, setUserDisabled, updateUser } from "../../src/services/accounts.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { ACCOUNT_POLICY, accountWaitSeconds } from "../../src/services/passwords.ts";
import type { User } from "../../src/types/user.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { createTestDb, resetDb } from "../helpers/db.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import {
  errorSummary,
  fieldError,
  h1,
  hasAdminNavigation,
  inputValue,
  isInvalid,
  labelText,
  pageText,
  tableRows,
} from "../helpers/html.ts";
import { configureSmtp, TestMailServer } from "../helpers/mail.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

let db: Db;
let app: Express;
let mailServer: TestMailServer;
beforeAll(async () => {
  db = await createTestDb();
  mailServer = await TestMailServer.start();
});
afterAll(async () => {
  await db.destroy();
  await mailServer.stop();
});
beforeEach(async () => {
  await resetDb(db);
  app = createTestApp(db);
});

const NEW_PASSWORD = "a very long password 1";

/** An administrator signed in through the real login form. */
async function signedInAdmin(username = "root") {
  const admin = await insertTestAdmin(db, { username });
  const agent = await signedInAgent(app, admin);
  return { admin, agent };
}

async function reload(user: { id: number }): Promise<User> {
  const current = await findUserById(db, user.id);
  if (!current) throw new Error(`user ${user.id} is gone`);
  return current;
}

/** The stored record of a test account (without the password the test keeps beside it). */
function asStored(user: User & { password?: string }): User {
  const { password: _password, ...stored } = user;
  return stored;
}

/** The edit form of the user page, filled in with the stored values, then `changes` on top (undefined: left out). */
async function editForm(user: { id: number }, changes: Record<string, string | undefined> = {}): Promise<Record<string, string>> {
  const current = await reload(user);
  const form: Record<string, string | undefined> = {
    version: String(current.version),
    username: current.username,
    fullName: current.fullName,
    title: current.title,
    email: current.email ?? "",
    phone: current.phone,
    ...(current.isAdmin ? { isAdmin: "on" } : {}),
    authSource: current.authSource,
    ...changes,
  };
  return Object.fromEntries(Object.entries(form).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/**
 * The password an administrator set signs in, to the page where the person chooses their own (it is temporary:
 * docs/domain.md, "Passwords and reset").
 */
async function expectPasswordAccepted(username: string, password: string): Promise<void> {
  const agent = new TestAgent(app);
  await agent.refreshToken("/login");
  const res = await agent.post("/login", { username, password });
  expect(res.headers.location).toBe("/login/new-password");
}

function createForm(changes: Record<string, string> = {}): Record<string, string> {
  return { username: "newbie", fullName: "New Person", password: NEW_PASSWORD, confirmPassword: NEW_PASSWORD, ...changes };
}

/** Sends a raw JSON body (lone surrogates stay lone) as a JSON client, with the agent's CSRF token. */
async function postJson(agent: TestAgent, url: string, fields: Record<string, string>) {
  const token = await agent.refreshToken("/profile");
  return agent.http
    .post(url)
    .set("Accept", "application/json")
    .set("Content-Type", "application/json")
    .send(JSON.stringify({ _csrf: token, ...fields }));
}

async function lockAccount(user: User): Promise<void> {
  for (let i = 0; i < ACCOUNT_POLICY.lockAt; i++)
    await addFailure(db, "account", nameKey(user.username), ACCOUNT_POLICY.windowSeconds, accountWaitSeconds);
}

async function auditCount(): Promise<number> {
  return (await listAuditEvents(db, { limit: 10_000 })).length;
}

interface RouteCase {
  name: string;
  method: "GET" | "POST";
  path: (target: User) => string;
  body?: (target: User) => Record<string, string>;
}

const ROUTES: RouteCase[] = [
  { name: "GET /admin/users", method: "GET", path: () => "/admin/users" },
  { name: "GET /admin/users/new", method: "GET", path: () => "/admin/users/new" },
  { name: "POST /admin/users", method: "POST", path: () => "/admin/users", body: () => createForm({ username: "intruder" }) },
  { name: "GET /admin/users/:id", method: "GET", path: (t) => `/admin/users/${t.id}` },
  {
    name: "POST /admin/users/:id",
    method: "POST",
    path: (t) => `/admin/users/${t.id}`,
    body: (t) => ({ version: String(t.version), username: t.username, fullName: "Changed", isAdmin: "on" }),
  },
  { name: "GET /admin/users/:id/delete", method: "GET", path: (t) => `/admin/users/${t.id}/delete` },
  { name: "POST /admin/users/:id/delete", method: "POST", path: (t) => `/admin/users/${t.id}/delete`, body: (t) => ({ version: String(t.version) }) },
  { name: "POST /admin/users/:id/disable", method: "POST", path: (t) => `/admin/users/${t.id}/disable`, body: (t) => ({ version: String(t.version) }) },
  { name: "POST /admin/users/:id/enable", method: "POST", path: (t) => `/admin/users/${t.id}/enable`, body: (t) => ({ version: String(t.version) }) },
  { name: "POST /admin/users/:id/unlock", method: "POST", path: (t) => `/admin/users/${t.id}/unlock`, body: (t) => ({ version: String(t.version) }) },
];

function send(agent: TestAgent, route: RouteCase, target: User) {
  return route.method === "GET" ? agent.get(route.path(target)) : agent.post(route.path(target), route.body?.(target) ?? {});
}

describe("POST /admin/users", () => {
  it("sends an anonymous visitor to sign in", async () => {
    await buildAdmin(db);
    const agent = new TestAgent(createTestApp(db));
    const res = await agent.get("/admin/users/new");
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/login?returnTo=%2Fadmin%2Fusers%2Fnew");
  });

  it("refuses a user with 403", async () => {
    await buildAdmin(db);
    const user = await buildUser(db);
    const agent = await signedInAgent(createTestApp(db), user);
    const res = await agent.post("/admin/users", { username: "mallory", password: "a very long password 1", confirmPassword: "a very long password 1" });
    expect(res.status).toBe(403);
    expect(await findUserByUsername(db, "mallory")).toBeUndefined();
  });

  it("creates the user for an administrator", async () => {
    const admin = await buildAdmin(db);
    const agent = await signedInAgent(createTestApp(db), admin);
    const res = await agent.post("/admin/users", {
      username: "bob",
      fullName: "Bob Builder",
      password: "a very long password 1",
      confirmPassword: "a very long password 1",
    });
    expect(res.status).toBe(303);
    const bob = await findUserByUsername(db, "bob");
    expect(bob?.fullName).toBe("Bob Builder");
    expect(res.headers.location).toBe(`/admin/users/${bob?.id}`);
  });

  it("re-renders with 422 naming the field and keeping the input, never the password", async () => {
    const admin = await buildAdmin(db);
    const agent = await signedInAgent(createTestApp(db), admin);
    const res = await agent.post("/admin/users", {
      username: "carol",
      fullName: "Carol <b>",
      email: "not-an-email",
      password: "short",
      confirmPassword: "short",
    });
    expect(res.status).toBe(422);
    expect(res.text).toContain("Enter an email address like name@example.com.");
    expect(res.text).toContain('value="Carol &lt;b&gt;"');
    expect(res.text).not.toContain('value="short"');
  });
});

describe("A3: every /admin/users route for anonymous visitors, users and administrators", () => {
  it("A3: an anonymous visitor is sent to /login by every route (GETs with returnTo), and nothing changes", async () => {
    await insertTestAdmin(db, { username: "root" });
    const target = await insertTestUser(db, { username: "target" });
    const agent = new TestAgent(app);
    await agent.refreshToken("/login");
    for (const route of ROUTES) {
      const res = await send(agent, route, target);
      expect(res.status, route.name).toBe(303);
      expect(res.headers.location, route.name).toBe(
        route.method === "GET" ? `/login?returnTo=${encodeURIComponent(route.path(target))}` : "/login",
      );
    }
    expect(await reload(target)).toEqual(asStored(target));
    expect(await countUsers(db)).toBe(2);
  });

  it("A3: a signed-in user gets 403 from every route, with no administration navigation, and nothing changes", async () => {
    await insertTestAdmin(db, { username: "root" });
    const target = await insertTestUser(db, { username: "target" });
    const user = await insertTestUser(db, { username: "plain" });
    const agent = await signedInAgent(app, user);
    const auditBefore = await auditCount();
    for (const route of ROUTES) {
      const res = await send(agent, route, target);
      expect(res.status, route.name).toBe(403);
      expect(hasAdminNavigation(res.text), route.name).toBe(false);
      expect(res.text, route.name).not.toContain("target");
    }
    expect(await reload(target)).toEqual(asStored(target));
    expect(await countUsers(db)).toBe(3);
    expect(await auditCount()).toBe(auditBefore);
    // The user's own pages still work and show no administration either.
    const home = await agent.get("/");
    expect(home.status).toBe(200);
    expect(hasAdminNavigation(home.text)).toBe(false);
  });

  const adminCases: { route: string; run: (agent: TestAgent, target: User) => Promise<void> }[] = [
    {
      route: "GET /admin/users",
      run: async (agent, target) => {
        const res = await agent.get("/admin/users");
        expect(res.status).toBe(200);
        expect(h1(res.text)).toBe("Users");
        expect(res.text).toContain(`href="/admin/users/${target.id}"`);
        expect(hasAdminNavigation(res.text)).toBe(true);
      },
    },
    {
      route: "GET /admin/users/new",
      run: async (agent) => {
        const res = await agent.get("/admin/users/new");
        expect(res.status).toBe(200);
        for (const [id, label] of [
          ["username", "Username"],
          ["fullName", "Full name"],
          ["title", "Title"],
          ["email", "Email"],
          ["phone", "Phone"],
          ["password", "Password"],
          ["confirmPassword", "Confirm password"],
          ["authSource", "Authentication"],
        ])
          expect(labelText(res.text, id ?? "")).toBe(label);
        expect(labelText(res.text, "isAdmin")).toBe("Administrator");
        expect(res.text).toMatch(/<button type="submit">Create user<\/button>/);
      },
    },
    {
      route: "POST /admin/users",
      run: async (agent) => {
        await configureSmtp(db, mailServer);
        const res = await agent.post("/admin/users", createForm({ username: "newbie", email: "New@Example.COM" }));
        expect(res.status).toBe(303);
        const created = await findUserByUsername(db, "newbie");
        expect(created).toMatchObject({ fullName: "New Person", email: "New@example.com", isAdmin: false, authSource: "local" });
        expect(res.headers.location).toBe(`/admin/users/${created?.id}`);
        const page = await agent.get(res.headers.location ?? "");
        expect(page.text).toContain("User newbie created.");
        expect(page.text).toContain("A confirmation code was sent to New@example.com.");
        expect((await mailServer.waitFor((m) => m.envelopeTo.includes("New@example.com"))).subject).toBe("[AUTH] Gatehouse verification code");
      },
    },
    {
      route: "GET /admin/users/:id",
      run: async (agent, target) => {
        const res = await agent.get(`/admin/users/${target.id}`);
        expect(res.status).toBe(200);
        expect(h1(res.text)).toBe("User target");
        expect(inputValue(res.text, "username")).toBe("target");
        expect(inputValue(res.text, "version")).toBe(String(target.version));
        expect(res.text).toMatch(/<button type="submit">Save changes<\/button>/);
        expect(res.text).toMatch(/<button type="reset"[^>]*>Reset form<\/button>/);
        expect(res.text).toMatch(/<a href="\/admin\/users\/\d+\/delete"[^>]*>Delete<\/a>/);
      },
    },
    {
      route: "POST /admin/users/:id",
      run: async (agent, target) => {
        const res = await agent.post(`/admin/users/${target.id}`, await editForm(target, { fullName: "Target Changed", isAdmin: "on" }));
        expect(res.status).toBe(303);
        expect(res.headers.location).toBe(`/admin/users/${target.id}`);
        expect(await reload(target)).toMatchObject({ fullName: "Target Changed", isAdmin: true, version: target.version + 1 });
      },
    },
    {
      route: "GET /admin/users/:id/delete",
      run: async (agent, target) => {
        const res = await agent.get(`/admin/users/${target.id}/delete`);
        expect(res.status).toBe(200);
        expect(h1(res.text)).toBe("Delete user target?");
        expect(res.text).toContain("<title>Delete user target? — Gatehouse</title>");
        expect(res.text).toMatch(/<button type="submit" class="danger">Delete user<\/button>/);
        expect(await reload(target)).toEqual(asStored(target));
      },
    },
    {
      route: "POST /admin/users/:id/delete",
      run: async (agent, target) => {
        const res = await agent.post(`/admin/users/${target.id}/delete`, { version: String(target.version) });
        expect(res.status).toBe(303);
        expect(res.headers.location).toBe("/admin/users");
        expect(await findUserById(db, target.id)).toBeUndefined();
        expect((await agent.get("/admin/users")).text).toContain("User target deleted.");
      },
    },
    {
      route: "POST /admin/users/:id/disable",
      run: async (agent, target) => {
        const res = await agent.post(`/admin/users/${target.id}/disable`, { version: String(target.version) });
        expect(res.status).toBe(303);
        expect(res.headers.location).toBe(`/admin/users/${target.id}`);
        expect((await reload(target)).disabled).toBe(true);
      },
    },
    {
      route: "POST /admin/users/:id/enable",
      run: async (agent, target) => {
        const disabled = await setDisabled(db, target.id, target.version, true);
        const res = await agent.post(`/admin/users/${target.id}/enable`, { version: String(disabled?.version) });
        expect(res.status).toBe(303);
        expect(res.headers.location).toBe(`/admin/users/${target.id}`);
        expect((await reload(target)).disabled).toBe(false);
      },
    },
    {
      route: "POST /admin/users/:id/unlock",
      run: async (agent, target) => {
        await lockAccount(target);
        const locked = await agent.get(`/admin/users/${target.id}`);
        expect(locked.text).toContain("sign-in locked until");
        expect(locked.text).toMatch(/<button type="submit" class="secondary">Unlock sign-in<\/button>/);
        const res = await agent.post(`/admin/users/${target.id}/unlock`, { version: String(target.version) });
        expect(res.status).toBe(303);
        expect(res.headers.location).toBe(`/admin/users/${target.id}`);
        const page = await agent.get(`/admin/users/${target.id}`);
        expect(page.text).toContain("User target can sign in again.");
        expect(page.text).not.toContain("sign-in locked until");
        // The lifted lock lets the user in with the right password.
        await signedInAgent(app, { username: "target", password: (target as User & { password: string }).password });
      },
    },
  ];

  it.each(adminCases)("A3: an administrator succeeds on $route", async ({ run }) => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target" });
    await run(agent, target);
  });
});

describe("bad input on each /admin/users route: 400/422 naming the field, typed values kept, never a password", () => {
  it("POST /admin/users: the error summary links to each bad field, which is marked aria-invalid with its message", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.post("/admin/users", {
      username: "   ",
      fullName: "Kept Name",
      title: "Kept title",
      email: "kept@",
      phone: "+1 555 0100",
      isAdmin: "on",
      password: "secret-typed-password-1",
      confirmPassword: "secret-typed-password-1",
    });
    expect(res.status).toBe(422);
    const summary = errorSummary(res.text);
    expect(summary?.links).toEqual(expect.arrayContaining(["username", "email"]));
    expect(isInvalid(res.text, "username")).toBe(true);
    expect(fieldError(res.text, "username")).toBe("Enter a username.");
    expect(isInvalid(res.text, "email")).toBe(true);
    expect(fieldError(res.text, "email")).toContain("Enter an email address");
    expect(isInvalid(res.text, "fullName")).toBe(false);
    expect(inputValue(res.text, "fullName")).toBe("Kept Name");
    expect(inputValue(res.text, "title")).toBe("Kept title");
    expect(inputValue(res.text, "email")).toBe("kept@");
    expect(inputValue(res.text, "phone")).toBe("+1 555 0100");
    expect(res.text).toMatch(/<input id="isAdmin"[^>]*checked/);
    expect(res.text).not.toContain("secret-typed-password-1");
    expect(inputValue(res.text, "password")).toBeUndefined();
    expect(await countUsers(db)).toBe(1);
  });

  it("POST /admin/users: a local account without a password is a 422 naming Password", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.post("/admin/users", createForm({ password: "", confirmPassword: "" }));
    expect(res.status).toBe(422);
    expect(isInvalid(res.text, "password")).toBe(true);
    expect(fieldError(res.text, "password")).toBe("Enter a password for a local account.");
    expect(inputValue(res.text, "fullName")).toBe("New Person");
  });

  it("POST /admin/users/:id: 422 on the user page, the edit keeps what was typed", async () => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target", fullName: "Old Name" });
    const res = await agent.post(
      `/admin/users/${target.id}`,
      await editForm(target, { username: "", fullName: "Typed Name", password: "typed-secret-password-9", confirmPassword: "typed-secret-password-9" }),
    );
    expect(res.status).toBe(422);
    expect(h1(res.text)).toBe("User target");
    expect(isInvalid(res.text, "username")).toBe(true);
    expect(fieldError(res.text, "username")).toBe("Enter a username.");
    expect(inputValue(res.text, "fullName")).toBe("Typed Name");
    expect(res.text).not.toContain("typed-secret-password-9");
    expect(await reload(target)).toEqual(asStored(target));
  });

  it.each(["delete", "disable", "enable", "unlock"])("POST /admin/users/:id/%s with a missing or broken version: 400/422 naming it, nothing changes", async (action) => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target" });
    const bodies: Record<string, string | string[]>[] = [{}, { version: "abc" }, { version: "0" }, { version: "99999999999999999999" }, { version: ["1", "2"] }];
    for (const body of bodies) {
      const res = await agent.post(`/admin/users/${target.id}/${action}`, body);
      expect([400, 422], JSON.stringify(body)).toContain(res.status);
      expect(fieldError(res.text, "version") ?? errorSummary(res.text)?.text, JSON.stringify(body)).toMatch(/version/i);
    }
    expect(await reload(target)).toEqual(asStored(target));
  });
});

describe("A4: extra fields are refused by the strict schemas", () => {
  const EXTRA_FIELDS: Record<string, string> = {
    role: "admin",
    is_admin: "1",
    id: "1",
    password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
    auth_source: "ldap",
    totp_secret: "JBSWY3DPEHPK3PXP",
    created_at: "2000-01-01T00:00:00Z",
  };

  it("A4: POST /admin/users with role, is_admin, id, password_hash, auth_source, totp_secret or created_at is a 400 naming the field; nothing is created", async () => {
    const { agent } = await signedInAdmin();
    for (const [field, value] of Object.entries(EXTRA_FIELDS)) {
      const res = await agent.post("/admin/users", createForm({ username: `extra_${field}`, [field]: value }));
      expect(res.status, field).toBe(400);
      expect(errorSummary(res.text)?.text, field).toContain(`${field} is not a field of this form.`);
      expect(await findUserByUsername(db, `extra_${field}`), field).toBeUndefined();
    }
    expect(await countUsers(db)).toBe(1);
  });

  it("A4: POST /admin/users/:id with the same extra fields is a 400; nothing is assigned", async () => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target" });
    for (const [field, value] of Object.entries(EXTRA_FIELDS)) {
      const res = await agent.post(`/admin/users/${target.id}`, await editForm(target, { fullName: "Should Not Save", [field]: value }));
      expect(res.status, field).toBe(400);
      expect(errorSummary(res.text)?.text, field).toContain(`${field} is not a field of this form.`);
    }
    expect(await reload(target)).toEqual(asStored(target));
  });

  it("A4: a JSON client gets a 400 JSON error naming the extra field", async () => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target" });
    const res = await postJson(agent, `/admin/users/${target.id}`, { ...(await editForm(target)), role: "admin", is_admin: "1" });
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toMatchObject({ role: expect.any(String), is_admin: expect.any(String) });
    expect(await reload(target)).toEqual(asStored(target));
  });

  it("A4: the version, disable, enable and delete forms take nothing but the version", async () => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target" });
    for (const action of ["delete", "disable", "enable", "unlock"]) {
      const res = await agent.post(`/admin/users/${target.id}/${action}`, { version: String(target.version), is_admin: "1" });
      expect(res.status, action).toBe(400);
    }
    expect(await reload(target)).toEqual(asStored(target));
  });
});

describe("A6: at least one active administrator must remain", () => {
  it("A6: the last active administrator cannot demote, disable or delete themselves", async () => {
    const { admin, agent } = await signedInAdmin();
    await insertTestUser(db, { username: "plain" });
    const demote = await agent.post(`/admin/users/${admin.id}`, await editForm(admin, { isAdmin: undefined }));
    expect(demote.status).toBe(409);
    expect(isInvalid(demote.text, "isAdmin")).toBe(true);
    expect(pageText(demote.text)).toMatch(/administrator/i);
    const disable = await agent.post(`/admin/users/${admin.id}/disable`, { version: String(admin.version) });
    expect(disable.status).toBe(409);
    expect(pageText(disable.text)).toContain("You cannot disable your own account.");
    const remove = await agent.post(`/admin/users/${admin.id}/delete`, { version: String(admin.version) });
    expect(remove.status).toBe(409);
    expect(pageText(remove.text)).toContain("You cannot delete your own account.");
    const confirm = await agent.get(`/admin/users/${admin.id}/delete`);
    expect(pageText(confirm.text)).toContain("You cannot delete your own account.");
    expect(confirm.text).not.toContain(`action="/admin/users/${admin.id}/delete"`);
    expect(await reload(admin)).toMatchObject({ isAdmin: true, disabled: false, version: admin.version });
  });

  it("A6: the last active administrator cannot be demoted, disabled or deleted by any other caller of the account services", async () => {
    const admin = await insertTestAdmin(db, { username: "root" });
    // A disabled administrator does not count as the remaining one.
    await insertTestAdmin(db, { username: "dormant" }).then((d) => setDisabled(db, d.id, d.version, true));
    const details = { username: admin.username, fullName: "", title: "", email: null, phone: "", isAdmin: false, authSource: "local" as const };
    await expect(updateUser(db, SYSTEM_ACTOR, admin.id, { version: admin.version, details, password: undefined })).rejects.toThrow(LAST_ADMIN_MESSAGE);
    await expect(setUserDisabled(db, SYSTEM_ACTOR, admin.id, admin.version, true)).rejects.toThrow(LAST_ADMIN_MESSAGE);
    await expect(deleteUser(db, SYSTEM_ACTOR, admin.id, admin.version)).rejects.toThrow(LAST_ADMIN_MESSAGE);
    expect(await reload(admin)).toMatchObject({ isAdmin: true, disabled: false, version: admin.version });
  });

  it("A6: a demoted administrator's open session cannot then demote the last administrator", async () => {
    const { admin: alice, agent: aliceAgent } = await signedInAdmin("alice");
    const bob = await insertTestAdmin(db, { username: "bob" });
    const bobAgent = await signedInAgent(app, bob);
    const bobsForm = await editForm(alice, { isAdmin: undefined });
    const first = await aliceAgent.post(`/admin/users/${bob.id}`, await editForm(bob, { isAdmin: undefined }));
    expect(first.status).toBe(303);
    const second = await bobAgent.post(`/admin/users/${alice.id}`, bobsForm);
    expect(second.status).toBe(303);
    expect(second.headers.location).toBe("/login");
    expect(await reload(alice)).toMatchObject({ isAdmin: true });
  });

  it("A6: two administrators demoting each other at the same moment: exactly one succeeds, an active administrator remains", async () => {
    const { admin: alice, agent: aliceAgent } = await signedInAdmin("alice");
    const bob = await insertTestAdmin(db, { username: "bob" });
    const bobAgent = await signedInAgent(app, bob);
    await aliceAgent.refreshToken(`/admin/users/${bob.id}`);
    await bobAgent.refreshToken(`/admin/users/${alice.id}`);
    const [aliceDemotesBob, bobDemotesAlice] = await Promise.all([
      aliceAgent.post(`/admin/users/${bob.id}`, await editForm(bob, { isAdmin: undefined })),
      bobAgent.post(`/admin/users/${alice.id}`, await editForm(alice, { isAdmin: undefined })),
    ]);
    const succeeded = [
      aliceDemotesBob.status === 303 && aliceDemotesBob.headers.location === `/admin/users/${bob.id}`,
      bobDemotesAlice.status === 303 && bobDemotesAlice.headers.location === `/admin/users/${alice.id}`,
    ];
    expect(succeeded.filter(Boolean)).toHaveLength(1);
    // The loser either lost inside the transaction (409, the rule's message) or, when it came second,
    // found its own session ended by its demotion (303 to sign in).
    for (const res of [aliceDemotesBob, bobDemotesAlice]) {
      if (res.status === 409) expect(pageText(res.text)).toContain(LAST_ADMIN_MESSAGE);
      else expect(res.status).toBe(303);
    }
    const admins = [await reload(alice), await reload(bob)].filter((u) => u.isAdmin && !u.disabled);
    expect(admins).toHaveLength(1);
    expect(await listAuditEvents(db, { action: "user.updated" })).toHaveLength(1);
  });

  it("A6: two administrators disabling each other at the same moment leave one active administrator", async () => {
    const { admin: alice, agent: aliceAgent } = await signedInAdmin("alice");
    const bob = await insertTestAdmin(db, { username: "bob" });
    const bobAgent = await signedInAgent(app, bob);
    await Promise.all([
      aliceAgent.post(`/admin/users/${bob.id}/disable`, { version: String(bob.version) }),
      bobAgent.post(`/admin/users/${alice.id}/disable`, { version: String(alice.version) }),
    ]);
    const admins = [await reload(alice), await reload(bob)].filter((u) => u.isAdmin && !u.disabled);
    expect(admins).toHaveLength(1);
  });
});

describe("A9: duplicate usernames after trim, NFKC and case-folding", () => {
  it('A9: "Prod", "prod", " prod ", "prod\\u200b", "ｐｒｏｄ" cannot sit beside an existing "Prod"; the message names the clash', async () => {
    const { agent } = await signedInAdmin();
    await insertTestUser(db, { username: "Prod" });
    for (const candidate of ["Prod", "prod", " prod ", "PROD", "ｐｒｏｄ", "prod\u200b"]) {
      const res = await agent.post("/admin/users", createForm({ username: candidate }));
      expect([409, 422], JSON.stringify(candidate)).toContain(res.status);
      expect(isInvalid(res.text, "username"), JSON.stringify(candidate)).toBe(true);
      const message = fieldError(res.text, "username") ?? "";
      if (candidate.includes("\u200b")) expect(message).toContain("invisible");
      else expect(message, JSON.stringify(candidate)).toContain('"Prod"');
      expect(inputValue(res.text, "username")).toBe(candidate);
    }
    expect(await countUsers(db)).toBe(2);
  });

  it("A9: renaming another user onto an existing name (any case or width) is refused with the clash named", async () => {
    const { agent } = await signedInAdmin();
    await insertTestUser(db, { username: "Prod" });
    const other = await insertTestUser(db, { username: "other" });
    for (const candidate of [" PROD ", "ｐｒｏｄ"]) {
      const res = await agent.post(`/admin/users/${other.id}`, await editForm(other, { username: candidate }));
      expect(res.status).toBe(409);
      expect(fieldError(res.text, "username")).toContain('"Prod"');
      expect(inputValue(res.text, "username")).toBe(candidate);
    }
    expect(await reload(other)).toEqual(asStored(other));
  });

  it("A9: a user may change the case of their own name", async () => {
    const { agent } = await signedInAdmin();
    const other = await insertTestUser(db, { username: "prod" });
    const res = await agent.post(`/admin/users/${other.id}`, await editForm(other, { username: "Prod" }));
    expect(res.status).toBe(303);
    expect((await reload(other)).username).toBe("Prod");
  });
});

describe("A10: field limits in code points", () => {
  const cases: { field: string; label: string; max: number; sample: string; tooLong: string; tooLongCount: number }[] = [
    { field: "username", label: "Username", max: 64, sample: "a".repeat(64), tooLong: "a".repeat(65), tooLongCount: 65 },
    { field: "username", label: "Username", max: 64, sample: "🙂".repeat(64), tooLong: "🙂".repeat(65), tooLongCount: 65 },
    { field: "username", label: "Username", max: 64, sample: "x\u0301".repeat(32), tooLong: "x\u0301".repeat(33), tooLongCount: 66 },
    { field: "fullName", label: "Full name", max: 128, sample: "é".repeat(128), tooLong: "é".repeat(129), tooLongCount: 129 },
    { field: "fullName", label: "Full name", max: 128, sample: "🙂".repeat(128), tooLong: "🙂".repeat(129), tooLongCount: 129 },
    { field: "fullName", label: "Full name", max: 128, sample: "x\u0301".repeat(64), tooLong: "x\u0301".repeat(65), tooLongCount: 130 },
    { field: "title", label: "Title", max: 128, sample: "t".repeat(128), tooLong: "t".repeat(129), tooLongCount: 129 },
    { field: "phone", label: "Phone", max: 64, sample: "1".repeat(64), tooLong: "1".repeat(65), tooLongCount: 65 },
    { field: "phone", label: "Phone", max: 64, sample: "١".repeat(64), tooLong: "١".repeat(65), tooLongCount: 65 },
  ];

  it.each(cases)("A10: $label takes exactly $max code points ($sample.length UTF-16 units) and refuses $tooLongCount", async ({ field, label, max, sample, tooLong, tooLongCount }) => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target" });
    const ok = await agent.post(`/admin/users/${target.id}`, await editForm(target, { [field]: sample }));
    expect(ok.status).toBe(303);
    const saved = await reload(target);
    // Stored exactly as typed: never truncated.
    expect(saved[field as "username" | "fullName" | "title" | "phone"]).toBe(sample);
    const refused = await agent.post(`/admin/users/${target.id}`, await editForm(target, { [field]: tooLong }));
    expect(refused.status).toBe(422);
    expect(isInvalid(refused.text, field)).toBe(true);
    expect(fieldError(refused.text, field)).toBe(`${label} must be at most ${max} characters; this one has ${tooLongCount}.`);
    expect(inputValue(refused.text, field)).toBe(tooLong);
    expect(await reload(target)).toEqual(saved);
  });

  it("A10: 10 000 characters are refused with the count for every text field; the database is untouched", async () => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target" });
    for (const [field, label] of [
      ["username", "Username"],
      ["fullName", "Full name"],
      ["title", "Title"],
      ["phone", "Phone"],
    ] as const) {
      const res = await agent.post(`/admin/users/${target.id}`, await editForm(target, { [field]: "x".repeat(10_000) }));
      expect(res.status, field).toBe(422);
      expect(fieldError(res.text, field)).toContain(`${label} must be at most`);
      expect(fieldError(res.text, field)).toContain("this one has 10000.");
    }
    const email = await agent.post(`/admin/users/${target.id}`, await editForm(target, { email: `${"x".repeat(10_000)}@example.com` }));
    expect(email.status).toBe(422);
    expect(isInvalid(email.text, "email")).toBe(true);
    expect(await reload(target)).toEqual(asStored(target));
  });

  it("A10: an empty or whitespace-only username is refused; empty or whitespace-only optional fields are stored empty", async () => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target", fullName: "Has Name", title: "Has Title", phone: "123" });
    for (const blank of ["", "   ", "\t \u3000"]) {
      const res = await agent.post(`/admin/users/${target.id}`, await editForm(target, { username: blank }));
      expect(res.status, JSON.stringify(blank)).toBe(422);
      expect(fieldError(res.text, "username")).toMatch(/username/i);
    }
    const res = await agent.post(`/admin/users/${target.id}`, await editForm(target, { fullName: "   ", title: "", phone: " " }));
    expect(res.status).toBe(303);
    expect(await reload(target)).toMatchObject({ fullName: "", title: "", phone: "" });
  });

  it("A10: a new user with a 64-code-point emoji username can be created and signs in", async () => {
    const { agent } = await signedInAdmin();
    const username = "🙂".repeat(64);
    const res = await agent.post("/admin/users", createForm({ username }));
    expect(res.status).toBe(303);
    expect((await findUserByUsername(db, username))?.username).toBe(username);
    await expectPasswordAccepted(username, NEW_PASSWORD);
  });
});

describe("A11: NUL, lone surrogates and direction overrides", () => {
  const BAD = { NUL: "a\u0000b", "lone surrogate": "a\uD800b", "RTL override": "abc\u202Etxt.exe" };
  const FIELDS = ["username", "fullName", "title", "phone", "email"] as const;

  it("A11: through JSON (which carries every one of them as typed) each is a 400/422 naming the field, never a 500, nothing stored", async () => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target" });
    for (const [what, bad] of Object.entries(BAD)) {
      for (const field of FIELDS) {
        const value = field === "email" ? `${bad}@example.com` : bad;
        const res = await postJson(agent, `/admin/users/${target.id}`, await editForm(target, { [field]: value }));
        expect([400, 422], `${what} in ${field}`).toContain(res.status);
        expect(res.body.error.fields, `${what} in ${field}`).toHaveProperty(field);
      }
      const created = await postJson(agent, "/admin/users", createForm({ username: `new${bad}` }));
      expect([400, 422], `${what} in a new username`).toContain(created.status);
      if (what !== "RTL override") {
        const password = await postJson(agent, "/admin/users", createForm({ password: `${NEW_PASSWORD}${bad}`, confirmPassword: `${NEW_PASSWORD}${bad}` }));
        expect([400, 422], `${what} in a password`).toContain(password.status);
      }
    }
    expect(await reload(target)).toEqual(asStored(target));
    expect(await countUsers(db)).toBe(2);
  });

  it("A11: through the HTML form each is a 400/422 with the field marked, never a 500", async () => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target" });
    for (const [what, bad] of Object.entries({ NUL: BAD.NUL, "RTL override": BAD["RTL override"] })) {
      for (const field of FIELDS) {
        const value = field === "email" ? `${bad}@example.com` : bad;
        const res = await agent.post(`/admin/users/${target.id}`, await editForm(target, { [field]: value }));
        expect([400, 422], `${what} in ${field}`).toContain(res.status);
        expect(isInvalid(res.text, field), `${what} in ${field}`).toBe(true);
      }
    }
    // A lone surrogate cannot be sent as UTF-8; its bytes arrive as replacement characters and are never a 500.
    const res = await agent.http
      .post(`/admin/users/${target.id}`)
      .set("Accept", "text/html")
      .type("form")
      .send(`_csrf=${encodeURIComponent(await agent.refreshToken("/profile"))}&version=${target.version}&username=target&fullName=a%ED%A0%80b`);
    expect(res.status).toBeLessThan(500);
    expect((await reload(target)).fullName).not.toMatch(/[\uD800-\uDFFF]/);
  });

  it("A11: NUL or a lone surrogate in the list search or an id is never a 500", async () => {
    const { agent } = await signedInAdmin();
    for (const q of ["%00", "a%00b", "%ED%A0%80", "%E2%80%AE"]) {
      const res = await agent.get(`/admin/users?q=${q}`);
      expect([200, 400], q).toContain(res.status);
    }
    for (const id of ["%00", "1%00", "%E2%80%AE1"]) {
      const res = await agent.get(`/admin/users/${id}`);
      expect([400, 404], id).toContain(res.status);
    }
  });
});

describe("A12: markup in stored values", () => {
  it("A12: <script> and \"><svg onload=…> are stored raw and rendered escaped in the list, the user page and the delete page", async () => {
    const { agent } = await signedInAdmin();
    const username = "<script>alert(1)</script>";
    const fullName = '"><svg onload=alert(2)>';
    const title = "<img src=x onerror=alert(3)>";
    const res = await agent.post("/admin/users", createForm({ username, fullName, title, phone: "'><b>4" }));
    expect(res.status).toBe(303);
    const stored = await findUserByUsername(db, username);
    expect(stored).toMatchObject({ username, fullName, title, phone: "'><b>4" });
    for (const url of ["/admin/users", `/admin/users/${stored?.id}`, `/admin/users/${stored?.id}/delete`, `/admin/users?q=${encodeURIComponent(username)}`]) {
      const page = await agent.get(url);
      expect(page.status, url).toBe(200);
      expect(page.text, url).not.toContain("<script>alert");
      expect(page.text, url).not.toContain("<svg");
      expect(page.text, url).not.toContain("<img src=x");
      expect(page.text, url).not.toContain("<b>4");
      expect(page.text, url).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
      expect(pageText(page.text), url).toContain(username);
    }
    const userPage = await agent.get(`/admin/users/${stored?.id}`);
    expect(inputValue(userPage.text, "fullName")).toBe(fullName);
    expect(userPage.text).toContain("&lt;svg onload=alert(2)&gt;");
    const list = await agent.get("/admin/users");
    expect(tableRows(list.text).find((row) => row[0] === username)?.[1]).toBe(fullName);
  });

  it("A12: a search for markup is echoed escaped", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.get(`/admin/users?q=${encodeURIComponent('"><script>alert(1)</script>')}`);
    expect(res.status).toBe(200);
    expect(res.text).not.toContain("<script>alert");
    expect(inputValue(res.text, "q")).toBe('"><script>alert(1)</script>');
  });
});

describe("A13: malformed ids", () => {
  const IDS = ["abc", "-1", "0", "1.5", "1e3", "99999999999999999999", "2147483648", "1;DROP", "1%3BDROP%20TABLE%20users", "0x1", "%201", "424242"];

  it("A13: every /admin/users/:id route answers 404 or 400 for abc, -1, 0, 1.5, 1e3, 99999999999999999999, 1;DROP — never a 500", async () => {
    const { agent } = await signedInAdmin();
    for (const id of IDS) {
      for (const [method, suffix] of [
        ["GET", ""],
        ["POST", ""],
        ["GET", "/delete"],
        ["POST", "/delete"],
        ["POST", "/disable"],
        ["POST", "/enable"],
        ["POST", "/unlock"],
      ] as const) {
        const url = `/admin/users/${id}${suffix}`;
        const res = method === "GET" ? await agent.get(url) : await agent.post(url, { version: "1", username: "x" });
        expect([400, 404], `${method} ${url}`).toContain(res.status);
      }
    }
    expect(await countUsers(db)).toBe(1);
  });
});

describe("A16: list sorting accepts only allowlisted columns and directions", () => {
  it("A16: ?sort=password_hash, ?sort=name;--, ?dir=sideways and other junk fall back to the default sort with 200", async () => {
    const { agent } = await signedInAdmin("root");
    await insertTestUser(db, { username: "Bravo" });
    await insertTestUser(db, { username: "alpha" });
    for (const query of [
      "sort=password_hash",
      "sort=name;--",
      "sort=username_key",
      "sort=id%20desc",
      "dir=sideways",
      "sort=username&sort=name",
      "page=-3",
      "page=abc",
      "page=1e309",
      "q=x&q=y",
    ]) {
      const res = await agent.get(`/admin/users?${query}`);
      expect(res.status, query).toBe(200);
      expect(res.text, query).toMatch(/<th scope="col" aria-sort="ascending"><a href="[^"]*sort=username/);
      expect(res.text, query).not.toContain("password_hash");
      if (!query.startsWith("q=")) expect(tableRows(res.text).map((r) => r[0]), query).toEqual(["alpha", "Bravo", "root"]);
    }
    expect((await agent.get("/admin/users?sort=name&dir=sideways")).text).toMatch(/aria-sort="ascending"><a href="[^"]*sort=name/);
  });
});

describe("password policy (docs/domain.md, Passwords and reset) on the user form", () => {
  it("refuses fewer than 12 code points with the reason and the count", async () => {
    const { agent } = await signedInAdmin();
    for (const [password, count] of [
      ["x7#kq9!m", 8],
      ["🙂🙂🙂🙂🙂🙂", 6],
      ["ab3$5^7*9)1", 11],
    ] as const) {
      const res = await agent.post("/admin/users", createForm({ password, confirmPassword: password }));
      expect(res.status).toBe(422);
      expect(isInvalid(res.text, "password")).toBe(true);
      expect(fieldError(res.text, "password")).toBe(`Password must be at least 12 characters; this one has ${count}.`);
      expect(res.text).not.toContain(password);
      expect(inputValue(res.text, "username")).toBe("newbie");
    }
    expect(await countUsers(db)).toBe(1);
  });

  it("refuses more than 128 code points and accepts exactly 128", async () => {
    const { agent } = await signedInAdmin();
    const long = `${"Lq9#vT2!mZ".repeat(13)}`.slice(0, 129);
    const res = await agent.post("/admin/users", createForm({ password: long, confirmPassword: long }));
    expect(res.status).toBe(422);
    expect(fieldError(res.text, "password")).toBe("Password must be at most 128 characters; this one has 129.");
    const ok = await agent.post("/admin/users", createForm({ password: long.slice(0, 128), confirmPassword: long.slice(0, 128) }));
    expect(ok.status).toBe(303);
    await expectPasswordAccepted("newbie", long.slice(0, 128));
  });

  it("refuses common passwords such as password1234 and qwertyuiopasdf", async () => {
    const { agent } = await signedInAdmin();
    for (const password of ["password1234", "qwertyuiopasdf", "Password1234!", "123456789012", "passwordpassword", "iloveyou1234"]) {
      const res = await agent.post("/admin/users", createForm({ password, confirmPassword: password }));
      expect(res.status, password).toBe(422);
      expect(fieldError(res.text, "password"), password).toBe("This password is too common or too easy to guess; choose another.");
    }
    expect(await countUsers(db)).toBe(1);
  });

  it("refuses a password that contains the username", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.post("/admin/users", createForm({ username: "carol", password: "my-name-is-CAROL-ok", confirmPassword: "my-name-is-CAROL-ok" }));
    expect(res.status).toBe(422);
    expect(fieldError(res.text, "password")).toBe("Password cannot contain your username.");
  });

  it("a mismatched Confirm password names the Confirm password field", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.post("/admin/users", createForm({ password: NEW_PASSWORD, confirmPassword: `${NEW_PASSWORD}x` }));
    expect(res.status).toBe(422);
    expect(isInvalid(res.text, "confirmPassword")).toBe(true);
    expect(isInvalid(res.text, "password")).toBe(false);
    expect(errorSummary(res.text)?.links).toEqual(["confirmPassword"]);
    expect(fieldError(res.text, "confirmPassword")).toContain("Confirm password");
    expect(res.text).not.toContain(NEW_PASSWORD);
  });

  it("applies to a password set on the edit form too, and a blank password keeps the current one", async () => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target" });
    const weak = await agent.post(`/admin/users/${target.id}`, await editForm(target, { password: "password1234", confirmPassword: "password1234" }));
    expect(weak.status).toBe(422);
    expect(fieldError(weak.text, "password")).toBe("This password is too common or too easy to guess; choose another.");
    const blank = await agent.post(`/admin/users/${target.id}`, await editForm(target, { fullName: "Renamed", password: "", confirmPassword: "" }));
    expect(blank.status).toBe(303);
    await signedInAgent(app, target);
  });
});

describe("an administrator editing their own account", () => {
  it("setting their own password on the user page keeps them signed in here and ends their other sessions", async () => {
    const { admin, agent } = await signedInAdmin();
    const elsewhere = await signedInAgent(app, admin);
    const res = await agent.post(`/admin/users/${admin.id}`, await editForm(admin, { password: NEW_PASSWORD, confirmPassword: NEW_PASSWORD }));
    expect(res.status).toBe(303);
    const page = await agent.get(`/admin/users/${admin.id}`);
    expect(page.status).toBe(200);
    expect(pageText(page.text)).toContain("User root saved.");
    expect((await elsewhere.get("/admin/users")).status).toBe(303);
    await signedInAgent(app, { username: "root", password: NEW_PASSWORD });
  });

  it("renaming themselves keeps them signed in", async () => {
    const { admin, agent } = await signedInAdmin();
    const res = await agent.post(`/admin/users/${admin.id}`, await editForm(admin, { username: "superuser" }));
    expect(res.status).toBe(303);
    expect((await agent.get("/admin/users")).status).toBe(200);
  });
});

describe("optimistic locking on the user page (docs/security.md §4, concurrent edits)", () => {
  it("a second administrator saving an older version gets 409 with the other change shown and their input kept; saving again applies it", async () => {
    const { agent: alice } = await signedInAdmin("alice");
    const bob = await signedInAgent(app, await insertTestAdmin(db, { username: "bob" }));
    const target = await insertTestUser(db, { username: "target", fullName: "Original Name", title: "Original title" });

    const alicePage = await alice.get(`/admin/users/${target.id}`);
    const bobPage = await bob.get(`/admin/users/${target.id}`);
    const version = inputValue(alicePage.text, "version");
    expect(inputValue(bobPage.text, "version")).toBe(version);

    const form = { username: "target", authSource: "local", email: "", phone: "" };
    const saved = await alice.post(`/admin/users/${target.id}`, { ...form, version: version ?? "", fullName: "Alice Changed This", title: "Original title" });
    expect(saved.status).toBe(303);

    const stale = await bob.post(`/admin/users/${target.id}`, { ...form, version: version ?? "", fullName: "Bob Typed This", title: "Bob's title" });
    expect(stale.status).toBe(409);
    const text = pageText(stale.text);
    expect(text).toContain("Someone else changed this user");
    expect(text).toContain("Alice Changed This");
    expect(inputValue(stale.text, "fullName")).toBe("Bob Typed This");
    expect(inputValue(stale.text, "title")).toBe("Bob's title");
    const newVersion = inputValue(stale.text, "version");
    expect(Number(newVersion)).toBe(Number(version) + 1);
    expect(await reload(target)).toMatchObject({ fullName: "Alice Changed This", title: "Original title" });

    const again = await bob.post(`/admin/users/${target.id}`, { ...form, version: newVersion ?? "", fullName: "Bob Typed This", title: "Bob's title" });
    expect(again.status).toBe(303);
    expect(await reload(target)).toMatchObject({ fullName: "Bob Typed This", title: "Bob's title" });
  });

  it("disabling or deleting with an older version is a 409 and changes nothing", async () => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target" });
    await agent.post(`/admin/users/${target.id}`, await editForm(target, { fullName: "Changed" }));
    const current = await reload(target);
    for (const action of ["disable", "delete"]) {
      const res = await agent.post(`/admin/users/${target.id}/${action}`, { version: String(target.version) });
      expect(res.status, action).toBe(409);
      expect(pageText(res.text)).toContain("Someone else changed this user");
      // The edit form on that page still shows the saved user, not an empty form.
      expect(inputValue(res.text, "username"), action).toBe("target");
      expect(inputValue(res.text, "fullName"), action).toBe("Changed");
    }
    expect(await reload(target)).toEqual(current);
  });
});

describe("delete, disable and enable", () => {
  it("delete asks first (GET), then POST removes the user and ends their sessions", async () => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target", fullName: "Tar Get" });
    const targetAgent = await signedInAgent(app, target);
    expect(await countUserSessions(db, target.id)).toBe(1);
    const confirm = await agent.get(`/admin/users/${target.id}/delete`);
    expect(h1(confirm.text)).toBe("Delete user target?");
    expect(await findUserById(db, target.id)).toBeDefined();
    const version = /name="version" value="(\d+)"/.exec(confirm.text)?.[1] ?? "";
    const res = await agent.post(`/admin/users/${target.id}/delete`, { version });
    expect(res.status).toBe(303);
    expect(await findUserById(db, target.id)).toBeUndefined();
    expect(await countUserSessions(db, target.id)).toBe(0);
    const after = await targetAgent.get("/profile");
    expect(after.status).toBe(303);
    expect(after.headers.location).toBe("/login?returnTo=%2Fprofile");
    expect((await agent.get(`/admin/users/${target.id}`)).status).toBe(404);
  });

  it("disable ends the user's sessions and stops sign-in; enable lets them back in", async () => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target" });
    const targetAgent = await signedInAgent(app, target);
    const disabled = await agent.post(`/admin/users/${target.id}/disable`, { version: String(target.version) });
    expect(disabled.status).toBe(303);
    expect(pageText((await agent.get(`/admin/users/${target.id}`)).text)).toContain("User target disabled; their sessions were ended.");
    expect(await countUserSessions(db, target.id)).toBe(0);
    expect((await targetAgent.get("/profile")).status).toBe(303);
    await expect(signedInAgent(app, target)).rejects.toThrow(/failed with 401/);

    const page = await agent.get(`/admin/users/${target.id}`);
    expect(page.text).toMatch(/<button type="submit" class="secondary">Enable target<\/button>/);
    const enabled = await agent.post(`/admin/users/${target.id}/enable`, { version: String((await reload(target)).version) });
    expect(enabled.status).toBe(303);
    expect((await reload(target)).disabled).toBe(false);
    await signedInAgent(app, target);
  });

  it("an administrator's own page offers neither disable nor delete, and both are refused if posted", async () => {
    const { admin, agent } = await signedInAdmin();
    await insertTestAdmin(db, { username: "second" });
    const page = await agent.get(`/admin/users/${admin.id}`);
    expect(page.text).not.toContain(`action="/admin/users/${admin.id}/disable"`);
    expect(page.text).not.toContain(`href="/admin/users/${admin.id}/delete"`);
    expect((await agent.post(`/admin/users/${admin.id}/disable`, { version: String(admin.version) })).status).toBe(409);
    expect((await agent.post(`/admin/users/${admin.id}/delete`, { version: String(admin.version) })).status).toBe(409);
    expect(await reload(admin)).toMatchObject({ isAdmin: true, disabled: false, version: admin.version });
    expect((await agent.get("/profile")).status).toBe(200);
  });

  it("another administrator can be disabled and deleted while an active administrator remains", async () => {
    const { agent } = await signedInAdmin();
    const other = await insertTestAdmin(db, { username: "other" });
    expect((await agent.post(`/admin/users/${other.id}/disable`, { version: String(other.version) })).status).toBe(303);
    expect((await agent.post(`/admin/users/${other.id}/delete`, { version: String((await reload(other)).version) })).status).toBe(303);
    expect(await findUserById(db, other.id)).toBeUndefined();
  });
});

describe("the user list: search, sort, pages", () => {
  async function seedPeople() {
    await insertTestUser(db, { username: "jdoe", fullName: "Jane Doe", email: "jane@example.com" });
    await insertTestUser(db, { username: "bsmith", fullName: "bob Smith", email: "bob@example.org" });
    await insertTestUser(db, { username: "Zed", fullName: "Adam Zed", email: "Zed@corp.test" });
    await insertTestUser(db, { username: "pct", fullName: "100% real_name", email: "pct@corp.test" });
  }

  it("search matches username, full name and email, case-insensitively, and keeps its value", async () => {
    const { agent } = await signedInAdmin("root");
    await seedPeople();
    const search = async (q: string) => {
      const res = await agent.get(`/admin/users?q=${encodeURIComponent(q)}`);
      expect(res.status).toBe(200);
      expect(inputValue(res.text, "q")).toBe(q);
      return tableRows(res.text).map((r) => r[0]);
    };
    expect(await search("JD")).toEqual(["jdoe"]);
    expect(await search("doe")).toEqual(["jdoe"]);
    expect(await search("JANE@EXAMPLE")).toEqual(["jdoe"]);
    expect(await search("example.org")).toEqual(["bsmith"]);
    expect(await search("SMITH")).toEqual(["bsmith"]);
    expect(await search("zed")).toEqual(["Zed"]);
    expect(await search("  jdoe  ")).toEqual(["jdoe"]);
    // LIKE wildcards are literal.
    expect(await search("%")).toEqual(["pct"]);
    expect(await search("r_a")).toEqual([]);
    expect(await search("_")).toEqual(["pct"]);
    const none = await agent.get("/admin/users?q=nobody-at-all");
    expect(pageText(none.text)).toContain("No user matches “nobody-at-all”.");
    const caption = await agent.get("/admin/users?q=e");
    expect(pageText(caption.text)).toMatch(/\d+ users? matching “e”/);
  });

  it("sorts on each allowlisted column both ways, with aria-sort on the active header only", async () => {
    const { agent } = await signedInAdmin("root");
    await seedPeople();
    const columns = ["username", "name", "email", "role", "lastLogin"];
    for (const sort of columns) {
      for (const dir of ["asc", "desc"] as const) {
        const res = await agent.get(`/admin/users?sort=${sort}&dir=${dir}`);
        expect(res.status, `${sort} ${dir}`).toBe(200);
        const headers = [...res.text.matchAll(/<th scope="col" aria-sort="(\w+)"><a href="([^"]+)"/g)].map((m) => ({
          ariaSort: m[1],
          href: (m[2] ?? "").replace(/&amp;/g, "&"),
        }));
        expect(headers).toHaveLength(columns.length);
        headers.forEach((header, i) => {
          const active = columns[i] === sort;
          expect(header.ariaSort, `${sort} ${dir} column ${columns[i]}`).toBe(active ? (dir === "asc" ? "ascending" : "descending") : "none");
          const params = new URLSearchParams(header.href.split("?")[1]);
          expect(params.get("sort")).toBe(columns[i]);
          expect(params.get("dir")).toBe(active && dir === "asc" ? "desc" : "asc");
        });
      }
    }
    const names = async (query: string) => tableRows((await agent.get(`/admin/users?${query}`)).text).map((r) => r[0]);
    expect(await names("sort=username&dir=asc")).toEqual(["bsmith", "jdoe", "pct", "root", "Zed"]);
    expect(await names("sort=username&dir=desc")).toEqual(["Zed", "root", "pct", "jdoe", "bsmith"]);
    // Full names and emails sort without regard to case, like usernames.
    expect(await names("sort=name&dir=asc")).toEqual(["pct", "Zed", "bsmith", "jdoe", "root"]);
    expect(await names("sort=email&dir=asc")).toEqual(["bsmith", "jdoe", "pct", "Zed", "root"]);
    expect(await names("sort=email&dir=desc")).toEqual(["Zed", "pct", "jdoe", "bsmith", "root"]);
    expect((await names("sort=role&dir=desc"))[0]).toBe("root");
  });

  it("shows 50 users per page with the page count and the total", async () => {
    const { agent } = await signedInAdmin("aaa-admin");
    for (let i = 0; i < 120; i++) await insertTestUser(db, { username: `bulk${String(i).padStart(3, "0")}` });
    const first = await agent.get("/admin/users");
    expect(tableRows(first.text)).toHaveLength(50);
    const text = pageText(first.text);
    expect(text).toContain("Page 1 of 3");
    expect(text).toContain("121 in all");
    expect(text).toContain("121 users");
    expect(first.text).toMatch(/<nav aria-label="Pagination"/);
    expect(first.text).not.toContain('rel="prev"');
    expect(tableRows(first.text)[0]?.[0]).toBe("aaa-admin");

    const second = await agent.get("/admin/users?page=2");
    expect(pageText(second.text)).toContain("Page 2 of 3");
    expect(tableRows(second.text)[0]?.[0]).toBe("bulk049");
    expect(second.text).toContain('rel="prev"');
    expect(second.text).toContain('rel="next"');

    const third = await agent.get("/admin/users?page=3");
    expect(tableRows(third.text)).toHaveLength(21);
    expect(pageText(third.text)).toContain("Page 3 of 3");
    expect(third.text).not.toContain('rel="next"');

    const beyond = await agent.get("/admin/users?page=9");
    expect(beyond.status).toBe(200);
    expect(tableRows(beyond.text)).toHaveLength(0);

    const searched = await agent.get("/admin/users?q=bulk1");
    expect(pageText(searched.text)).toContain("Page 1 of 1 (20 in all)");
    // Past the last match the page has no rows to carry the count, and still says how many match.
    const searchedBeyond = await agent.get("/admin/users?q=bulk1&page=4");
    expect(tableRows(searchedBeyond.text)).toHaveLength(0);
    expect(pageText(searchedBeyond.text)).toContain("There is no page 4: the last is page 1.");
    expect(pageText(searchedBeyond.text)).toContain("(20 in all)");
    expect(pageText(searchedBeyond.text)).not.toContain("No user matches");
    expect(searchedBeyond.text).toContain('href="/admin/users?q=bulk1&amp;sort=username&amp;dir=asc&amp;page=1">Go to page 1</a>');
  });
});

describe("audit events for user administration", () => {
  it("creating, updating, disabling, enabling and deleting a user each write an audit event with the changed fields; passwords appear as ------", async () => {
    const { admin, agent } = await signedInAdmin();
    await configureSmtp(db, mailServer);
    await agent.post("/admin/users", createForm({ username: "audited", fullName: "Aud Ited", email: "aud@example.com" }));
    const user = await findUserByUsername(db, "audited");
    if (!user) throw new Error("not created");
    const target = { targetId: String(user.id) };

    const [created] = await listAuditEvents(db, { action: "user.created", ...target });
    expect(created).toMatchObject({ actorId: admin.id, actorUsername: "root", targetType: "user", targetLabel: "audited" });
    expect(created?.details.changes).toMatchObject({
      username: { from: null, to: "audited" },
      fullName: { from: null, to: "Aud Ited" },
      email: { from: null, to: "aud@example.com" },
      isAdmin: { from: null, to: false },
      password: { from: null, to: "------" },
      temporaryPassword: { from: null, to: true },
    });

    await agent.post(`/admin/users/${user.id}`, await editForm(user, { fullName: "New Name", title: "Boss", password: "another long passphrase 7", confirmPassword: "another long passphrase 7" }));
    const [updated] = await listAuditEvents(db, { action: "user.updated", ...target });
    expect(updated?.details.changes).toEqual({
      fullName: { from: "Aud Ited", to: "New Name" },
      title: { from: "", to: "Boss" },
      password: { from: "------", to: "------" },
      temporaryPassword: { from: true, to: true },
    });

    await agent.post(`/admin/users/${user.id}/disable`, { version: String((await reload(user)).version) });
    const [disabled] = await listAuditEvents(db, { action: "user.disabled", ...target });
    expect(disabled?.details.changes).toEqual({ disabled: { from: false, to: true } });

    await agent.post(`/admin/users/${user.id}/enable`, { version: String((await reload(user)).version) });
    const [enabled] = await listAuditEvents(db, { action: "user.enabled", ...target });
    expect(enabled?.details.changes).toEqual({ disabled: { from: true, to: false } });

    await agent.post(`/admin/users/${user.id}/delete`, { version: String((await reload(user)).version) });
    const [deleted] = await listAuditEvents(db, { action: "user.deleted", ...target });
    expect(deleted?.details.changes).toMatchObject({ username: { from: "audited", to: null } });

    const all = JSON.stringify(await listAuditEvents(db, { limit: 1000 }));
    expect(all).not.toContain(NEW_PASSWORD);
    expect(all).not.toContain("another long passphrase 7");
    expect(all).not.toContain("$argon2");
  });

  it("a refused change writes no audit event", async () => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target" });
    const before = await auditCount();
    await agent.post(`/admin/users/${target.id}`, await editForm(target, { fullName: "x".repeat(200) }));
    await agent.post(`/admin/users/${target.id}/disable`, { version: String(target.version + 5) });
    await agent.post(`/admin/users/${target.id}/delete`, { version: String(target.version + 5) });
    await agent.post("/admin/users", createForm({ username: "target" }));
    expect(await auditCount()).toBe(before);
  });
});
