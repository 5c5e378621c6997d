import type { Express } from "express";
import { generate } from "otplib";
import supertest from "supertest";
import { beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { createUser } from "../../src/services/accounts.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { confirmTotpEnrolment, startTotpEnrolment } from "../../src/services/two-factor.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestApiToken } from "../helpers/api-tokens.ts";
import { createTestApp } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { fieldError, h1, pageText } from "../helpers/html.ts";
import { testKeys } from "../helpers/mail.ts";
import { auditEvents } from "../helpers/sign-in.ts";
import { insertTestAdmin, insertTestUser, storedEditForm } from "../helpers/users.ts";

/**
 * A password an administrator sets for someone else, on the user form or through the API, is temporary
 * (docs/domain.md, "Passwords and reset"; docs/security.md A17): it signs in once more, straight to choosing a new
 * one, and nothing else is reachable until then. An administrator's own password set on their own account is not.
 */

const SET_BY_ADMIN = "harbour lights at dusk 4411";
const CHOSEN = "kettle whistles on the hob 27";

let db: Db;
let app: Express;

useTestDb((d) => {
  db = d;
});
beforeEach(() => {
  app = createTestApp(db);
});

async function signedInRoot() {
  const root = await insertTestAdmin(db, { username: "root" });
  return { root, agent: await signedInAgent(app, root) };
}


/** The password step; the answer's Location says where it leads. */
async function passwordStep(username: string, password: string) {
  const agent = new TestAgent(app);
  await agent.refreshToken("/login");
  const res = await agent.post("/login", { username, password });
  return { agent, res };
}

/** Signed in with the administrator's password, the person must choose their own; returns the agent on that page. */
async function expectForcedChange(username: string): Promise<TestAgent> {
  const { agent, res } = await passwordStep(username, SET_BY_ADMIN);
  expect(res.status).toBe(303);
  expect(res.headers.location).toBe("/login/new-password");
  const page = await agent.get("/login/new-password");
  expect(h1(page.text)).toBe("Choose a new password");
  expect(pageText(page.text)).toContain("An administrator set your password");
  return agent;
}

describe("a password set by an administrator on the user form", () => {
  it("for a new user: the flash says it is temporary, the event records it, and the first sign-in leads only to choosing a new one", async () => {
    const { agent } = await signedInRoot();
    const created = await agent.post("/admin/users", { username: "bob", password: SET_BY_ADMIN, confirmPassword: SET_BY_ADMIN });
    expect(created.status).toBe(303);
    const page = await agent.get(created.headers.location as string);
    expect(pageText(page.text)).toContain("The password you set is temporary: bob must replace it at the next sign-in.");
    const [event] = await auditEvents(db, "user.created");
    expect(event?.details).toMatchObject({ changes: { password: { from: null, to: "------" }, temporaryPassword: { from: null, to: true } } });

    const bob = await expectForcedChange("bob");
    // Nothing else is reachable, and nobody is signed in.
    for (const path of ["/", "/systems", "/profile", "/admin/users"]) {
      const res = await bob.get(path);
      expect(res.status, path).toBe(303);
      expect(res.headers.location, path).toBe("/login/new-password");
    }

    await bob.refreshToken("/login/new-password");
    const done = await bob.post("/login/new-password", { newPassword: CHOSEN, confirmPassword: CHOSEN });
    expect(done.status).toBe(303);
    expect(done.headers.location).toBe("/login");
    const [completed] = await auditEvents(db, "password.reset_completed");
    expect(completed?.details).toMatchObject({ with: "set_by_administrator" });

    // The chosen password signs in as usual; the administrator's no longer does.
    const again = await passwordStep("bob", CHOSEN);
    expect(again.res.headers.location).toBe("/");
    const old = await passwordStep("bob", SET_BY_ADMIN);
    expect(old.res.status).toBe(401);
  });

  it("for an existing user: their sessions end, and the next sign-in leads to choosing a new password", async () => {
    const carol = await insertTestUser(db, { username: "carol" });
    const carolsOwn = await signedInAgent(app, carol);
    const carolsToken = await createTestApiToken(db, carol);
    const { agent } = await signedInRoot();
    const saved = await agent.post(`/admin/users/${carol.id}`, await storedEditForm(db, carol.id, { password: SET_BY_ADMIN, confirmPassword: SET_BY_ADMIN }));
    expect(saved.status).toBe(303);
    const page = await agent.get(saved.headers.location as string);
    expect(pageText(page.text)).toContain("The password you set is temporary: carol must replace it at the next sign-in.");
    const [event] = (await auditEvents(db, "user.updated")).slice(-1);
    expect(event?.details).toMatchObject({ changes: { password: { from: "------", to: "------" }, temporaryPassword: { from: false, to: true } } });
    expect((await carolsOwn.get("/profile")).status).toBe(303);
    expect((await supertest(app).get("/api/v1/me").set("Authorization", `Bearer ${carolsToken}`)).status).toBe(401);
    await expectForcedChange("carol");
  });

  it("the new password must not be the one the administrator set", async () => {
    const { agent } = await signedInRoot();
    await agent.post("/admin/users", { username: "dave", password: SET_BY_ADMIN, confirmPassword: SET_BY_ADMIN });
    const dave = await expectForcedChange("dave");
    await dave.refreshToken("/login/new-password");
    const res = await dave.post("/login/new-password", { newPassword: SET_BY_ADMIN, confirmPassword: SET_BY_ADMIN });
    expect(res.status).toBe(422);
    expect(fieldError(res.text, "newPassword")).toBe("Choose a password of your own: this is the one an administrator set.");
  });

  it("with two-factor authentication on, the code step still comes first", async () => {
    const erin = await insertTestUser(db, { username: "erin", email: "erin@example.test" });
    await db("users").where({ id: erin.id }).update({ email_verified: true });
    const enrolment = await startTotpEnrolment(testKeys, erin);
    await confirmTotpEnrolment(db, testKeys, { id: erin.id, username: "erin", clientIp: null, requestId: null }, enrolment.sealedSecret, await generate({ secret: enrolment.secret }));
    const { agent } = await signedInRoot();
    expect((await agent.post(`/admin/users/${erin.id}`, await storedEditForm(db, erin.id, { password: SET_BY_ADMIN, confirmPassword: SET_BY_ADMIN }))).status).toBe(303);
    const { agent: erinAgent, res } = await passwordStep("erin", SET_BY_ADMIN);
    expect(res.headers.location).toBe("/login/code");
    await erinAgent.refreshToken("/login/code");
    await db("users").where({ id: erin.id }).update({ totp_last_step: null });
    const code = await erinAgent.post("/login/code", { code: await generate({ secret: enrolment.secret }) });
    expect(code.headers.location).toBe("/login/new-password");
  });

  it("is not temporary when administrators set their own password on their own account", async () => {
    const { root, agent } = await signedInRoot();
    const saved = await agent.post(`/admin/users/${root.id}`, await storedEditForm(db, root.id, { password: SET_BY_ADMIN, confirmPassword: SET_BY_ADMIN }));
    expect(saved.status).toBe(303);
    const page = await agent.get(saved.headers.location as string);
    expect(pageText(page.text)).not.toContain("The password you set is temporary");
    const [event] = (await auditEvents(db, "user.updated")).slice(-1);
    expect(event?.details).not.toHaveProperty("changes.temporaryPassword");
    const { res } = await passwordStep("root", SET_BY_ADMIN);
    expect(res.headers.location).toBe("/");
  });

  it("an administrator's own password saved on the user form replaces a temporary one of theirs for good", async () => {
    const { root, agent } = await signedInRoot();
    await db("users").where({ id: root.id }).update({ must_change_password: true });
    expect((await agent.post(`/admin/users/${root.id}`, await storedEditForm(db, root.id, { password: CHOSEN, confirmPassword: CHOSEN }))).status).toBe(303);
    expect((await passwordStep("root", CHOSEN)).res.headers.location).toBe("/");
  });

  it("switching the account to LDAP drops it with the password", async () => {
    const { agent } = await signedInRoot();
    await agent.post("/admin/users", { username: "frank", password: SET_BY_ADMIN, confirmPassword: SET_BY_ADMIN });
    const frank = await db("users").where({ username: "frank" }).first();
    expect((await agent.post(`/admin/users/${frank.id}`, await storedEditForm(db, frank.id, { authSource: "ldap" }))).status).toBe(303);
    expect(await db("users").where({ id: frank.id }).first("password_hash", "must_change_password")).toEqual({ password_hash: null, must_change_password: false });
  });
});

describe("a password set by an administrator through the API", () => {
  it("POST and PATCH /api/v1/users: temporary, recorded in the events, and replaced at the next sign-in", async () => {
    const root = await insertTestAdmin(db, { username: "root" });
    const token = await createTestApiToken(db, root);
    const created = await supertest(app).post("/api/v1/users").set("Authorization", `Bearer ${token}`).send({ username: "gina", password: SET_BY_ADMIN });
    expect(created.status).toBe(201);
    await expectForcedChange("gina");

    const hal = await insertTestUser(db, { username: "hal" });
    const patched = await supertest(app).patch(`/api/v1/users/${hal.id}`).set("Authorization", `Bearer ${token}`).send({ version: hal.version, password: SET_BY_ADMIN });
    expect(patched.status).toBe(200);
    const [event] = (await auditEvents(db, "user.updated")).slice(-1);
    expect(event?.details).toMatchObject({ changes: { temporaryPassword: { from: false, to: true } }, viaApiToken: expect.any(Number) });
    await expectForcedChange("hal");
  });
});

describe("a password the installation sets (npm run admin:create, ADMIN_PASSWORD)", () => {
  it("is not temporary: whoever runs the installation is the account's owner", async () => {
    await createUser(db, SYSTEM_ACTOR, {
      details: { username: "ivy", fullName: "", title: "", email: null, phone: "", isAdmin: true, authSource: "local" },
      password: SET_BY_ADMIN,
    });
    const { res } = await passwordStep("ivy", SET_BY_ADMIN);
    expect(res.headers.location).toBe("/");
  });
});
