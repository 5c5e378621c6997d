import type { Express } from "express";
import { generate } from "otplib";
import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { openSecret } from "../../src/lib/secret-box.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { findUserById } from "../../src/repositories/users/index.ts";
import { CODES_PER_PENDING_SIGN_IN } from "../../src/routes/auth/second-factor.ts";
import { saveGeneralSettings } from "../../src/services/general-settings.ts";
import { CODE_MESSAGES } from "../../src/services/one-time-codes.ts";
import { confirmTotpEnrolment, SECOND_FACTOR_MESSAGES, startTotpEnrolment } from "../../src/services/two-factor.ts";
import type { User } from "../../src/types/user.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { fieldError, hasAdminNavigation, isInvalid, labelText, pageText } from "../helpers/html.ts";
import { codeIn, type ReceivedMail, type TestMailServer, testKeys , useAppWithMail } from "../helpers/mail.ts";
import { agentSessionCookie, setSessionClocks, sidOf } from "../helpers/sign-in.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

let db: Db;
let app: Express;
let mailServer: TestMailServer;

useAppWithMail(
  (parts) => {
    ({ db, app, mailServer } = parts);
  },
  { configure: true },
);

const WRONG_PASSWORD = "definitely not the password 7";
const SIGN_IN_CODE_SUBJECT = "[AUTH] Gatehouse sign-in code";
const VERIFICATION_SUBJECT = "[AUTH] Gatehouse verification code";
const TWO_FACTOR_CHANGED_SUBJECT = "[AUTH] Gatehouse two-factor authentication changed";
const REPLAY_SUBJECT = "[AUTH] Gatehouse authenticator code used twice";

type Res = { status: number; headers: Record<string, string>; text: string };

async function reload(id: number): Promise<User> {
  const user = await findUserById(db, id);
  if (!user) throw new Error(`user ${id} is gone`);
  return user;
}

/** A page of someone signed in: it has the top bar's Sign out button. */
function isSignedInPage(html: string): boolean {
  return /action="\/logout"/.test(html);
}

/** A user with a verified address (the precondition of 2FA). */
async function verifiedUser(overrides: Parameters<typeof insertTestUser>[1] & { username: string }): Promise<User & { password: string }> {
  const user = await insertTestUser(db, { email: `${overrides.username}@example.test`, ...overrides });
  await db("users").where({ id: user.id }).update({ email_verified: true });
  return { ...(await reload(user.id)), password: user.password };
}

/** Turns on the authenticator for `user` through the service (set-up, not under test here). */
async function withAuthenticator(user: User): Promise<{ secret: string; recoveryCodes: string[] }> {
  const enrolment = await startTotpEnrolment(testKeys, user);
  const actor = { id: user.id, username: user.username, clientIp: null, requestId: null };
  const recoveryCodes = await confirmTotpEnrolment(db, testKeys, actor, enrolment.sealedSecret, await generate({ secret: enrolment.secret }));
  return { secret: enrolment.secret, recoveryCodes };
}

/** The app's current code, with the "last accepted step" cleared in the database so it is not refused as a replay. */
async function freshCode(userId: number, secret: string): Promise<string> {
  await db("users").where({ id: userId }).update({ totp_last_step: null });
  return generate({ secret });
}

/** A 6-digit code that is certainly not one the secret gives now or in the next minute. */
async function wrongCode(secret: string): Promise<string> {
  const step = Math.floor(Date.now() / 30_000);
  const valid = new Set(await Promise.all([-1, 0, 1, 2].map((d) => generate({ secret, epoch: (step + d) * 30 }))));
  const candidate = ["000000", "111111", "222222", "333333", "444444"].find((c) => !valid.has(c));
  if (!candidate) throw new Error("unreachable");
  return candidate;
}

/** The password step: right password, so the agent lands on /login/code with the pending session's form token. */
async function passwordStep(agent: TestAgent, user: { username: string; password: string }): Promise<void> {
  await agent.refreshToken("/login");
  const res = await agent.post("/login", { username: user.username, password: user.password });
  expect(res.status, `password step of ${user.username}`).toBe(303);
  expect(res.headers.location).toBe("/login/code");
  await agent.refreshToken("/login/code");
}

/** Both steps with an authenticator code; the agent ends signed in with a fresh form token. */
async function signInWithAuthenticator(agent: TestAgent, user: { id: number; username: string; password: string }, secret: string) {
  await passwordStep(agent, user);
  const res = await agent.post("/login/code", { code: await freshCode(user.id, secret) });
  expect(res.status).toBe(303);
  await agent.refreshToken("/profile");
}

async function follow(agent: TestAgent, res: Res) {
  expect(res.status).toBe(303);
  return agent.get(res.headers.location ?? "/");
}

async function secondFactorFailures(userId: number): Promise<number> {
  const row = await db("login_failures").where({ scope: "second_factor", key: String(userId) }).first("failures");
  return row ? Number(row.failures) : 0;
}

async function succeededSignIns(userId: number) {
  return listAuditEvents(db, { action: "sign_in.succeeded", targetId: String(userId) });
}

/** Sets when the agent's pending sign-in started (ms since the epoch), as if time had passed. */
async function setPendingStart(agent: TestAgent, startedAt: number): Promise<void> {
  const sid = sidOf(agentSessionCookie(agent));
  const row = await db("sessions").where({ sid }).first("sess");
  if (!row) throw new Error(`no session ${sid}`);
  const sess = typeof row.sess === "string" ? JSON.parse(row.sess) : row.sess;
  if (!sess.pendingSignIn) throw new Error("the session has no pending sign-in");
  sess.pendingSignIn.startedAt = startedAt;
  await db("sessions")
    .where({ sid })
    .update({ sess: JSON.stringify(sess) });
}

function recoveryCodesOn(html: string): string[] {
  return [...html.matchAll(/<li><code>([a-z0-9]{5}-[a-z0-9]{5})<\/code><\/li>/g)].map((m) => m[1] as string);
}

function mailFor(address: string, subject: string) {
  return (m: ReceivedMail) => m.subject === subject && m.envelopeTo.includes(address);
}

describe("the whole flow with Email code", () => {
  it("email on Profile → Confirmation code → Enable 2FA (Email code) → recovery codes once → sign in with the emailed code", async () => {
    await insertTestAdmin(db, { username: "root" });
    const pat = await insertTestUser(db, { username: "pat", fullName: "Pat Doe" });
    const agent = await signedInAgent(app, pat);

    // The address, and its confirmation code.
    const saved = await agent.post("/profile", { fullName: "Pat Doe", title: "", email: "pat@example.test", phone: "" });
    expect(saved.status).toBe(303);
    const verification = await mailServer.waitFor(mailFor("pat@example.test", VERIFICATION_SUBJECT));
    const profile = await agent.get("/profile");
    expect(labelText(profile.text, "confirm-confirmationCode")).toBe("Confirmation code");
    const confirmed = await follow(agent, await agent.post("/profile/email/confirm", { confirmationCode: codeIn(verification) }));
    expect(pageText(confirmed.text)).toContain("pat@example.test (verified)");
    expect(pageText(confirmed.text)).toContain("Email code: we email a code each time you sign in");

    // Enable 2FA with Email code: the recovery codes, once.
    const enabled = await agent.post("/profile/2fa", { method: "email" });
    expect(enabled.status).toBe(303);
    expect(enabled.headers.location).toBe("/profile/2fa/recovery-codes");
    const shown = await agent.get("/profile/2fa/recovery-codes");
    expect(shown.status).toBe(200);
    const codes = recoveryCodesOn(shown.text);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    const again = await agent.get("/profile/2fa/recovery-codes");
    expect(again.status).toBe(303);
    const afterwards = await agent.get(again.headers.location ?? "");
    expect(recoveryCodesOn(afterwards.text)).toEqual([]);
    for (const code of codes) expect(afterwards.text).not.toContain(code);
    expect(pageText(afterwards.text)).toContain("Recovery codes are shown only once.");
    expect(pageText(afterwards.text)).toContain("Two-factor authentication On: Email code");
    expect((await reload(pat.id)).twoFactorMethod).toBe("email");
    await mailServer.waitFor((m) => m.subject === TWO_FACTOR_CHANGED_SUBJECT && m.text.includes("turned on (email code)"));

    // Sign out, then sign in: password, then the emailed code.
    expect((await agent.post("/logout")).headers.location).toBe("/login");
    await db("users").where({ id: pat.id }).update({ last_login_at: null });
    const signInsBefore = (await succeededSignIns(pat.id)).length;
    mailServer.clear();
    await passwordStep(agent, pat);
    expect((await reload(pat.id)).lastLoginAt).toBeNull();
    expect(await succeededSignIns(pat.id)).toHaveLength(signInsBefore);
    const codeMail = await mailServer.waitFor(mailFor("pat@example.test", SIGN_IN_CODE_SUBJECT));
    const codePage = await agent.get("/login/code");
    expect(codePage.status).toBe(200);
    expect(labelText(codePage.text, "code")).toBe("Code");
    expect(codePage.text).toContain('<button type="submit">Verify</button>');
    expect(pageText(codePage.text)).toContain("p…t@example.test");
    expect(isSignedInPage(codePage.text)).toBe(false);

    const verified = await agent.post("/login/code", { code: codeIn(codeMail) });
    expect(verified.status).toBe(303);
    expect(verified.headers.location).toBe("/");
    const home = await agent.get("/");
    expect(home.status).toBe(200);
    expect(isSignedInPage(home.text)).toBe(true);
    expect((await reload(pat.id)).lastLoginAt).toBeInstanceOf(Date);
    const events = await succeededSignIns(pat.id);
    expect(events).toHaveLength(signInsBefore + 1);
    expect(events[0]?.details).toEqual({ method: "password+email" });
  });
});

describe("the whole flow with Authenticator app", () => {
  it("QR code and key shown; one app code turns it on; sign-in takes a later app code (the enrolment code is refused)", async () => {
    await insertTestAdmin(db, { username: "root" });
    const sam = await verifiedUser({ username: "sam" });
    const agent = await signedInAgent(app, sam);

    const profile = await agent.get("/profile");
    expect(pageText(profile.text)).toContain("Authenticator app: a code from an app on your phone");
    const started = await agent.post("/profile/2fa", { method: "totp" });
    expect(started.status).toBe(303);
    expect(started.headers.location).toBe("/profile/2fa/authenticator");
    expect((await reload(sam.id)).twoFactorMethod).toBeNull();

    const page = await agent.get("/profile/2fa/authenticator");
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/<img src="data:image\/png;base64,[A-Za-z0-9+/=]+" alt="QR code to add Gatehouse to your authenticator app"/);
    const key = /<code class="secret-key">([A-Z2-7 ]+)<\/code>/.exec(page.text)?.[1];
    expect(key).toBeDefined();
    const secret = (key as string).replace(/ /g, "");
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(labelText(page.text, "code")).toBe("Code");

    // A wrong code: still off.
    const wrong = await agent.post("/profile/2fa/authenticator", { code: await wrongCode(secret) });
    expect(wrong.status).toBe(422);
    expect(fieldError(wrong.text, "code")).toMatch(/^Invalid code/);
    expect((await reload(sam.id)).twoFactorMethod).toBeNull();

    const enrolmentCode = await generate({ secret });
    const confirmed = await agent.post("/profile/2fa/authenticator", { code: enrolmentCode });
    expect(confirmed.status).toBe(303);
    expect(confirmed.headers.location).toBe("/profile/2fa/recovery-codes");
    expect(recoveryCodesOn((await agent.get("/profile/2fa/recovery-codes")).text)).toHaveLength(10);
    expect((await reload(sam.id)).twoFactorMethod).toBe("totp");
    const stored = await db("users").where({ id: sam.id }).first("totp_secret");
    expect(stored.totp_secret).not.toContain(secret);
    expect(openSecret(testKeys.storage, stored.totp_secret)).toBe(secret);

    await agent.post("/logout");
    await db("users").where({ id: sam.id }).update({ last_login_at: null });
    await passwordStep(agent, sam);
    const codePage = await agent.get("/login/code");
    expect(pageText(codePage.text)).toContain("Open your authenticator app and type the 6-digit code");

    // The code used to confirm the enrolment does not sign in: it was already used (or is too old by now).
    const reused = await agent.post("/login/code", { code: enrolmentCode });
    expect(reused.status).toBe(422);
    expect((await reload(sam.id)).lastLoginAt).toBeNull();

    // The app's code of the next time step is new, and within the one-step window.
    const next = await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 });
    const verified = await agent.post("/login/code", { code: next });
    expect(verified.status).toBe(303);
    expect(verified.headers.location).toBe("/");
    const home = await agent.get("/");
    expect(home.status).toBe(200);
    expect(isSignedInPage(home.text)).toBe(true);
    expect((await reload(sam.id)).lastLoginAt).toBeInstanceOf(Date);
    expect((await succeededSignIns(sam.id))[0]?.details).toEqual({ method: "password+totp" });
  });

  it("enabling 2FA more than 15 minutes after signing in asks for the password again (ASVS 7.5.1)", async () => {
    await insertTestAdmin(db, { username: "root" });
    const user = await verifiedUser({ username: "stale" });
    const agent = await signedInAgent(app, user);
    await setSessionClocks(db, sidOf(agentSessionCookie(agent)), { authAt: Date.now() - 16 * 60_000 });
    const profile = await agent.get("/profile");
    expect(labelText(profile.text, "tf-currentPassword")).toBe("Your password");
    const missing = await agent.post("/profile/2fa", { method: "totp" });
    expect(missing.status).toBe(422);
    expect(fieldError(missing.text, "tf-currentPassword")).toBe("Enter your password: you signed in more than 15 minutes ago.");
    const wrong = await agent.post("/profile/2fa", { method: "totp", currentPassword: "not the password at all" });
    expect(fieldError(wrong.text, "tf-currentPassword")).toBe("Password is not correct.");
    const right = await agent.post("/profile/2fa", { method: "totp", currentPassword: user.password });
    expect(right.status).toBe(303);
    expect(right.headers.location).toBe("/profile/2fa/authenticator");
  });

  it("T7: a restarted enrolment gets a new key; the old key's code no longer confirms", async () => {
    await insertTestAdmin(db, { username: "root" });
    const user = await verifiedUser({ username: "restarts" });
    const agent = await signedInAgent(app, user);
    const keyOf = async () => {
      const page = await agent.get("/profile/2fa/authenticator");
      return (/<code class="secret-key">([A-Z2-7 ]+)<\/code>/.exec(page.text)?.[1] ?? "").replace(/ /g, "");
    };
    await agent.post("/profile/2fa", { method: "totp" });
    const first = await keyOf();
    expect(await keyOf()).toBe(first); // reloading the page keeps the key
    await agent.post("/profile/2fa", { method: "totp" });
    const second = await keyOf();
    expect(second).toMatch(/^[A-Z2-7]{32}$/);
    expect(second).not.toBe(first);

    const old = await agent.post("/profile/2fa/authenticator", { code: await generate({ secret: first }) });
    expect(old.status).toBe(422);
    expect((await reload(user.id)).twoFactorMethod).toBeNull();
    expect((await agent.post("/profile/2fa/authenticator", { code: await generate({ secret: second }) })).status).toBe(303);
    expect((await reload(user.id)).twoFactorMethod).toBe("totp");
  });
});

describe("T1 over HTTP", () => {
  it("T1: one code posted at once from two pending sign-ins of one account signs in exactly one of them", async () => {
    await insertTestAdmin(db, { username: "root" });
    const user = await verifiedUser({ username: "twin" });
    const { secret } = await withAuthenticator(user);
    const first = new TestAgent(app);
    const second = new TestAgent(app);
    await passwordStep(first, user);
    await passwordStep(second, user);

    const code = await freshCode(user.id, secret);
    const results = await Promise.all([first.post("/login/code", { code }), second.post("/login/code", { code })]);
    expect(results.map((r) => r.status).sort()).toEqual([303, 422]);
    const refused = results.find((r) => r.status === 422) as Res;
    expect(fieldError(refused.text, "code")).toBe(SECOND_FACTOR_MESSAGES.replay);

    const homes = await Promise.all([first.get("/"), second.get("/")]);
    expect(homes.map((h) => h.status).sort()).toEqual([200, 303]);
    expect(homes.find((h) => h.status === 303)?.headers.location).toBe("/login/code");
    expect(await succeededSignIns(user.id)).toHaveLength(1);
    expect(await listAuditEvents(db, { action: "two_factor.code_replayed" })).toHaveLength(1);
    const notice = await mailServer.waitFor(mailFor(user.email as string, REPLAY_SUBJECT));
    expect(notice.text).toContain("The second use was refused.");
  });
});

describe("T2 over HTTP", () => {
  it("T2: 5 wrong codes restart the sign-in; the count is per account and persists; after 10 the right code is throttled (429)", async () => {
    await insertTestAdmin(db, { username: "root" });
    const user = await verifiedUser({ username: "brute" });
    const { secret } = await withAuthenticator(user);
    const wrong = await wrongCode(secret);
    const agent = new TestAgent(app);

    for (let round = 1; round <= 2; round++) {
      await passwordStep(agent, user);
      expect(await secondFactorFailures(user.id), `failures kept at the start of round ${round}`).toBe((round - 1) * 5);
      for (let i = 1; i < CODES_PER_PENDING_SIGN_IN; i++) {
        const res = await agent.post("/login/code", { code: wrong });
        expect(res.status).toBe(422);
        expect(fieldError(res.text, "code")).toBe(SECOND_FACTOR_MESSAGES.invalid);
      }
      const fifth = await agent.post("/login/code", { code: wrong });
      expect(fifth.status).toBe(401);
      expect(pageText(fifth.text)).toContain("Too many wrong codes. Sign in again with your username and password.");
      expect(fifth.text).toContain('action="/login"');
      expect((await agent.get("/login/code")).headers.location).toBe("/login");
      expect((await agent.get("/")).status).toBe(303);
    }
    expect(await secondFactorFailures(user.id)).toBe(10);

    await passwordStep(agent, user);
    const right = await agent.post("/login/code", { code: await freshCode(user.id, secret) });
    expect(pageText(right.text)).toContain(CODE_MESSAGES.throttled);
    const home = await agent.get("/");
    expect(home.status).toBe(303);
    expect(home.headers.location).not.toBe("/");
    expect(await succeededSignIns(user.id)).toHaveLength(0);
    // A throttled attempt answers 429 Too Many Requests, like every other limit in the app.
    expect(right.status).toBe(429);
  });

  it("T2: once the 15 minutes have passed (moved in the database) the right code signs in", async () => {
    await insertTestAdmin(db, { username: "root" });
    const user = await verifiedUser({ username: "patient" });
    const { secret } = await withAuthenticator(user);
    await db("login_failures")
      .insert({
        scope: "second_factor",
        key: String(user.id),
        failures: 10,
        window_started_at: db.raw("now() - interval '16 minutes'"),
        last_failed_at: db.raw("now() - interval '16 minutes'"),
      })
      .onConflict(["scope", "key"])
      .merge();
    const agent = new TestAgent(app);
    await passwordStep(agent, user);
    const res = await agent.post("/login/code", { code: await freshCode(user.id, secret) });
    expect(res.status).toBe(303);
    expect((await agent.get("/")).status).toBe(200);
  });
});

describe("T3: between the password step and the code step", () => {
  it("T3: every page leads to /login/code, nobody is signed in, and the pending state ends after 5 minutes", async () => {
    await insertTestAdmin(db, { username: "root" });
    const admin = await verifiedUser({ username: "quartermaster", fullName: "Quinn Master", isAdmin: true });
    const { secret } = await withAuthenticator(admin);
    const agent = new TestAgent(app);
    await passwordStep(agent, admin);

    for (const url of ["/admin/users", "/systems/1", "/profile", "/admin/settings/smtp", "/", "/admin/settings/general"]) {
      const res = await agent.get(url);
      expect(res.status, url).toBe(303);
      expect(res.headers.location, url).toBe("/login/code");
    }
    const change = await agent.post("/profile", { fullName: "Hijacked", title: "", phone: "" });
    expect(change.status).toBe(303);
    expect(change.headers.location).toBe("/login/code");
    expect((await reload(admin.id)).fullName).toBe("Quinn Master");

    const codePage = await agent.get("/login/code");
    expect(codePage.status).toBe(200);
    expect(hasAdminNavigation(codePage.text)).toBe(false);
    expect(isSignedInPage(codePage.text)).toBe(false);
    expect(pageText(codePage.text)).not.toContain("quartermaster");
    expect(pageText(codePage.text)).not.toContain("Quinn Master");

    // Still pending just under 5 minutes later...
    await setPendingStart(agent, Date.now() - 4 * 60_000 - 50_000);
    expect((await agent.get("/login/code")).status).toBe(200);
    // ...and gone just over.
    await setPendingStart(agent, Date.now() - 5 * 60_000 - 1_000);
    const expired = await agent.get("/login/code");
    expect(expired.status).toBe(303);
    expect(expired.headers.location).toBe("/login?expired=1");
    const login = await agent.get(expired.headers.location ?? "");
    expect(pageText(login.text)).toContain("Your session expired. Sign in again to continue.");
    expect((await agent.get("/profile")).headers.location).toBe("/login?returnTo=%2Fprofile");

    const late = await agent.post("/login/code", { code: await freshCode(admin.id, secret) });
    expect(late.status).toBe(303);
    expect(late.headers.location).toBe("/login");
    expect((await agent.get("/")).headers.location).not.toBe("/login/code");
    expect((await agent.get("/")).status).toBe(303);
    expect(await succeededSignIns(admin.id)).toHaveLength(0);
  });
});

describe("T4: only the server's state leads through the steps", () => {
  it("T4: POST /login/code with no pending sign-in, or with forged fields, signs nobody in", async () => {
    const root = await insertTestAdmin(db, { username: "root" });
    const user = await verifiedUser({ username: "forger" });
    const { secret } = await withAuthenticator(user);

    const stranger = new TestAgent(app);
    await stranger.refreshToken("/login");
    const attempts: Record<string, string>[] = [{ code: await freshCode(user.id, secret) }, { code: "123456", step: "done", userId: String(root.id) }];
    for (const fields of attempts) {
      const res = await stranger.post("/login/code", fields);
      expect([303, 400, 403], JSON.stringify(fields)).toContain(res.status);
      if (res.status === 303) expect(res.headers.location).toBe("/login");
      const home = await stranger.get("/");
      expect(home.status).toBe(303);
      expect(home.headers.location).toMatch(/^\/login/);
    }

    // With a pending sign-in as "forger", hidden fields naming another account or a finished step change nothing.
    const agent = new TestAgent(app);
    await passwordStep(agent, user);
    const forgeries: Record<string, string>[] = [{ step: "done" }, { userId: String(root.id) }, { method: "none" }];
    for (const forged of forgeries) {
      const res = await agent.post("/login/code", { code: await wrongCode(secret), ...forged });
      expect([400, 403, 422], JSON.stringify(forged)).toContain(res.status);
      expect((await agent.get("/")).headers.location).toBe("/login/code");
    }
    const login = await agent.post("/login", { username: "root", password: WRONG_PASSWORD, step: "done" });
    expect([400, 401]).toContain(login.status);
    expect(await listAuditEvents(db, { action: "sign_in.succeeded" })).toHaveLength(0);

    const res = await agent.post("/login/code", { code: await freshCode(user.id, secret) });
    expect(res.status).toBe(303);
    const home = await agent.get("/");
    expect(home.status).toBe(200);
    expect(hasAdminNavigation(home.text)).toBe(false);
    expect((await listAuditEvents(db, { action: "sign_in.succeeded" })).map((e) => e.targetId)).toEqual([String(user.id)]);
  });

  it("T4: confirming an authenticator without having started enrolment, or with a forged key, is refused", async () => {
    await insertTestAdmin(db, { username: "root" });
    const user = await verifiedUser({ username: "shortcut" });
    const agent = await signedInAgent(app, user);
    const attackerSecret = (await startTotpEnrolment(testKeys, user)).secret;

    const direct = await agent.post("/profile/2fa/authenticator", { code: await generate({ secret: attackerSecret }) });
    expect(direct.status).toBe(303);
    expect(direct.headers.location).toBe("/profile#two-factor");
    expect((await agent.get("/profile/2fa/authenticator")).status).toBe(303);
    const forgedKey = await agent.post("/profile/2fa/authenticator", { code: await generate({ secret: attackerSecret }), secret: attackerSecret });
    expect([303, 400, 403]).toContain(forgedKey.status);
    expect((await reload(user.id)).twoFactorMethod).toBeNull();

    // With an enrolment under way, a key sent along with the code is not taken either.
    await agent.post("/profile/2fa", { method: "totp" });
    const withKey = await agent.post("/profile/2fa/authenticator", { code: await generate({ secret: attackerSecret }), secret: attackerSecret });
    expect([400, 403]).toContain(withKey.status);
    const attackerCode = await agent.post("/profile/2fa/authenticator", { code: await wrongCode(attackerSecret) });
    expect(attackerCode.status).toBe(422);
    expect((await reload(user.id)).twoFactorMethod).toBeNull();
    const forgedStep = await agent.post("/profile/2fa", { method: "email", step: "done" });
    expect([400, 403]).toContain(forgedStep.status);
    expect((await reload(user.id)).twoFactorMethod).toBeNull();
    expect((await agent.get("/profile/2fa/recovery-codes")).status).toBe(303);
    expect(await listAuditEvents(db, { action: "two_factor.enabled" })).toHaveLength(0);
  });
});

describe("T5: malformed codes", () => {
  const BAD_CODES = ["12345", "1234567", "abcdef", " 123 456", "١٢٣٤٥٦"];

  it("T5: each is 'Invalid code' on the Code field, counted as a failure, never a 500 (authenticator)", async () => {
    await insertTestAdmin(db, { username: "root" });
    const user = await verifiedUser({ username: "typo" });
    await withAuthenticator(user);
    const agent = new TestAgent(app);
    await passwordStep(agent, user);
    for (const [i, code] of BAD_CODES.entries()) {
      // Five wrong codes would restart the sign-in: the fifth goes into a new one.
      if (i === CODES_PER_PENDING_SIGN_IN - 1) await passwordStep(agent, user);
      const res = await agent.post("/login/code", { code });
      expect(res.status, JSON.stringify(code)).toBe(422);
      expect(fieldError(res.text, "code"), JSON.stringify(code)).toBe(SECOND_FACTOR_MESSAGES.invalid);
      expect(isInvalid(res.text, "code")).toBe(true);
      expect(await secondFactorFailures(user.id)).toBe(i + 1);
    }
    const failed = await listAuditEvents(db, { action: "sign_in.second_factor_failed" });
    expect(failed).toHaveLength(5);
    expect(failed.every((e) => e.details.reason === "invalid")).toBe(true);
  });

  it("T5: the same with Email code", async () => {
    await insertTestAdmin(db, { username: "root" });
    const user = await verifiedUser({ username: "mailtypo" });
    await db("users").where({ id: user.id }).update({ two_factor_method: "email" });
    const agent = new TestAgent(app);
    await passwordStep(agent, user);
    await mailServer.waitFor(mailFor(user.email as string, SIGN_IN_CODE_SUBJECT));
    for (const [i, code] of BAD_CODES.slice(0, CODES_PER_PENDING_SIGN_IN - 1).entries()) {
      const res = await agent.post("/login/code", { code });
      expect(res.status, JSON.stringify(code)).toBe(422);
      expect(fieldError(res.text, "code"), JSON.stringify(code)).toBe(SECOND_FACTOR_MESSAGES.invalid);
      expect(await secondFactorFailures(user.id)).toBe(i + 1);
    }
  });
});

describe("T8 over HTTP: turning 2FA off on the Profile", () => {
  it("T8: needs the password and the current code; a notice is emailed; 'sign out my other sessions' ends the other session", async () => {
    await insertTestAdmin(db, { username: "root" });
    const user = await verifiedUser({ username: "owner" });
    const { secret } = await withAuthenticator(user);
    const here = new TestAgent(app);
    const elsewhere = new TestAgent(app);
    await signInWithAuthenticator(here, user, secret);
    await signInWithAuthenticator(elsewhere, user, secret);

    const profile = await here.get("/profile");
    expect(labelText(profile.text, "off-currentPassword")).toBe("Your password");
    expect(labelText(profile.text, "off-code")).toBe("Code from your authenticator app");

    const badPassword = await here.post("/profile/2fa/disable", {
      currentPassword: WRONG_PASSWORD,
      code: await freshCode(user.id, secret),
      endOtherSessions: "on",
    });
    expect(badPassword.status).toBe(422);
    expect(fieldError(badPassword.text, "off-currentPassword")).toBe("Current password is not correct.");
    const badCode = await here.post("/profile/2fa/disable", { currentPassword: user.password, code: await wrongCode(secret), endOtherSessions: "on" });
    expect(badCode.status).toBe(422);
    expect(fieldError(badCode.text, "off-code")).toBe(SECOND_FACTOR_MESSAGES.invalid);
    const noCode = await here.post("/profile/2fa/disable", { currentPassword: user.password, endOtherSessions: "on" });
    expect(noCode.status).toBe(422);
    expect((await reload(user.id)).twoFactorMethod).toBe("totp");
    expect((await elsewhere.get("/profile")).status).toBe(200);

    const off = await here.post("/profile/2fa/disable", { currentPassword: user.password, code: await freshCode(user.id, secret), endOtherSessions: "on" });
    expect(off.status).toBe(303);
    const page = await here.get(off.headers.location ?? "");
    expect(page.status).toBe(200);
    expect(pageText(page.text)).toContain("Two-factor authentication is off. Your other sessions were signed out.");
    expect((await reload(user.id)).twoFactorMethod).toBeNull();
    const gone = await elsewhere.get("/profile");
    expect(gone.status).toBe(303);
    expect(gone.headers.location).toMatch(/^\/login/);
    const notice = await mailServer.waitFor((m) => mailFor(user.email as string, TWO_FACTOR_CHANGED_SUBJECT)(m) && m.text.includes("turned off by you"));
    expect(notice.text).toContain('"owner"');
  });

  it("T8: without that option the other session stays; an email-code account needs only the password", async () => {
    await insertTestAdmin(db, { username: "root" });
    const user = await verifiedUser({ username: "keeps" });
    const here = await signedInAgent(app, user);
    const elsewhere = await signedInAgent(app, user);
    expect((await here.post("/profile/2fa", { method: "email" })).status).toBe(303);
    await here.refreshToken("/profile");
    const profile = await here.get("/profile");
    expect(labelText(profile.text, "off-code")).toBeUndefined();
    const off = await here.post("/profile/2fa/disable", { currentPassword: user.password });
    expect(off.status).toBe(303);
    expect((await reload(user.id)).twoFactorMethod).toBeNull();
    expect((await elsewhere.get("/profile")).status).toBe(200);
  });

  it("T8: new recovery codes need the password and the code; the old ones stop working", async () => {
    await insertTestAdmin(db, { username: "root" });
    const user = await verifiedUser({ username: "renews" });
    const { secret, recoveryCodes } = await withAuthenticator(user);
    const agent = new TestAgent(app);
    await signInWithAuthenticator(agent, user, secret);

    const bad = await agent.post("/profile/2fa/recovery-codes", { currentPassword: WRONG_PASSWORD, code: await freshCode(user.id, secret) });
    expect(bad.status).toBe(422);
    expect(fieldError(bad.text, "rc-currentPassword")).toBe("Current password is not correct.");
    const made = await agent.post("/profile/2fa/recovery-codes", { currentPassword: user.password, code: await freshCode(user.id, secret) });
    expect(made.status).toBe(303);
    const fresh = recoveryCodesOn((await agent.get(made.headers.location ?? "")).text);
    expect(fresh).toHaveLength(10);
    expect(fresh.some((c) => recoveryCodes.includes(c))).toBe(false);
    await mailServer.waitFor((m) => mailFor(user.email as string, TWO_FACTOR_CHANGED_SUBJECT)(m) && m.text.includes("new recovery codes"));

    await agent.post("/logout");
    await passwordStep(agent, user);
    expect((await agent.post("/login/code", { code: recoveryCodes[0] as string })).status).toBe(422);
    expect((await agent.post("/login/code", { code: fresh[0] as string })).status).toBe(303);
  });
});

describe("T9 over HTTP: recovery codes", () => {
  it("T9: a recovery code signs in once; the second time it fails", async () => {
    await insertTestAdmin(db, { username: "root" });
    const user = await verifiedUser({ username: "lostphone" });
    const { recoveryCodes } = await withAuthenticator(user);
    const code = recoveryCodes[4] as string;
    const agent = new TestAgent(app);

    await passwordStep(agent, user);
    const first = await agent.post("/login/code", { code });
    expect(first.status).toBe(303);
    const home = await agent.get("/");
    expect(home.status).toBe(200);
    await agent.refreshToken("/profile");
    expect(pageText((await agent.get("/profile")).text)).toContain("9 of 10 recovery codes are unused.");
    await agent.post("/logout");

    await passwordStep(agent, user);
    const second = await agent.post("/login/code", { code });
    expect(second.status).toBe(422);
    expect(fieldError(second.text, "code")).toBe(SECOND_FACTOR_MESSAGES.invalid);
    expect((await agent.get("/")).headers.location).toBe("/login/code");
    expect(await secondFactorFailures(user.id)).toBe(1);
  });
});

describe("an administrator turns off a user's 2FA", () => {
  it("from the user page: audited, the user's sessions end, a notice is emailed; not on oneself", async () => {
    const admin = await verifiedUser({ username: "root", isAdmin: true });
    const user = await verifiedUser({ username: "locked" });
    const { secret } = await withAuthenticator(user);
    const userAgent = new TestAgent(app);
    await signInWithAuthenticator(userAgent, user, secret);
    const adminAgent = await signedInAgent(app, admin);

    const page = await adminAgent.get(`/admin/users/${user.id}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`action="/admin/users/${user.id}/2fa/disable"`);
    await adminAgent.refreshToken(`/admin/users/${user.id}`);
    const res = await adminAgent.post(`/admin/users/${user.id}/2fa/disable`);
    expect(res.status).toBe(303);
    const after = await adminAgent.get(res.headers.location ?? "");
    expect(pageText(after.text)).toContain("Two-factor authentication is off for locked; their sessions were ended.");
    expect(after.text).not.toContain(`action="/admin/users/${user.id}/2fa/disable"`);

    expect((await reload(user.id)).twoFactorMethod).toBeNull();
    const [event] = await listAuditEvents(db, { action: "two_factor.disabled_by_admin" });
    expect(event).toMatchObject({ actorId: admin.id, actorUsername: "root", targetId: String(user.id) });
    const kicked = await userAgent.get("/profile");
    expect(kicked.status).toBe(303);
    expect(kicked.headers.location).toMatch(/^\/login/);
    const notice = await mailServer.waitFor((m) => mailFor(user.email as string, TWO_FACTOR_CHANGED_SUBJECT)(m) && m.text.includes("turned off"));
    expect(notice.text).toContain("turned off by the administrator root");
    // The user can sign in again with the password alone.
    await userAgent.refreshToken("/login");
    const again = await userAgent.post("/login", { username: user.username, password: user.password });
    expect(again.headers.location).toBe("/");

    // Not on oneself: no button, and a post is refused.
    await db("users").where({ id: admin.id }).update({ two_factor_method: "email" });
    const own = await adminAgent.get(`/admin/users/${admin.id}`);
    expect(own.text).not.toContain(`action="/admin/users/${admin.id}/2fa/disable"`);
    await adminAgent.refreshToken(`/admin/users/${admin.id}`);
    const self = await adminAgent.post(`/admin/users/${admin.id}/2fa/disable`);
    expect(self.status).toBe(403);
    expect((await reload(admin.id)).twoFactorMethod).toBe("email");
    expect(await listAuditEvents(db, { action: "two_factor.disabled_by_admin" })).toHaveLength(1);
  });
});

describe("Require two-factor authentication for administrators", () => {
  it("an administrator without 2FA is sent to the Profile, can still reach Alert Services, and is free once 2FA is on", async () => {
    const admin = await verifiedUser({ username: "root", isAdmin: true });
    await saveGeneralSettings(db, { id: admin.id, username: "root", clientIp: null, requestId: null, isAdmin: true }, true, 0, { requireAdminTwoFactor: true });
    const agent = await signedInAgent(app, admin);

    for (const url of ["/", "/admin/users", "/admin/settings/general", "/systems"]) {
      const res = await agent.get(url);
      expect(res.status, url).toBe(303);
      expect(res.headers.location, url).toBe("/profile#two-factor");
    }
    const profile = await agent.get("/profile");
    expect(profile.status).toBe(200);
    expect(pageText(profile.text)).toContain("Administrators must use two-factor authentication.");
    expect((await agent.get("/admin/settings/smtp")).status).toBe(200);

    expect((await agent.post("/profile/2fa", { method: "email" })).status).toBe(303);
    expect((await agent.get("/")).status).toBe(200);
    expect((await agent.get("/admin/users")).status).toBe(200);
  });

  it("a user who is not an administrator is not affected", async () => {
    const admin = await verifiedUser({ username: "root", isAdmin: true });
    await saveGeneralSettings(db, { id: admin.id, username: "root", clientIp: null, requestId: null, isAdmin: true }, true, 0, { requireAdminTwoFactor: true });
    const user = await insertTestUser(db, { username: "member" });
    const agent = await signedInAgent(app, user);
    expect((await agent.get("/")).status).toBe(200);
    const profile = await agent.get("/profile");
    expect(pageText(profile.text)).not.toContain("Administrators must use two-factor authentication.");
  });
});

describe("E4 under parallel posts: Send a new code", () => {
  async function signInCodesOf(userId: number): Promise<number> {
    const row = await db("email_codes").where({ user_id: userId, purpose: "sign_in" }).count<{ count: string }[]>("* as count").first();
    return Number(row?.count ?? 0);
  }

  it("E4: 20 parallel requests for a new code issue and mail one, not one each (one a minute per account)", async () => {
    await insertTestAdmin(db, { username: "root" });
    const user = await verifiedUser({ username: "presser" });
    await db("users").where({ id: user.id }).update({ two_factor_method: "email" });
    const agent = new TestAgent(app);
    await passwordStep(agent, user);
    await mailServer.waitFor(mailFor(user.email as string, SIGN_IN_CODE_SUBJECT));
    expect(await signInCodesOf(user.id)).toBe(1);
    // The first code is older than a minute: one new code is due, and only one.
    await db("email_codes").where({ user_id: user.id }).update({ created_at: db.raw("now() - interval '61 seconds'") });

    const answers = await Promise.all(Array.from({ length: 20 }, () => agent.post("/login/code/resend")));
    expect(answers.every((res) => res.status === 303)).toBe(true);
    expect(await signInCodesOf(user.id)).toBe(2);
    const queued = await db("outbox").where({ subject: SIGN_IN_CODE_SUBJECT }).count<{ count: string }[]>("* as count").first();
    expect(Number(queued?.count)).toBe(2);
    expect(mailServer.to(user.email as string).filter((m) => m.subject === SIGN_IN_CODE_SUBJECT)).toHaveLength(2);
  });
});
