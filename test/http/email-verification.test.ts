import type { Express } from "express";
import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import * as outbox from "../../src/repositories/outbox.ts";
import { findUserById, findUserByUsername } from "../../src/repositories/users/index.ts";
import { EMAIL_TAKEN, REAUTH_AFTER_MS } from "../../src/services/email-verification.ts";
import type { MailOutbox } from "../../src/services/mail-outbox.ts";
import { EMAIL_NOT_CONFIGURED } from "../../src/services/mail-settings.ts";
import { CODE_MESSAGES } from "../../src/services/one-time-codes.ts";
import type { User } from "../../src/types/user.ts";
import { signedInAfterChoosingOwnPassword, signedInAgent, type TestAgent } from "../helpers/agent.ts";
import { DEFAULT_PASSWORD } from "../helpers/factories.ts";
import { errorSummary, fieldError, inputValue, isInvalid, labelText, pageText } from "../helpers/html.ts";
import { codeIn, configureSmtp, type ReceivedMail, type TestMailServer , useAppWithMail } from "../helpers/mail.ts";
import { agentSessionCookie, setSessionClocks, sidOf } from "../helpers/sign-in.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

let db: Db;
let app: Express;
let mailOutbox: MailOutbox;
let mailServer: TestMailServer;

useAppWithMail(
  (parts) => {
    ({ db, app, mailOutbox, mailServer } = parts);
  },
  { configure: false },
);

const VERIFICATION = "[AUTH] Gatehouse verification code";
const CHANGE_NOTICE = "[AUTH] Gatehouse email change requested";
const OLD = "pat.old@example.com";
const NEW = "pat.new@example.com";

async function reload(user: { id: number }): Promise<User> {
  const current = await findUserById(db, user.id);
  if (!current) throw new Error(`user ${user.id} is gone`);
  return current;
}

function addressState(user: User) {
  return { email: user.email, emailVerified: user.emailVerified, pendingEmail: user.pendingEmail };
}

/** A user whose address `email` is verified (the console has an administrator too), signed in just now. */
async function signedInUser(username = "pat", email: string | null = OLD) {
  if (!(await findUserByUsername(db, "root"))) await insertTestAdmin(db, { username: "root", email: "root@example.test" });
  const user = await insertTestUser(db, { username, fullName: `${username} Doe`, email });
  if (email) await db("users").where({ id: user.id }).update({ email_verified: true });
  const agent = await signedInAgent(app, user);
  return { user: { ...(await reload(user)), password: user.password }, agent };
}

async function signedInAdmin() {
  const admin = await insertTestAdmin(db, { username: "root", email: "root@example.test" });
  return { admin, agent: await signedInAgent(app, admin) };
}

/** The Your details form as the browser sends it: the stored values, then `changes`. */
async function profileForm(user: { id: number }, changes: Record<string, string> = {}): Promise<Record<string, string>> {
  const current = await reload(user);
  return { fullName: current.fullName, title: current.title, email: current.pendingEmail ?? current.email ?? "", phone: current.phone, ...changes };
}

/** The administrator's edit form of a user page: the stored values, then `changes`. */
async function adminEditForm(user: { id: number }, changes: Record<string, string> = {}): Promise<Record<string, string>> {
  const current = await reload(user);
  return {
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
}

async function follow(agent: TestAgent, res: { status: number; headers: Record<string, string> }) {
  expect(res.status).toBe(303);
  return agent.get(res.headers.location ?? "/");
}

function verificationsTo(address: string): ReceivedMail[] {
  return mailServer.to(address).filter((m) => m.subject === VERIFICATION);
}

/** The one verification message sent to `address` so far (the newest if `newest`). */
function latestCode(address: string): string {
  const mail = verificationsTo(address).at(-1);
  if (!mail) throw new Error(`no verification code was sent to ${address}`);
  return codeIn(mail);
}

function wrongFor(code: string): string {
  return String((Number(code) + 1) % 1_000_000).padStart(6, "0");
}

/** Moves the account's codes a minute into the past: the next resend is allowed without the test sleeping. */
async function aMinuteLater(userId: number): Promise<void> {
  await db("email_codes")
    .where({ user_id: userId })
    .update({ created_at: db.raw("created_at - interval '61 seconds'"), expires_at: db.raw("expires_at - interval '61 seconds'") });
}

/** The sign-in of the agent's session happened `ms` ago. */
async function signedInAgo(agent: TestAgent, ms: number): Promise<void> {
  await setSessionClocks(db, sidOf(agentSessionCookie(agent)), { authAt: Date.now() - ms });
}

async function outboxCount(): Promise<number> {
  const [row] = await db("outbox").count<{ count: string }[]>("* as count");
  return Number(row?.count ?? 0);
}

const PROFILE_CODE_FIELD = "confirm-confirmationCode";

describe("Profile: a new email address (E5)", () => {
  it("E5: saving a new email sends the code to the new address; the old one stays in use and gets a notice; the code verifies the new one", async () => {
    await configureSmtp(db, mailServer);
    const { user, agent } = await signedInUser();
    const saved = await agent.post("/profile", await profileForm(user, { email: NEW }));
    expect(saved.headers.location).toBe("/profile");
    const page = await follow(agent, saved);
    expect(page.status).toBe(200);
    expect(pageText(page.text)).toContain("Profile saved.");
    expect(pageText(page.text)).toContain(`A confirmation code was sent to ${NEW}. Enter it in Confirmation code.`);
    expect(labelText(page.text, PROFILE_CODE_FIELD)).toBe("Confirmation code");
    expect(pageText(page.text)).toContain(`We sent a 6-digit code to ${NEW}`);
    expect(pageText(page.text)).toContain(`${OLD} (verified); changing to ${NEW} once confirmed`);
    expect(inputValue(page.text, "email")).toBe(NEW);

    // Pending: the account's address is still the old, verified one.
    expect(addressState(await reload(user))).toEqual({ email: OLD, emailVerified: true, pendingEmail: NEW });

    const [mail, ...more] = verificationsTo(NEW);
    expect(more).toHaveLength(0);
    expect(mail?.subject).toBe(VERIFICATION);
    expect(mail?.text).toContain("Confirmation code");
    const code = codeIn(mail as ReceivedMail);
    expect(verificationsTo(OLD)).toHaveLength(0);
    const notice = await mailServer.waitFor((m) => m.subject === CHANGE_NOTICE);
    expect(notice.envelopeTo).toEqual([OLD]);
    expect(notice.text).toContain(NEW);
    expect(notice.text).toContain("stays in use until the new one is confirmed");
    expect(notice.text).not.toContain(code);
    expect(mailServer.to(NEW).filter((m) => m.subject === CHANGE_NOTICE)).toHaveLength(0);

    const confirmed = await agent.post("/profile/email/confirm", { confirmationCode: code });
    const after = await follow(agent, confirmed);
    expect(pageText(after.text)).toContain(`Email address ${NEW} verified.`);
    expect(pageText(after.text)).toContain(`${NEW} (verified)`);
    expect(labelText(after.text, PROFILE_CODE_FIELD)).toBeUndefined();
    expect(addressState(await reload(user))).toEqual({ email: NEW, emailVerified: true, pendingEmail: null });
    const [event] = await listAuditEvents(db, { action: "email.verified", targetId: String(user.id) });
    expect(event?.actorId).toBe(user.id);
    expect(JSON.stringify(await listAuditEvents(db, { limit: 1000 }))).not.toContain(code);
  });

  it("E5: typing the old address back cancels the pending change; nothing is sent", async () => {
    await configureSmtp(db, mailServer);
    const { user, agent } = await signedInUser();
    await agent.post("/profile", await profileForm(user, { email: NEW }));
    await mailOutbox.drain();
    mailServer.clear();
    const page = await follow(agent, await agent.post("/profile", await profileForm(user, { email: OLD })));
    expect(pageText(page.text)).toContain("The email change was cancelled; your address stays as it was.");
    expect(addressState(await reload(user))).toEqual({ email: OLD, emailVerified: true, pendingEmail: null });
    await mailOutbox.drain();
    expect(mailServer.messages).toHaveLength(0);
  });

  it("E5: a sign-in older than 15 minutes needs the password for a new email; without it or with a wrong one nothing changes and nothing is sent", async () => {
    await configureSmtp(db, mailServer);
    const { user, agent } = await signedInUser();
    const fresh = await agent.get("/profile");
    expect(labelText(fresh.text, "password")).toBeUndefined();

    await signedInAgo(agent, REAUTH_AFTER_MS - 60_000);
    expect(labelText((await agent.get("/profile")).text, "password")).toBeUndefined();
    await signedInAgo(agent, REAUTH_AFTER_MS + 60_000);
    const page = await agent.get("/profile");
    expect(labelText(page.text, "password")).toBe("Password to confirm a new email");

    const missing = await agent.post("/profile", await profileForm(user, { email: NEW, fullName: "Typed Name" }));
    expect(missing.status).toBe(422);
    expect(fieldError(missing.text, "password")).toBe("Enter your password to change your email: you signed in more than 15 minutes ago.");
    expect(errorSummary(missing.text)?.links).toContain("password");
    expect(inputValue(missing.text, "email")).toBe(NEW);
    expect(inputValue(missing.text, "fullName")).toBe("Typed Name");

    const wrong = await agent.post("/profile", await profileForm(user, { email: NEW, password: "not my password at all" }));
    expect(wrong.status).toBe(422);
    expect(fieldError(wrong.text, "password")).toBe("Password is not correct.");
    expect(wrong.text).not.toContain("not my password at all");

    expect(await reload(user)).toMatchObject({ email: OLD, emailVerified: true, pendingEmail: null, fullName: user.fullName });
    expect(await outboxCount()).toBe(0);
    expect(mailServer.messages).toHaveLength(0);

    // Other details save without the password; the new email with it.
    const nameOnly = await agent.post("/profile", await profileForm(user, { fullName: "Renamed Pat" }));
    expect(nameOnly.status).toBe(303);
    expect((await reload(user)).fullName).toBe("Renamed Pat");
    const withPassword = await agent.post("/profile", await profileForm(user, { email: NEW, password: user.password }));
    expect(withPassword.status).toBe(303);
    expect((await reload(user)).pendingEmail).toBe(NEW);
    expect(verificationsTo(NEW)).toHaveLength(1);
  });
});

describe("Profile: wrong, old, expired and foreign codes (E1, E2, E3)", () => {
  it("E1: a wrong code names Confirmation code and echoes nothing; after 5 wrong tries the code is dead and the right one fails; a new code works", async () => {
    await configureSmtp(db, mailServer);
    const { user, agent } = await signedInUser();
    await agent.post("/profile", await profileForm(user, { email: NEW }));
    const code = latestCode(NEW);
    const wrong = wrongFor(code);

    const first = await agent.post("/profile/email/confirm", { confirmationCode: wrong });
    expect(first.status).toBe(422);
    expect(fieldError(first.text, PROFILE_CODE_FIELD)).toBe(CODE_MESSAGES.invalid);
    expect(isInvalid(first.text, "confirmationCode", PROFILE_CODE_FIELD)).toBe(true);
    expect(errorSummary(first.text)?.links).toEqual([PROFILE_CODE_FIELD]);
    expect(inputValue(first.text, "confirmationCode")).toBe("");
    expect(first.text).not.toContain(wrong);
    expect(first.text).not.toContain(code);

    for (let attempt = 2; attempt <= 4; attempt++) {
      const res = await agent.post("/profile/email/confirm", { confirmationCode: wrong });
      expect(fieldError(res.text, PROFILE_CODE_FIELD), `attempt ${attempt}`).toBe(CODE_MESSAGES.invalid);
    }
    const fifth = await agent.post("/profile/email/confirm", { confirmationCode: wrong });
    expect(fifth.status).toBe(422);
    expect(fieldError(fifth.text, PROFILE_CODE_FIELD)).toBe("This code stopped working after 5 wrong tries. Request a new code.");
    const sixth = await agent.post("/profile/email/confirm", { confirmationCode: code });
    expect(sixth.status).toBe(422);
    expect(fieldError(sixth.text, PROFILE_CODE_FIELD)).toBe(CODE_MESSAGES.dead);
    expect(sixth.text).not.toContain(code);
    expect(addressState(await reload(user))).toEqual({ email: OLD, emailVerified: true, pendingEmail: NEW });

    await aMinuteLater(user.id);
    const resent = await follow(agent, await agent.post("/profile/email/resend"));
    expect(pageText(resent.text)).toContain(`A confirmation code was sent to ${NEW}.`);
    expect(verificationsTo(NEW)).toHaveLength(2);
    const fresh = latestCode(NEW);
    const confirmed = await agent.post("/profile/email/confirm", { confirmationCode: fresh });
    expect(confirmed.status).toBe(303);
    expect(addressState(await reload(user))).toEqual({ email: NEW, emailVerified: true, pendingEmail: null });
  });

  it("E1: after a resend the old code no longer works; the newest does", async () => {
    await configureSmtp(db, mailServer);
    const { user, agent } = await signedInUser();
    await agent.post("/profile", await profileForm(user, { email: NEW }));
    const old = latestCode(NEW);
    await aMinuteLater(user.id);
    await agent.post("/profile/email/resend");
    expect(verificationsTo(NEW)).toHaveLength(2);
    const newest = latestCode(NEW);
    if (newest !== old) {
      const res = await agent.post("/profile/email/confirm", { confirmationCode: old });
      expect(res.status).toBe(422);
      expect(fieldError(res.text, PROFILE_CODE_FIELD)).toBe("Invalid code. Check the newest message and type its 6 digits.");
      expect((await reload(user)).pendingEmail).toBe(NEW);
    }
    expect((await agent.post("/profile/email/confirm", { confirmationCode: newest })).status).toBe(303);
    expect((await reload(user)).email).toBe(NEW);
  });

  it("E2: an expired code says 'Code expired or already used'; the address stays pending and the old one in use", async () => {
    await configureSmtp(db, mailServer);
    const { user, agent } = await signedInUser();
    await agent.post("/profile", await profileForm(user, { email: NEW }));
    const code = latestCode(NEW);
    await db("email_codes").where({ user_id: user.id }).update({ expires_at: db.raw("now() - interval '1 second'") });
    const res = await agent.post("/profile/email/confirm", { confirmationCode: code });
    expect(res.status).toBe(422);
    expect(fieldError(res.text, PROFILE_CODE_FIELD)).toBe("Code expired or already used. Request a new code.");
    expect(addressState(await reload(user))).toEqual({ email: OLD, emailVerified: true, pendingEmail: NEW });
  });

  it("E2: the code entered again after it was used (a second tab, a double submit) changes nothing and says why; never a 500", async () => {
    await configureSmtp(db, mailServer);
    const { user, agent } = await signedInUser();
    await agent.post("/profile", await profileForm(user, { email: NEW }));
    const code = latestCode(NEW);
    const first = await follow(agent, await agent.post("/profile/email/confirm", { confirmationCode: code }));
    expect(pageText(first.text)).toContain(`Email address ${NEW} verified.`);
    const verified = await reload(user);
    const again = await agent.post("/profile/email/confirm", { confirmationCode: code });
    expect(again.status).toBe(303);
    // What happened is shown to the person on the profile, not only sent as a status code.
    expect(pageText((await follow(agent, again)).text)).toContain(`No code is needed: ${NEW} is already verified.`);
    expect(await reload(user)).toMatchObject({ ...addressState(verified), version: verified.version });
  });

  it("E3: user A's code typed in user B's session fails; both accounts stay as they were and A's code still works for A", async () => {
    await configureSmtp(db, mailServer);
    const a = await signedInUser("alice", "alice@example.com");
    const b = await signedInUser("bob", "bob@example.com");
    await a.agent.post("/profile", await profileForm(a.user, { email: "alice.new@example.com" }));
    await b.agent.post("/profile", await profileForm(b.user, { email: "bob.new@example.com" }));
    const aliceCode = latestCode("alice.new@example.com");
    const bobCode = latestCode("bob.new@example.com");

    if (aliceCode !== bobCode) {
      const res = await b.agent.post("/profile/email/confirm", { confirmationCode: aliceCode });
      expect(res.status).toBe(422);
      expect(fieldError(res.text, PROFILE_CODE_FIELD)).toBe(CODE_MESSAGES.invalid);
    }
    expect(addressState(await reload(b.user))).toEqual({ email: "bob@example.com", emailVerified: true, pendingEmail: "bob.new@example.com" });
    expect(addressState(await reload(a.user))).toEqual({ email: "alice@example.com", emailVerified: true, pendingEmail: "alice.new@example.com" });

    // Someone with no pending address at all cannot use it either.
    const c = await signedInUser("carol", null);
    const none = await c.agent.post("/profile/email/confirm", { confirmationCode: aliceCode });
    expect(none.status).toBe(303);
    expect(pageText((await follow(c.agent, none)).text)).toContain("No email address is waiting for a code.");
    expect(await reload(c.user)).toMatchObject({ email: null, emailVerified: false, pendingEmail: null });

    expect((await a.agent.post("/profile/email/confirm", { confirmationCode: aliceCode })).status).toBe(303);
    expect((await reload(a.user)).email).toBe("alice.new@example.com");
    expect((await b.agent.post("/profile/email/confirm", { confirmationCode: bobCode })).status).toBe(303);
    expect((await reload(b.user)).email).toBe("bob.new@example.com");
  });
});

describe("Profile: Send a new code (E4)", () => {
  it("E4: pressing resend repeatedly sends one mail a minute and at most 5 an hour, with a calm message saying when; never a 500", async () => {
    await configureSmtp(db, mailServer);
    const { user, agent } = await signedInUser();
    await agent.post("/profile", await profileForm(user, { email: NEW }));
    expect(verificationsTo(NEW)).toHaveLength(1);

    for (let press = 1; press <= 10; press++) {
      const res = await agent.post("/profile/email/resend");
      expect(res.status, `press ${press}`).toBe(429);
      const message = fieldError(res.text, PROFILE_CODE_FIELD) ?? "";
      expect(message).toMatch(/^A code was sent less than a minute ago; check your inbox\. You can ask for another in \d+ seconds\.$/);
      const seconds = Number(/in (\d+) seconds/.exec(message)?.[1]);
      expect(seconds).toBeGreaterThan(0);
      expect(seconds).toBeLessThanOrEqual(60);
      expect(errorSummary(res.text)?.links).toEqual([PROFILE_CODE_FIELD]);
    }
    await mailOutbox.drain();
    expect(verificationsTo(NEW)).toHaveLength(1);

    // A minute later each press sends one, up to five in the hour (the first was the profile save).
    for (let send = 2; send <= 5; send++) {
      await aMinuteLater(user.id);
      const res = await agent.post("/profile/email/resend");
      expect(res.status, `send ${send}`).toBe(303);
      expect(res.headers.location).toBe("/profile#email-confirmation");
      expect(verificationsTo(NEW)).toHaveLength(send);
      expect((await agent.post("/profile/email/resend")).status).toBe(429);
    }
    await aMinuteLater(user.id);
    const sixth = await agent.post("/profile/email/resend");
    expect(sixth.status).toBe(429);
    expect(fieldError(sixth.text, PROFILE_CODE_FIELD)).toMatch(
      /^Five codes were sent in the last hour, which is the limit\. Use the newest one, or ask again in \d+ minutes\.$/,
    );
    await mailOutbox.drain();
    expect(verificationsTo(NEW)).toHaveLength(5);

    // The newest of the five works.
    expect((await agent.post("/profile/email/confirm", { confirmationCode: latestCode(NEW) })).status).toBe(303);
    expect((await reload(user)).email).toBe(NEW);
  });

  it("E4: changing the address again within a minute is refused the same calm way, and changes nothing", async () => {
    await configureSmtp(db, mailServer);
    const { user, agent } = await signedInUser();
    await agent.post("/profile", await profileForm(user, { email: NEW }));
    const res = await agent.post("/profile", await profileForm(user, { email: "pat.third@example.com", fullName: "Changed Too" }));
    expect(res.status).toBe(429);
    expect(fieldError(res.text, "email")).toMatch(/^A code was sent less than a minute ago; check your inbox\. You can ask for another in \d+ seconds\.$/);
    expect(inputValue(res.text, "email")).toBe("pat.third@example.com");
    expect(await reload(user)).toMatchObject({ pendingEmail: NEW, fullName: user.fullName });
    expect(mailServer.to("pat.third@example.com")).toHaveLength(0);
  });
});

describe("E6 and E7: addresses that are refused", () => {
  const INJECTED = "a@b.com\r\nBcc: x@evil.example";

  it("E6: a CRLF header in the profile email is a 400/422 naming Email; typed values are kept; nothing is saved or sent", async () => {
    await configureSmtp(db, mailServer);
    const { user, agent } = await signedInUser();
    const res = await agent.post("/profile", await profileForm(user, { email: INJECTED, fullName: "Typed Name" }));
    expect([400, 422]).toContain(res.status);
    expect(isInvalid(res.text, "email")).toBe(true);
    expect(fieldError(res.text, "email")).toMatch(/^Email /);
    expect(errorSummary(res.text)?.links).toEqual(["email"]);
    expect(inputValue(res.text, "fullName")).toBe("Typed Name");
    const shown = inputValue(res.text, "email");
    // Kept as typed (escaped inside the attribute) or left blank, never breaking out of the input.
    expect([INJECTED, ""]).toContain(shown);
    expect(await reload(user)).toMatchObject({ email: OLD, pendingEmail: null, fullName: user.fullName });
    expect(await outboxCount()).toBe(0);
    await mailOutbox.drain();
    expect(mailServer.messages).toHaveLength(0);
  });

  it("E6: a CRLF header in the email of the administrator's user forms is a 400/422 naming Email; nothing is saved or sent", async () => {
    await configureSmtp(db, mailServer);
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target", email: "target@example.com" });

    const edit = await agent.post(`/admin/users/${target.id}`, await adminEditForm(target, { email: INJECTED, fullName: "Typed Name" }));
    expect([400, 422]).toContain(edit.status);
    expect(fieldError(edit.text, "email")).toMatch(/^Email /);
    expect(inputValue(edit.text, "fullName")).toBe("Typed Name");
    expect(await reload(target)).toMatchObject({ email: "target@example.com", fullName: target.fullName, version: target.version });

    const created = await agent.post("/admin/users", {
      username: "injected",
      fullName: "In Jected",
      email: INJECTED,
      password: "a very long password 1",
      confirmPassword: "a very long password 1",
    });
    expect([400, 422]).toContain(created.status);
    expect(fieldError(created.text, "email")).toMatch(/^Email /);
    expect(inputValue(created.text, "username")).toBe("injected");
    expect(await findUserByUsername(db, "injected")).toBeUndefined();

    expect(await outboxCount()).toBe(0);
    await mailOutbox.drain();
    expect(mailServer.messages).toHaveLength(0);
  });

  it("E7: an email taken by another account in a different case is a clear conflict naming Email, on the profile and the admin forms", async () => {
    await configureSmtp(db, mailServer);
    await insertTestUser(db, { username: "owner", email: "Taken@Example.com" });
    const { user, agent } = await signedInUser();

    const own = await agent.post("/profile", await profileForm(user, { email: "taken@EXAMPLE.COM", fullName: "Typed Name" }));
    expect(own.status).toBe(409);
    expect(fieldError(own.text, "email")).toBe(EMAIL_TAKEN);
    expect(fieldError(own.text, "email")).toContain("without regard to case");
    expect(inputValue(own.text, "email")).toBe("taken@EXAMPLE.COM");
    expect(inputValue(own.text, "fullName")).toBe("Typed Name");
    expect(await reload(user)).toMatchObject({ email: OLD, pendingEmail: null, fullName: user.fullName });

    const admin = { agent: await signedInAgent(app, { username: "root", password: DEFAULT_PASSWORD }) };
    const edit = await admin.agent.post(`/admin/users/${user.id}`, await adminEditForm(user, { email: "TAKEN@example.com" }));
    expect(edit.status).toBe(409);
    expect(fieldError(edit.text, "email")).toBe(EMAIL_TAKEN);
    expect(inputValue(edit.text, "email")).toBe("TAKEN@example.com");
    expect((await reload(user)).email).toBe(OLD);

    const created = await admin.agent.post("/admin/users", {
      username: "copycat",
      fullName: "Copy Cat",
      email: "taken@example.COM",
      password: "a very long password 1",
      confirmPassword: "a very long password 1",
    });
    expect(created.status).toBe(409);
    expect(fieldError(created.text, "email")).toBe(EMAIL_TAKEN);
    expect(await findUserByUsername(db, "copycat")).toBeUndefined();

    expect(await outboxCount()).toBe(0);
  });

  it("E7: a@b@c and a 255-character address are refused with a message naming Email, on the profile and the admin form", async () => {
    await configureSmtp(db, mailServer);
    const { user, agent } = await signedInUser();
    const tooLong = `${"a".repeat(64)}@${"d".repeat(186)}.com`;
    expect(tooLong).toHaveLength(255);
    const cases: [string, string][] = [
      ["a@b@c", "Enter an email address like name@example.com."],
      [tooLong, "Email must be at most 254 characters; this one has 255."],
    ];
    for (const [typed, message] of cases) {
      const own = await agent.post("/profile", await profileForm(user, { email: typed }));
      expect(own.status, typed).toBe(422);
      expect(fieldError(own.text, "email"), `profile: ${typed}`).toBe(message);
      expect(inputValue(own.text, "email")).toBe(typed);
    }
    expect(await reload(user)).toMatchObject({ email: OLD, pendingEmail: null });

    const admin = await signedInAgent(app, { username: "root", password: DEFAULT_PASSWORD });
    for (const [typed, message] of cases) {
      const edit = await admin.post(`/admin/users/${user.id}`, await adminEditForm(user, { email: typed }));
      expect(edit.status, typed).toBe(422);
      expect(fieldError(edit.text, "email"), `admin: ${typed}`).toBe(message);
    }
    expect((await reload(user)).email).toBe(OLD);
    expect(await outboxCount()).toBe(0);
  });

  it("E7: an IDN domain is kept in Unicode and lower-cased, and the code reaches it", async () => {
    await configureSmtp(db, mailServer);
    const { user, agent } = await signedInUser();
    const page = await follow(agent, await agent.post("/profile", await profileForm(user, { email: "Pat@BÜCHER.example" })));
    expect((await reload(user)).pendingEmail).toBe("Pat@bücher.example");
    expect(pageText(page.text)).toContain("A confirmation code was sent to Pat@bücher.example.");
    const mail = mailServer.messages.find((m) => m.subject === VERIFICATION);
    expect(mail?.envelopeTo.map((a) => a.toLowerCase())).toEqual([expect.stringMatching(/^pat@(bücher|xn--bcher-kva)\.example$/)]);
    expect((await agent.post("/profile/email/confirm", { confirmationCode: codeIn(mail as ReceivedMail) })).status).toBe(303);
    expect(await reload(user)).toMatchObject({ email: "Pat@bücher.example", emailVerified: true });
  });
});

describe("Administrator's user forms", () => {
  it("saving a user's email sends the code to that address; the user page offers Confirmation code and resend, and the code verifies it there", async () => {
    await configureSmtp(db, mailServer);
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target", email: "target@example.com" });
    await db("users").where({ id: target.id }).update({ email_verified: true });

    const saved = await agent.post(`/admin/users/${target.id}`, await adminEditForm(target, { email: "Target.New@Example.COM" }));
    expect(saved.headers.location).toBe(`/admin/users/${target.id}`);
    const page = await follow(agent, saved);
    expect(pageText(page.text)).toContain("User target saved.");
    expect(pageText(page.text)).toContain("A confirmation code was sent to Target.New@example.com. Enter it in Confirmation code.");
    expect(labelText(page.text, "confirmationCode")).toBe("Confirmation code");
    expect(page.text).toContain(`action="/admin/users/${target.id}/email/resend"`);
    expect(page.text).toMatch(/<button type="submit" class="secondary outline">Send confirmation code<\/button>/);
    expect(pageText(page.text)).toMatch(/Email Target\.New@example\.com Email status Unverified/);
    expect(addressState(await reload(target))).toEqual({ email: "Target.New@example.com", emailVerified: false, pendingEmail: null });
    expect(verificationsTo("Target.New@example.com")).toHaveLength(1);
    expect(verificationsTo("target@example.com")).toHaveLength(0);
    const first = latestCode("Target.New@example.com");

    // A wrong code names the field on the admin page.
    const wrong = await agent.post(`/admin/users/${target.id}/email/confirm`, { confirmationCode: wrongFor(first) });
    expect(wrong.status).toBe(422);
    expect(fieldError(wrong.text, "confirmationCode")).toBe(CODE_MESSAGES.invalid);
    expect(wrong.text).not.toContain(first);

    // Resend: within the minute refused calmly, after it a new code that replaces the first.
    const early = await agent.post(`/admin/users/${target.id}/email/resend`);
    expect(early.status).toBe(429);
    expect(fieldError(early.text, "confirmationCode")).toMatch(/^A code was sent less than a minute ago/);
    await aMinuteLater(target.id);
    const resent = await follow(agent, await agent.post(`/admin/users/${target.id}/email/resend`));
    expect(pageText(resent.text)).toContain("A confirmation code was sent to Target.New@example.com.");
    expect(verificationsTo("Target.New@example.com")).toHaveLength(2);
    const second = latestCode("Target.New@example.com");

    const confirmed = await follow(agent, await agent.post(`/admin/users/${target.id}/email/confirm`, { confirmationCode: second }));
    expect(pageText(confirmed.text)).toContain("Email address Target.New@example.com of target verified.");
    expect(labelText(confirmed.text, "confirmationCode")).toBeUndefined();
    expect(addressState(await reload(target))).toEqual({ email: "Target.New@example.com", emailVerified: true, pendingEmail: null });
  });

  it("a new user with an email gets a code at that address; the user can enter it on their own profile", async () => {
    await configureSmtp(db, mailServer);
    const { agent } = await signedInAdmin();
    const res = await agent.post("/admin/users", {
      username: "newbie",
      fullName: "New Person",
      email: "newbie@example.com",
      password: "a very long password 1",
      confirmPassword: "a very long password 1",
    });
    const created = await findUserByUsername(db, "newbie");
    if (!created) throw new Error("not created");
    const page = await follow(agent, res);
    expect(pageText(page.text)).toContain("A confirmation code was sent to newbie@example.com.");
    expect(labelText(page.text, "confirmationCode")).toBe("Confirmation code");
    expect(created).toMatchObject({ email: "newbie@example.com", emailVerified: false });
    expect(verificationsTo("newbie@example.com")).toHaveLength(1);

    // The password the administrator set is temporary: newbie chooses their own first.
    const newbie = await signedInAfterChoosingOwnPassword(app, { username: "newbie", password: "a very long password 1" }, "copper kettle on the stove 17");
    const profile = await newbie.get("/profile");
    expect(labelText(profile.text, PROFILE_CODE_FIELD)).toBe("Confirmation code");
    expect(pageText(profile.text)).toContain("We sent a 6-digit code to newbie@example.com");
    const confirmed = await newbie.post("/profile/email/confirm", { confirmationCode: latestCode("newbie@example.com") });
    expect(confirmed.status).toBe(303);
    expect(await reload(created)).toMatchObject({ email: "newbie@example.com", emailVerified: true });
  });
});

describe("Mail not configured, or the mail server down", () => {
  it("not configured: a new email on the profile says so and saves nothing else; typed values are kept", async () => {
    const { user, agent } = await signedInUser();
    const res = await agent.post("/profile", await profileForm(user, { email: NEW, fullName: "Typed Name", phone: "+1 555 0199" }));
    expect(res.status).toBe(422);
    expect(fieldError(res.text, "email")).toBe(EMAIL_NOT_CONFIGURED);
    expect(fieldError(res.text, "email")).toMatch(/^Email is not configured/);
    expect(inputValue(res.text, "email")).toBe(NEW);
    expect(inputValue(res.text, "fullName")).toBe("Typed Name");
    expect(inputValue(res.text, "phone")).toBe("+1 555 0199");
    expect(await reload(user)).toMatchObject({ email: OLD, emailVerified: true, pendingEmail: null, fullName: user.fullName, phone: user.phone });
    expect(await outboxCount()).toBe(0);
    const [codes] = await db("email_codes").count<{ count: string }[]>("* as count");
    expect(Number(codes?.count)).toBe(0);

    // Without an email change the other fields save as usual.
    expect((await agent.post("/profile", await profileForm(user, { fullName: "Typed Name" }))).status).toBe(303);
    expect((await reload(user)).fullName).toBe("Typed Name");
  });

  it("not configured: the administrator's edit and new-user forms save the address unverified, send nothing, and say so (docs/domain.md, \"Email and verification\")", async () => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target", email: "target@example.com" });
    await db("users").where({ id: target.id }).update({ email_verified: true });
    const edit = await follow(agent, await agent.post(`/admin/users/${target.id}`, await adminEditForm(target, { email: "elsewhere@example.com", fullName: "Typed Name" })));
    expect(pageText(edit.text)).toContain("User target saved.");
    expect(pageText(edit.text)).toContain("elsewhere@example.com is saved unverified. No confirmation code was sent: email is not configured.");
    expect(await reload(target)).toMatchObject({ email: "elsewhere@example.com", emailVerified: false, pendingEmail: null, fullName: "Typed Name" });

    const created = await follow(
      agent,
      await agent.post("/admin/users", {
        username: "newbie",
        fullName: "New Person",
        email: "newbie@example.com",
        password: "a very long password 1",
        confirmPassword: "a very long password 1",
      }),
    );
    expect(pageText(created.text)).toContain("User newbie created.");
    expect(pageText(created.text)).toContain("newbie@example.com is saved unverified.");
    expect(await findUserByUsername(db, "newbie")).toMatchObject({ email: "newbie@example.com", emailVerified: false });
    expect(await outboxCount()).toBe(0);
    expect(mailServer.messages).toEqual([]);
  });

  it("SMTP down: the page says the code could not be sent yet and will be retried; the address is pending; once the server is back the code arrives once and works", async () => {
    await configureSmtp(db, mailServer);
    const { user, agent } = await signedInUser();
    await mailServer.stop();
    const saved = await agent.post("/profile", await profileForm(user, { email: NEW }));
    expect(saved.status).toBe(303);
    const page = await follow(agent, saved);
    const text = pageText(page.text);
    expect(text).toContain("Profile saved.");
    expect(text).toMatch(
      new RegExp(`The confirmation code could not be sent to ${NEW.replace(/\./g, "\\.")} yet: .+\\. Gatehouse will keep trying; you can also ask for a new code\\.`),
    );
    expect(labelText(page.text, PROFILE_CODE_FIELD)).toBe("Confirmation code");
    expect(addressState(await reload(user))).toEqual({ email: OLD, emailVerified: true, pendingEmail: NEW });
    const queued = (await outbox.listRecent(db, 10)).filter((m) => m.kind === "verification_code");
    expect(queued).toHaveLength(1);
    expect(queued[0]?.status).toBe("queued");
    expect(queued[0]?.lastError).toBeTruthy();

    await mailOutbox.drain();
    await mailServer.restart();
    expect(await outbox.makeQueuedDue(db)).toBeGreaterThan(0);
    await mailOutbox.drain();
    expect(verificationsTo(NEW)).toHaveLength(1);
    // The old address still gets its notice, once.
    expect(mailServer.to(OLD).filter((m) => m.subject === CHANGE_NOTICE)).toHaveLength(1);

    // Nothing more goes out on a later round.
    await outbox.makeQueuedDue(db);
    await mailOutbox.drain();
    expect(verificationsTo(NEW)).toHaveLength(1);
    expect((await outbox.findMessage(db, queued[0]?.id ?? 0))?.status).toBe("sent");

    const confirmed = await agent.post("/profile/email/confirm", { confirmationCode: latestCode(NEW) });
    expect(confirmed.status).toBe(303);
    expect(addressState(await reload(user))).toEqual({ email: NEW, emailVerified: true, pendingEmail: null });
  });
});
