import type { Express } from "express";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { findUserByUsername } from "../../src/repositories/users/index.ts";
import { createApiToken } from "../../src/services/api-tokens.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { addLdapDefaultTeam, addLdapGroupMapping, addLdapServer, readLdapOptions, saveLdapOptions } from "../../src/services/ldap-settings.ts";
import type { MailOutbox } from "../../src/services/mail-outbox.ts";
import { flashText, grant, makeGroup, makeSystem, makeTeam, rowCount } from "../helpers/access.ts";
import { csrfTokenFrom, signedInAgent, TestAgent } from "../helpers/agent.ts";
import { databaseState, injectFault, removeAllFaults } from "../helpers/faults.ts";
import { errorSummary, h1, inputValue, pageText } from "../helpers/html.ts";
import { FIXTURE_USERS, settingsFor, skipLdapTests, TestDirectory } from "../helpers/ldap.ts";
import { type TestMailServer, testKeys, useAppWithMail } from "../helpers/mail.ts";
import { attemptSignIn, auditEvents, failureRow, sessionCountOf } from "../helpers/sign-in.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/**
 * docs/security.md §4, "A crash between the steps of a multi-row write": a database error in the middle of each
 * multi-row write (a user with grants and memberships, a new user and the confirmation code queued for them, a
 * team with members and grants, adding a member, an LDAP account provisioned with its teams, a completed password
 * reset with its session purge) leaves nothing of the operation behind: every table is as it was, row for row. The
 * person gets a clean answer they can act on (409 "try again" for a serialization failure, 503 for a connection
 * the server ended), never a 500, and the same request sent again succeeds.
 *
 * The fault is a trigger the test creates (test/helpers/faults.ts), raising a real SQLSTATE after the first rows
 * of the operation were written; the application has no hook for it. Driven over HTTP through the real app, on
 * PGlite and, with TEST_DATABASE_URL, on Postgres.
 */

let db: Db;
let app: Express;
let mailOutbox: MailOutbox;
let mailServer: TestMailServer;

useAppWithMail(
  (parts) => {
    ({ db, app, mailOutbox, mailServer } = parts);
  },
  { configure: true },
);

afterEach(async () => {
  await removeAllFaults();
});

/** What the error handler answers for a serialization failure (40001) and for a connection the server ended (57P01). */
const TRY_AGAIN = "Another change got in the way of this one; nothing was saved. Try again.";
const UNAVAILABLE = "The service is temporarily unavailable. Try again in a moment.";

async function adminAgent() {
  const admin = await insertTestAdmin(db, { username: "root" });
  return { admin, agent: await signedInAgent(app, admin) };
}

async function userId(username: string): Promise<number | undefined> {
  return (await findUserByUsername(db, username))?.id;
}

/** The systems page as `agent` sees it: the names of the systems listed. */
async function systemsSeenBy(agent: TestAgent): Promise<string> {
  const res = await agent.get("/systems");
  expect(res.status).toBe(200);
  return pageText(res.text);
}

describe("a user with grants and memberships", () => {
  it("§4: deleting a user fails after their grants, memberships, sessions and token went with them: all of it is back, 409 'try again', and the retry deletes it all", async () => {
    const { agent } = await adminAgent();
    const alice = await insertTestUser(db, { username: "alice" });
    const nas = await makeSystem(db, { name: "nas-1" });
    const backup = await makeSystem(db, { name: "backup-1" });
    const prod = await makeGroup(db, "prod", [backup]);
    const ops = await makeTeam(db, "ops", [alice]);
    await grant(db, { kind: "user", id: alice.id }, { kind: "system", id: nas.id }, "read/write");
    await grant(db, { kind: "user", id: alice.id }, { kind: "group", id: prod.id });
    await grant(db, { kind: "team", id: ops.id }, { kind: "system", id: backup.id });
    await createApiToken(db, testKeys, SYSTEM_ACTOR, alice.id, { name: "backup script", expiresInDays: 30 });
    const aliceAgent = await signedInAgent(app, alice);
    const page = await agent.get(`/admin/users/${alice.id}/delete`);
    expect(page.status).toBe(200);

    const before = await databaseState(db);
    // The cascade has removed her rows by the time the deletion is audited: the fault comes after them.
    const fault = await injectFault(db, { table: "audit_events", on: "INSERT", when: "NEW.action = 'user.deleted'", code: "40001" });
    const failed = await agent.post(`/admin/users/${alice.id}/delete`, { version: String(alice.version) });
    expect(await fault.fired()).toBe(1);
    expect(failed.status).toBe(409);
    expect(errorSummary(failed.text)?.text).toContain(TRY_AGAIN);
    expect(h1(failed.text)).toContain("alice");

    expect(await databaseState(db)).toEqual(before);
    // Nothing she would notice either: still signed in, still seeing what she was given.
    const seen = await systemsSeenBy(aliceAgent);
    expect(seen).toContain("nas-1");
    expect(seen).toContain("backup-1");

    await fault.remove();
    const retry = await agent.post(`/admin/users/${alice.id}/delete`, { version: String(alice.version) });
    expect(retry.status).toBe(303);
    expect(retry.headers.location).toBe("/admin/users");
    expect(await userId("alice")).toBeUndefined();
    for (const table of ["team_members", "user_system_grants", "user_group_grants", "api_tokens"]) expect(await rowCount(db, table), table).toBe(0);
    expect(await sessionCountOf(db, alice.id)).toBe(0);
    // What was not hers stays: the team, its grant, the systems and the group.
    expect(await rowCount(db, "team_system_grants")).toBe(1);
    expect(await rowCount(db, "teams")).toBe(1);
    expect(await rowCount(db, "systems")).toBe(2);
    expect(await rowCount(db, "system_groups")).toBe(1);
    expect(await auditEvents(db, "user.deleted")).toHaveLength(1);
    expect((await aliceAgent.get("/systems")).status).toBe(303);
  });

  it("§4: creating a user whose address gets a confirmation code fails after the account, the code and its message were written: none of them stays, no mail goes out, 503; the retry creates the account and sends the code once", async () => {
    const { agent } = await adminAgent();
    await agent.refreshToken("/admin/users/new");
    const form = {
      username: "newbie",
      fullName: "New Bie",
      title: "",
      email: "newbie@example.test",
      phone: "",
      authSource: "local",
      password: "lighthouse keeper breakfast 93",
      confirmPassword: "lighthouse keeper breakfast 93",
    };
    const before = await databaseState(db);
    const fault = await injectFault(db, { table: "audit_events", on: "INSERT", when: "NEW.action = 'user.created'", code: "57P01" });
    const failed = await agent.post("/admin/users", form);
    expect(await fault.fired()).toBe(1);
    expect(failed.status).toBe(503);
    expect(pageText(failed.text)).toContain(UNAVAILABLE);
    expect(await databaseState(db)).toEqual(before);
    // No code for an account that does not exist: the outbox has nothing to send.
    await mailOutbox.drain();
    expect(mailServer.messages).toHaveLength(0);

    await fault.remove();
    const retry = await agent.post("/admin/users", form);
    expect(retry.status).toBe(303);
    const id = await userId("newbie");
    expect(retry.headers.location).toBe(`/admin/users/${id}`);
    expect(flashText((await agent.get(retry.headers.location ?? "/")).text)).toContain("A confirmation code was sent to newbie@example.test");
    await mailOutbox.drain();
    expect(mailServer.to("newbie@example.test")).toHaveLength(1);
    expect(await rowCount(db, "users", { username_key: "newbie" })).toBe(1);
    expect(await rowCount(db, "email_codes")).toBe(1);
    expect(await rowCount(db, "outbox")).toBe(1);
    expect(await auditEvents(db, "user.created")).toHaveLength(1);
  });
});

describe("a team with members", () => {
  it("§4, A18: deleting a team fails after its memberships, grants and LDAP settings went with it: all of it is back, 503, its members keep their access; the retry removes only the team and what was its", async () => {
    const { agent } = await adminAgent();
    const alice = await insertTestUser(db, { username: "alice" });
    const bob = await insertTestUser(db, { username: "bob" });
    const nas = await makeSystem(db, { name: "nas-1" });
    const backup = await makeSystem(db, { name: "backup-1" });
    const prod = await makeGroup(db, "prod", [backup]);
    const ops = await makeTeam(db, "ops", [alice, bob]);
    await grant(db, { kind: "team", id: ops.id }, { kind: "system", id: nas.id }, "read/write");
    await grant(db, { kind: "team", id: ops.id }, { kind: "group", id: prod.id });
    await addLdapDefaultTeam(db, SYSTEM_ACTOR, ops.id);
    await addLdapGroupMapping(db, SYSTEM_ACTOR, "operators", [ops.id]);
    const aliceAgent = await signedInAgent(app, alice);
    await agent.refreshToken(`/admin/teams/${ops.id}/delete`);

    const before = await databaseState(db);
    const fault = await injectFault(db, { table: "audit_events", on: "INSERT", when: "NEW.action = 'team.deleted'", code: "57P01" });
    const failed = await agent.post(`/admin/teams/${ops.id}/delete`, { version: String(ops.version) });
    expect(await fault.fired()).toBe(1);
    expect(failed.status).toBe(503);
    expect(pageText(failed.text)).toContain(UNAVAILABLE);
    expect(await databaseState(db)).toEqual(before);
    const seen = await systemsSeenBy(aliceAgent);
    expect(seen).toContain("nas-1");
    expect(seen).toContain("backup-1");

    await fault.remove();
    const retry = await agent.post(`/admin/teams/${ops.id}/delete`, { version: String(ops.version) });
    expect(retry.status).toBe(303);
    expect(retry.headers.location).toBe("/admin/teams");
    for (const table of ["teams", "team_members", "team_system_grants", "team_group_grants", "ldap_default_teams", "ldap_group_mappings"])
      expect(await rowCount(db, table), table).toBe(0);
    expect(await rowCount(db, "users")).toBe(3);
    expect(await rowCount(db, "systems")).toBe(2);
    expect(await rowCount(db, "system_group_members")).toBe(1);
    expect(await auditEvents(db, "team.deleted")).toHaveLength(1);
    expect(await systemsSeenBy(aliceAgent)).not.toContain("nas-1");
  });

  it("§4: adding a member fails once the membership row is written: it is gone again, 409 'try again' on the team's page with the username kept; the retry adds it once, with one audit event", async () => {
    const { agent } = await adminAgent();
    const alice = await insertTestUser(db, { username: "alice" });
    const nas = await makeSystem(db, { name: "nas-1" });
    const ops = await makeTeam(db, "ops");
    await grant(db, { kind: "team", id: ops.id }, { kind: "system", id: nas.id });
    const aliceAgent = await signedInAgent(app, alice);
    await agent.refreshToken(`/admin/teams/${ops.id}`);

    const before = await databaseState(db);
    const fault = await injectFault(db, { table: "team_members", on: "INSERT", after: true, code: "40001" });
    const failed = await agent.post(`/admin/teams/${ops.id}/members`, { username: "alice" });
    expect(await fault.fired()).toBe(1);
    expect(failed.status).toBe(409);
    expect(errorSummary(failed.text)?.text).toContain(TRY_AGAIN);
    expect(inputValue(failed.text, "username")).toBe("alice");
    expect(await databaseState(db)).toEqual(before);
    expect(await systemsSeenBy(aliceAgent)).not.toContain("nas-1");

    await fault.remove();
    const retry = await agent.post(`/admin/teams/${ops.id}/members`, { username: "alice" });
    expect(retry.status).toBe(303);
    expect(await rowCount(db, "team_members", { team_id: ops.id, user_id: alice.id })).toBe(1);
    expect(await auditEvents(db, "team.member_added")).toHaveLength(1);
    expect(await systemsSeenBy(aliceAgent)).toContain("nas-1");
  });
});

describe("a completed password reset", () => {
  const NEW_PASSWORD = "lighthouse keeper breakfast 93";

  async function resetInProgress() {
    const pat = await insertTestUser(db, { username: "pat", email: "pat@example.test" });
    await db("users").where({ id: pat.id }).update({ email_verified: true });
    await createApiToken(db, testKeys, SYSTEM_ACTOR, pat.id, { name: "cron", expiresInDays: 30 });
    // Two browsers where pat is signed in; the reset must end both.
    const laptop = await signedInAgent(app, pat);
    const phone = await signedInAgent(app, pat);
    // Forgot password, then sign in with the mailed code: the page to choose a new password.
    const visitor = new TestAgent(app);
    const form = await visitor.get("/forgot-password");
    const asked = await visitor.http
      .post("/forgot-password")
      .set("Accept", "text/html")
      .type("form")
      .send({ _csrf: csrfTokenFrom(form.text), username: "pat", email: "pat@example.test" });
    expect(asked.status).toBe(200);
    await mailOutbox.drain();
    const mail = mailServer.to("pat@example.test").at(-1);
    const code = new URLSearchParams(/\/login#(\S+)/.exec(mail?.text ?? "")?.[1] ?? "").get("reset") ?? "";
    const signIn = await attemptSignIn(visitor, "pat", code);
    expect(signIn.headers.location).toBe("/login/new-password");
    await visitor.refreshToken("/login/new-password");
    mailServer.clear();
    return { pat, laptop, phone, visitor };
  }

  it.each([
    { step: "the notice to the owner is queued last", spec: { table: "outbox", on: "INSERT" as const, code: "40001" as const }, status: 409 },
    { step: "the sessions are purged", spec: { table: "sessions", on: "DELETE" as const, code: "57P01" as const }, status: 503 },
  ])("§4: choosing the new password fails when $step: the old password, sessions, token and reset are as before, no notice is sent, $status; the retry changes it, ends every session and sends one notice", async ({ spec, status }) => {
    const { pat, laptop, phone, visitor } = await resetInProgress();
    const before = await databaseState(db);
    const fault = await injectFault(db, spec);
    const failed = await visitor.post("/login/new-password", { newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    expect(await fault.fired()).toBeGreaterThan(0);
    expect(failed.status).toBe(status);
    expect(pageText(failed.text)).toContain(status === 409 ? TRY_AGAIN : UNAVAILABLE);
    expect(await databaseState(db)).toEqual(before);
    // pat's browsers are still signed in, and no "your password was changed" mail went out.
    expect((await laptop.get("/profile")).status).toBe(200);
    expect((await phone.get("/profile")).status).toBe(200);
    await mailOutbox.drain();
    expect(mailServer.messages).toHaveLength(0);

    await fault.remove();
    await visitor.refreshToken("/login/new-password");
    const retry = await visitor.post("/login/new-password", { newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    expect(retry.status).toBe(303);
    expect(retry.headers.location).toBe("/login");
    expect((await laptop.get("/profile")).status).toBe(303);
    expect((await phone.get("/profile")).status).toBe(303);
    expect(await sessionCountOf(db, pat.id)).toBe(0);
    expect(await rowCount(db, "password_resets", { user_id: pat.id })).toBe(0);
    expect(await rowCount(db, "api_tokens", { revoked_at: null })).toBe(0);
    await mailOutbox.drain();
    expect(mailServer.to("pat@example.test").map((m) => m.subject)).toEqual(["Gatehouse: your password was changed"]);
    expect(await auditEvents(db, "password.reset_completed")).toHaveLength(1);
    expect((await attemptSignIn(new TestAgent(app), "pat", NEW_PASSWORD)).status).toBe(303);
  });
});

describe.skipIf(skipLdapTests)("an LDAP account provisioned at its first sign-in", () => {
  let directory: TestDirectory;
  beforeAll(async () => {
    directory = await TestDirectory.start();
  });
  afterAll(async () => {
    await directory?.close();
  });

  it("§4: the first sign-in fails after the account and its default team were written, at the mapped team: no account, no membership, no failure counted, a clear 409 'try again'; the retry signs in with both teams", async () => {
    await insertTestAdmin(db, { username: "root" });
    await addLdapServer(db, SYSTEM_ACTOR, testKeys, settingsFor(directory));
    const options = await readLdapOptions(db);
    await saveLdapOptions(db, SYSTEM_ACTOR, options.version, { ...options.value, allowUserCreation: true });
    const everyone = await makeTeam(db, "Everyone");
    const operators = await makeTeam(db, "Operators");
    await addLdapDefaultTeam(db, SYSTEM_ACTOR, everyone.id);
    await addLdapGroupMapping(db, SYSTEM_ACTOR, "operators", [operators.id]);
    const nas = await makeSystem(db, { name: "nas-1" });
    await grant(db, { kind: "team", id: operators.id }, { kind: "system", id: nas.id });

    // The sign-in page gives the visitor a (signed-out) session before anything is measured.
    const agent = new TestAgent(app);
    await agent.refreshToken("/login");
    const before = await databaseState(db, { ignore: ["login_failures"] });
    const fault = await injectFault(db, {
      table: "audit_events",
      on: "INSERT",
      when: "NEW.action = 'team.member_added' AND NEW.details->>'source' = 'LDAP group mapping'",
      code: "40001",
    });
    const failed = await agent.post("/login", { username: "alice", password: FIXTURE_USERS.alice.password });
    expect(await fault.fired()).toBe(1);
    expect(failed.status).toBe(409);
    expect(errorSummary(failed.text)?.text).toContain(TRY_AGAIN);
    expect(inputValue(failed.text, "username")).toBe("alice");
    expect(await databaseState(db, { ignore: ["login_failures"] })).toEqual(before);
    expect(await userId("alice")).toBeUndefined();
    // The password was right: the database's trouble is not counted against the person or their address.
    expect((await failureRow(db, "account", "alice"))?.failures ?? 0).toBe(0);
    expect((await db("login_failures").where({ scope: "ip" }).max("failures as most").first())?.most ?? 0).toBe(0);
    expect(await auditEvents(db, "sign_in.failed")).toHaveLength(0);

    await fault.remove();
    const retry = await attemptSignIn(agent, "alice", FIXTURE_USERS.alice.password);
    expect(retry.status).toBe(303);
    const id = await userId("alice");
    const teams = await db("team_members as m").join("teams as t", "t.id", "m.team_id").where("m.user_id", id).orderBy("t.name").pluck("t.name");
    expect(teams).toEqual(["Everyone", "Operators"]);
    expect(await auditEvents(db, "user.created_by_directory")).toHaveLength(1);
    expect(await auditEvents(db, "team.member_added")).toHaveLength(2);
    expect(await systemsSeenBy(agent)).toContain("nas-1");
  });
});
