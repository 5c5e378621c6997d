import type { Express, Request, Response } from "express";
import supertest from "supertest";
import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { findUserById } from "../../src/repositories/users/index.ts";
import { SIGN_IN_FAILED } from "../../src/routes/auth/index.ts";
import { createUser } from "../../src/services/accounts.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import type { MailOutbox } from "../../src/services/mail-outbox.ts";
import { FORGOT_PASSWORD_ANSWER } from "../../src/services/password-reset.ts";
import type { User } from "../../src/types/user.ts";
import { csrfTokenFrom, signedInAgent, TestAgent } from "../helpers/agent.ts";
import { injectFault } from "../helpers/faults.ts";
import { createTestAppParts } from "../helpers/app.ts";
import { errorSummary, fieldError, isInvalid, labelText, pageText } from "../helpers/html.ts";
import { codeIn, type ReceivedMail, type TestMailServer , useAppWithMail } from "../helpers/mail.ts";
import { agentSessionCookie, attemptSignIn, auditEvents, failureRow, failureRows, sessionCountOf, sidOf } from "../helpers/sign-in.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/**
 * Forgot password, the emailed reset code used as the password, and choosing a new password (docs/domain.md, "Passwords and reset";
 * docs/security.md R1–R9), over HTTP against the real app, a real database and a real SMTP server in this
 * process. The outbox is not started: after a request the test drains it, then reads what arrived over SMTP.
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

const RESET_SUBJECT = "[AUTH] Gatehouse Password Reset";
const CHANGED_SUBJECT = "Gatehouse: your password was changed";
const SIGN_IN_CODE_SUBJECT = "[AUTH] Gatehouse sign-in code";
const NEW_PASSWORD = "lighthouse keeper breakfast 93";
const CHANGED_FLASH = "Your password has been changed and every session of your account signed out. Sign in with your new password.";
const RESET_HINT =
  "Signing in with a reset code or a temporary password? Each works once, a reset code for 30 minutes and a temporary password for 6 hours. Ask for a new code under Forgot password.";
const TOO_MANY_REQUESTS = "Too many password reset requests from your network. Try again later.";

type Res = { status: number; headers: Record<string, string>; text: string };

async function reload(id: number): Promise<User> {
  const user = await findUserById(db, id);
  if (!user) throw new Error(`user ${id} is gone`);
  return user;
}

/** A local account whose address is verified (the precondition of a reset mail). */
async function verifiedUser(username: string, overrides: Parameters<typeof insertTestUser>[1] = {}): Promise<User & { password: string }> {
  const user = await insertTestUser(db, { username, email: `${username}@example.test`, ...overrides });
  await db("users").where({ id: user.id }).update({ email_verified: true });
  return { ...(await reload(user.id)), password: user.password };
}

/** A directory (LDAP) account with a verified address: created as an administrator would, with no local password. */
async function ldapUser(username: string): Promise<User> {
  const { user } = await createUser(db, SYSTEM_ACTOR, {
    details: { username, fullName: "Dirk Directory", title: "", email: `${username}@example.test`, phone: "", isAdmin: false, authSource: "ldap" },
    password: undefined,
  });
  await db("users").where({ id: user.id }).update({ email_verified: true });
  return reload(user.id);
}

/** Forgot password → Username, Email → Send reset code; then whatever was queued is sent over SMTP. */
async function requestReset(agent: TestAgent, username: string, email: string, headers: Record<string, string> = {}): Promise<Res> {
  const form = await agent.get("/forgot-password");
  expect(form.status).toBe(200);
  const request = agent.http.post("/forgot-password").set("Accept", "text/html").type("form");
  for (const [name, value] of Object.entries(headers)) request.set(name, value);
  const res = await request.send({ _csrf: csrfTokenFrom(form.text), username, email });
  await mailOutbox.drain();
  return res;
}

function resetMailsTo(address: string): ReceivedMail[] {
  return mailServer.to(address).filter((m) => m.subject === RESET_SUBJECT);
}

/** The link in a reset mail, and the code and username its fragment carries. */
function linkIn(mail: ReceivedMail): { link: URL; code: string; username: string } {
  const match = /(https?:\/\/\S+\/login#\S+)/.exec(mail.text);
  if (!match?.[1]) throw new Error(`no reset link in: ${mail.text}`);
  const link = new URL(match[1]);
  const params = new URLSearchParams(link.hash.slice(1));
  return { link, code: params.get("reset") ?? "", username: params.get("username") ?? "" };
}

/** The newest reset code mailed to `address`. */
function latestCode(address: string): string {
  const mail = resetMailsTo(address).at(-1);
  if (!mail) throw new Error(`no reset mail was sent to ${address}; got: ${mailServer.messages.map((m) => `${m.envelopeTo}: ${m.subject}`).join(" | ")}`);
  return linkIn(mail).code;
}

/** Asks for a reset code for `user` (from a fresh client) and returns the code from the mail. */
async function mailedCode(user: { username: string; email: string | null }): Promise<string> {
  const res = await requestReset(new TestAgent(app), user.username, user.email ?? "");
  expect(res.status).toBe(200);
  return latestCode(user.email ?? "");
}

/** The account's reset codes as if `seconds` had passed since they were issued. */
async function resetsAgo(userId: number, seconds: number): Promise<void> {
  await db("password_resets")
    .where({ user_id: userId })
    .update({
      created_at: db.raw("created_at - make_interval(secs => ?)", [seconds]),
      expires_at: db.raw("expires_at - make_interval(secs => ?)", [seconds]),
    });
}

async function follow(agent: TestAgent, res: Res) {
  expect(res.status).toBe(303);
  return agent.get(res.headers.location ?? "/");
}

/** A page of someone signed in: it has the top bar's Sign out button. */
function isSignedInPage(html: string): boolean {
  return /action="\/logout"/.test(html);
}

/** Signs in with the code as the password: the agent lands on Choose a new password, with that form's token. */
async function signInWithCode(agent: TestAgent, username: string, code: string): Promise<void> {
  const res = await attemptSignIn(agent, username, code);
  expect(res.status, `sign-in of ${username} with a reset code`).toBe(303);
  expect(res.headers.location).toBe("/login/new-password");
  await agent.refreshToken("/login/new-password");
}

function chooseNewPassword(agent: TestAgent, newPassword: string, confirmPassword = newPassword) {
  return agent.post("/login/new-password", { newPassword, confirmPassword });
}

/** The rendered page with what legitimately varies per request (CSRF tokens) blanked out. */
function normalised(html: string): string {
  return html.replace(/name="_csrf" value="[^"]*"/g, 'name="_csrf" value=""').replace(/(name="csrf-token" content=)"[^"]*"/g, '$1""');
}

/** Sets when the agent's choosing of a new password started (ms since the epoch), as if time had passed. */
async function setChoosingStart(agent: TestAgent, startedAt: number): Promise<void> {
  const sid = sidOf(agentSessionCookie(agent));
  const row = await db("sessions").where({ sid }).first("sess");
  if (!row) throw new Error(`no session ${sid}`);
  const sess = typeof row.sess === "string" ? JSON.parse(row.sess) : row.sess;
  if (!sess.pendingPasswordChange) throw new Error("the session is not choosing a new password");
  sess.pendingPasswordChange.startedAt = startedAt;
  await db("sessions")
    .where({ sid })
    .update({ sess: JSON.stringify(sess) });
}

async function resetRowsOf(userId: number): Promise<number> {
  const [row] = await db("password_resets").where({ user_id: userId }).count<{ count: string }[]>("* as count");
  return Number(row?.count ?? 0);
}

describe("R1: forgot password answers the same whatever matched", () => {
  it("R1: unknown username, wrong email, unverified email, disabled or LDAP account: same status and page as a match; mail only for the match; the outcome is audited", async () => {
    const pat = await verifiedUser("pat");
    await insertTestUser(db, { username: "una", email: "una@example.test" }); // address not verified
    await verifiedUser("gone");
    await db("users").where({ username_key: "gone" }).update({ disabled: true });
    await ldapUser("dirk");

    const matched = await requestReset(new TestAgent(app), "pat", "pat@example.test");
    expect(matched.status).toBe(200);
    expect(pageText(matched.text)).toContain(FORGOT_PASSWORD_ANSWER);
    expect(resetMailsTo("pat@example.test")).toHaveLength(1);

    const others: [string, string, string][] = [
      ["unknown username", "nobody", "pat@example.test"],
      ["wrong email", "pat", "someone.else@example.test"],
      ["unverified email", "una", "una@example.test"],
      ["disabled account", "gone", "gone@example.test"],
      ["LDAP account", "dirk", "dirk@example.test"],
    ];
    for (const [label, username, email] of others) {
      const res = await requestReset(new TestAgent(app), username, email);
      expect(res.status, label).toBe(200);
      expect(pageText(res.text), label).toBe(pageText(matched.text));
      expect(normalised(res.text), label).toBe(normalised(matched.text));
    }
    // Only the match sent anything, and only once.
    expect(mailServer.messages.map((m) => `${m.envelopeTo.join(",")}: ${m.subject}`)).toEqual([`pat@example.test: ${RESET_SUBJECT}`]);

    const events = await auditEvents(db, "password.reset_requested");
    const outcomes = events.map((e) => [e.targetLabel, e.details.outcome]).sort((a, b) => String(a).localeCompare(String(b)));
    expect(outcomes).toEqual(
      [
        [null, "no_match"],
        ["pat", "mailed"],
        ["pat", "no_match"],
        ["una", "no_match"],
        ["gone", "no_match"],
        ["dirk", "ldap_account"],
      ].sort((a, b) => String(a).localeCompare(String(b))),
    );
    expect(events.find((e) => e.details.outcome === "mailed")?.targetId).toBe(String(pat.id));
  });

  it("R1: the form asks for Username and Email, and an empty email is a field error, not the answer", async () => {
    await verifiedUser("pat");
    const agent = new TestAgent(app);
    const form = await agent.get("/forgot-password");
    expect(labelText(form.text, "username")).toBe("Username");
    expect(labelText(form.text, "email")).toBe("Email");
    expect(form.text).toMatch(/<button type="submit">Send reset code<\/button>/);

    const res = await requestReset(agent, "pat", "");
    expect(res.status).toBe(422);
    expect(isInvalid(res.text, "email")).toBe(true);
    expect(pageText(res.text)).not.toContain(FORGOT_PASSWORD_ANSWER);
    expect(mailServer.messages).toHaveLength(0);
  });

  it("R1: the mail carries a 43-character code and a link that signs in as the account", async () => {
    await verifiedUser("pat");
    await requestReset(new TestAgent(app), "PAT", "Pat@Example.test");
    const [mail] = resetMailsTo("pat@example.test");
    if (!mail) throw new Error("no reset mail");
    const { link, code, username } = linkIn(mail);
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(username).toBe("pat");
    expect(link.pathname).toBe("/login");
    expect(mail.text).toContain("30 minutes");
  });
});

describe("R2: a wrong, altered or longer code", () => {
  it("R2: fails with the generic sign-in message and counts a failure for the address and the account; the real code still works", async () => {
    const pat = await verifiedUser("pat");
    const code = await mailedCode(pat);
    const last = code.at(-1) === "A" ? "B" : "A";
    const attempts: [string, string][] = [
      ["guessed", "q".repeat(43)],
      ["altered", `${code.slice(0, -1)}${last}`],
      ["one character more", `${code}x`],
      ["one character less", code.slice(0, -1)],
    ];
    const agent = new TestAgent(app);
    for (const [i, [label, guess]] of attempts.entries()) {
      const res = await attemptSignIn(agent, "pat", guess);
      expect(res.status, label).toBe(401);
      expect(pageText(res.text), label).toContain(SIGN_IN_FAILED);
      expect(res.headers.location, label).toBeUndefined();
      expect((await failureRow(db, "account", "pat"))?.failures, label).toBe(i + 1);
      const ipRows = (await failureRows(db)).filter((r) => r.scope === "ip");
      expect(ipRows.map((r) => r.failures), label).toEqual([i + 1]);
    }
    expect((await auditEvents(db, "sign_in.failed")).map((e) => e.details.reason)).toEqual(Array(4).fill("wrong_password"));
    // The right code was not spent by the wrong ones.
    await signInWithCode(agent, "pat", code);
  });
});

describe("a locked account", () => {
  it("an emailed code still opens an account someone locked on purpose with wrong passwords; the right password does not", async () => {
    const pat = await verifiedUser("pat");
    const agent = new TestAgent(app);
    for (let i = 0; i < 20; i++) await attemptSignIn(agent, "pat", `wrong guess ${i}`);
    expect((await attemptSignIn(agent, "pat", pat.password)).status).toBe(401);
    const code = await mailedCode(pat);
    await signInWithCode(agent, "pat", code);
    expect(await failureRow(db, "account", "pat")).toBeUndefined();
  });
});

describe("R3: a code works once, and only the newest one", () => {
  it("R3: a code used once fails the second time", async () => {
    const pat = await verifiedUser("pat");
    const code = await mailedCode(pat);
    const first = new TestAgent(app);
    await signInWithCode(first, "pat", code);
    const again = await attemptSignIn(new TestAgent(app), "pat", code);
    expect(again.status).toBe(401);
    expect(pageText(again.text)).toContain(SIGN_IN_FAILED);
  });

  it("R3: the same code sent twice at once leads only one of them to Choose a new password", async () => {
    const pat = await verifiedUser("pat");
    const code = await mailedCode(pat);
    const agents = [new TestAgent(app), new TestAgent(app)];
    await Promise.all(agents.map((a) => a.refreshToken("/login")));
    const results = await Promise.all(agents.map((a) => a.post("/login", { username: "pat", password: code })));
    expect(results.map((r) => r.status).sort()).toEqual([303, 401]);
    expect(results.find((r) => r.status === 303)?.headers.location).toBe("/login/new-password");
  });

  it("R3: the code is used up in the sign-in's own transaction: when that fails, the code is not lost and the retry leads to Choose a new password", async () => {
    const pat = await verifiedUser("pat");
    const code = await mailedCode(pat);
    const fault = await injectFault(db, { table: "audit_events", on: "INSERT", when: "NEW.action = 'sign_in.reset_accepted'", code: "57P01" });
    try {
      const failed = await attemptSignIn(new TestAgent(app), "pat", code);
      expect(await fault.fired()).toBe(1);
      expect(failed.status).toBe(503);
      const unused = await db("password_resets").where({ user_id: pat.id }).whereNull("used_at").count<{ count: string }[]>("* as count").first();
      expect(Number(unused?.count)).toBe(1);
    } finally {
      await fault.remove();
    }
    await signInWithCode(new TestAgent(app), "pat", code);
    // And it is used up now.
    expect((await attemptSignIn(new TestAgent(app), "pat", code)).status).toBe(401);
  });

  it("R3: a code stops working when the account is disabled", async () => {
    const pat = await verifiedUser("pat");
    const code = await mailedCode(pat);
    await db("users").where({ id: pat.id }).update({ disabled: true });
    const res = await attemptSignIn(new TestAgent(app), "pat", code);
    expect(res.status).toBe(401);
    expect(pageText(res.text)).toContain(SIGN_IN_FAILED);
  });

  it("R3: an older code after a newer one was issued fails; the newer one works", async () => {
    const pat = await verifiedUser("pat");
    const older = await mailedCode(pat);
    await resetsAgo(pat.id, 61); // a minute later: a second mail is allowed
    const newer = await mailedCode(pat);
    expect(newer).not.toBe(older);
    expect(resetMailsTo(pat.email as string)).toHaveLength(2);

    const stale = await attemptSignIn(new TestAgent(app), "pat", older);
    expect(stale.status).toBe(401);
    expect(pageText(stale.text)).toContain(SIGN_IN_FAILED);
    await signInWithCode(new TestAgent(app), "pat", newer);
  });
});

describe("R4: a code lasts 30 minutes", () => {
  it("R4: at 29 minutes it works; past 30 minutes it fails, and the page says codes last 30 minutes and points to Forgot password", async () => {
    const pat = await verifiedUser("pat");
    const fresh = await mailedCode(pat);
    await resetsAgo(pat.id, 29 * 60);
    await signInWithCode(new TestAgent(app), "pat", fresh);

    const old = await mailedCode(pat);
    await resetsAgo(pat.id, 30 * 60 + 1);
    const res = await attemptSignIn(new TestAgent(app), "pat", old);
    expect(res.status).toBe(401);
    const text = pageText(res.text);
    expect(text).toContain(SIGN_IN_FAILED);
    expect(text).toContain(RESET_HINT);
    expect(res.text).toMatch(/<a href="\/forgot-password">Forgot password<\/a>/);
  });
});

describe("R5: the link is built from the configured base URL", () => {
  it("R5: Host: evil.example (and X-Forwarded-Host) on the request does not change the link; the code is in the fragment, not in a query", async () => {
    await verifiedUser("pat");
    // https base URL: the session cookie is Secure, so the (trusted) proxy says the request came over https.
    ({ app, mailOutbox } = createTestAppParts(db, { BASE_URL: "https://gatehouse.example", TRUST_PROXY: "1" }));
    const http = supertest(app);
    const proxied = { Host: "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https" };
    const form = await http.get("/forgot-password").set(proxied).set("Accept", "text/html");
    expect(form.status).toBe(200);
    const cookie = (form.headers["set-cookie"] as unknown as string[] | undefined)?.map((c) => c.split(";")[0]).join("; ");
    expect(cookie).toMatch(/^__Host-sid=/);
    const res = await http
      .post("/forgot-password")
      .set(proxied)
      .set("Accept", "text/html")
      .set("Cookie", cookie ?? "")
      .type("form")
      .send({ _csrf: csrfTokenFrom(form.text), username: "pat", email: "pat@example.test" });
    expect(res.status).toBe(200);
    expect(pageText(res.text)).toContain(FORGOT_PASSWORD_ANSWER);
    await mailOutbox.drain();

    const [mail] = resetMailsTo("pat@example.test");
    if (!mail) throw new Error("no reset mail");
    expect(mail.text).not.toContain("evil.example");
    expect(mail.html).not.toContain("evil.example");
    const { link, code } = linkIn(mail);
    expect(link.toString().startsWith("https://gatehouse.example/login#")).toBe(true);
    expect(link.origin).toBe("https://gatehouse.example");
    expect(link.search).toBe("");
    expect(link.hash).toContain(`reset=${code}`);
  });
});

describe("R6: the code never travels in a URL", () => {
  it("R6: Referrer-Policy is same-origin on the sign-in, forgot-password and new-password pages", async () => {
    const pat = await verifiedUser("pat");
    const agent = new TestAgent(app);
    for (const path of ["/login", "/forgot-password"]) {
      const res = await agent.get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers["referrer-policy"], path).toBe("same-origin");
    }
    await signInWithCode(agent, "pat", await mailedCode(pat));
    const page = await agent.get("/login/new-password");
    expect(page.status).toBe(200);
    expect(page.headers["referrer-policy"]).toBe("same-origin");
  });

  it("R6: the mail's text has the code; through the whole flow no URL the server sees (nor a Location it sends) contains it", async () => {
    const pat = await verifiedUser("pat");
    const seen: string[] = [];
    const recording = ((req: Request, res: Response) => {
      seen.push(req.originalUrl, String(req.headers.referer ?? ""));
      return app(req, res);
    }) as unknown as Express;
    const agent = new TestAgent(recording);

    await requestReset(agent, "pat", pat.email as string);
    const [mail] = resetMailsTo(pat.email as string);
    if (!mail) throw new Error("no reset mail");
    const { link, code } = linkIn(mail);
    expect(mail.text).toContain(code);
    // What a browser sends for the link: its path and query, never the fragment.
    const opened = await agent.get(`${link.pathname}${link.search}`);
    expect(opened.status).toBe(200);

    const signIn = await agent.post("/login", { username: "pat", password: code });
    expect(signIn.status).toBe(303);
    const choose = await follow(agent, signIn);
    expect(choose.status).toBe(200);
    await agent.refreshToken("/login/new-password");
    const done = await chooseNewPassword(agent, NEW_PASSWORD);
    const after = await follow(agent, done);
    expect(after.status).toBe(200);

    const locations = [signIn.headers.location, done.headers.location];
    expect(seen.length).toBeGreaterThan(6);
    for (const url of [...seen, ...locations]) expect(url ?? "").not.toContain(code);
  });
});

describe("R7: a reset does not get around two-factor authentication", () => {
  it("R7: email-code 2FA: the reset code leads to the code step, the right code to Choose a new password (not signed in); afterwards signing in needs 2FA again", async () => {
    const pat = await verifiedUser("pat");
    await db("users").where({ id: pat.id }).update({ two_factor_method: "email" });
    const code = await mailedCode(pat);

    const agent = new TestAgent(app);
    const first = await attemptSignIn(agent, "pat", code);
    expect(first.status).toBe(303);
    expect(first.headers.location).toBe("/login/code");
    // The new-password page cannot be reached past the code step.
    const skipped = await agent.get("/login/new-password");
    expect(skipped.status).toBe(303);
    expect(skipped.headers.location).toBe("/login/code");

    const codeMail = await mailServer.waitFor((m) => m.subject === SIGN_IN_CODE_SUBJECT && m.envelopeTo.includes(pat.email as string));
    await agent.refreshToken("/login/code");
    const wrongCode = codeIn(codeMail) === "000000" ? "111111" : "000000";
    expect((await agent.post("/login/code", { code: wrongCode })).status).toBe(422);
    const second = await agent.post("/login/code", { code: codeIn(codeMail) });
    expect(second.status).toBe(303);
    expect(second.headers.location).toBe("/login/new-password");

    const choose = await agent.get("/login/new-password");
    expect(choose.status).toBe(200);
    expect(pageText(choose.text)).toContain("Choose a new password");
    expect(isSignedInPage(choose.text)).toBe(false);
    expect((await agent.get("/profile")).headers.location).toBe("/login/new-password");
    expect(await sessionCountOf(db, pat.id)).toBe(0);
    expect(await auditEvents(db, "sign_in.succeeded")).toHaveLength(0);

    await agent.refreshToken("/login/new-password");
    const done = await chooseNewPassword(agent, NEW_PASSWORD);
    expect(done.status).toBe(303);
    expect(done.headers.location).toBe("/login");
    expect((await agent.get("/profile")).headers.location).toMatch(/^\/login/);

    const again = await attemptSignIn(new TestAgent(app), "pat", NEW_PASSWORD);
    expect(again.status).toBe(303);
    expect(again.headers.location).toBe("/login/code");
    expect((await reload(pat.id)).twoFactorMethod).toBe("email");
    expect(await auditEvents(db, "sign_in.succeeded")).toHaveLength(0);
  });
});

describe("R8: completing a reset", () => {
  it("R8: ends every session of the account, voids other codes, the old password fails and the new works, a notice is mailed, nobody is signed in", async () => {
    await insertTestAdmin(db, { username: "root" });
    const pat = await verifiedUser("pat");
    const elsewhere = await signedInAgent(app, pat);
    expect((await elsewhere.get("/profile")).status).toBe(200);
    expect(await sessionCountOf(db, pat.id)).toBe(1);

    const code = await mailedCode(pat);
    const here = new TestAgent(app);
    await signInWithCode(here, "pat", code);
    // A newer code asked for while choosing (a minute later): it dies with the change too.
    await resetsAgo(pat.id, 61);
    const meanwhile = await mailedCode(pat);

    const done = await chooseNewPassword(here, NEW_PASSWORD);
    expect(done.status).toBe(303);
    expect(done.headers.location).toBe("/login");
    const login = await here.get("/login");
    expect(login.status).toBe(200);
    expect(pageText(login.text)).toContain(CHANGED_FLASH);
    expect(isSignedInPage(login.text)).toBe(false);
    const profile = await here.get("/profile");
    expect(profile.status).toBe(303);
    expect(profile.headers.location).toMatch(/^\/login/);

    expect(await sessionCountOf(db, pat.id)).toBe(0);
    const gone = await elsewhere.get("/profile");
    expect(gone.status).toBe(303);
    expect(gone.headers.location).toMatch(/^\/login/);

    for (const [label, password] of [
      ["old password", pat.password],
      ["used code", code],
      ["code issued meanwhile", meanwhile],
    ]) {
      const res = await attemptSignIn(new TestAgent(app), "pat", password as string);
      expect(res.status, label).toBe(401);
    }
    const fresh = await attemptSignIn(new TestAgent(app), "pat", NEW_PASSWORD);
    expect(fresh.status).toBe(303);
    expect(fresh.headers.location).toBe("/");

    await mailOutbox.drain();
    const notices = mailServer.to(pat.email as string).filter((m) => m.subject === CHANGED_SUBJECT);
    expect(notices).toHaveLength(1);
    expect(notices[0]?.text).toContain('The password of the Gatehouse account "pat" was changed');
    expect(notices[0]?.text).not.toContain(NEW_PASSWORD);

    const [completed] = await auditEvents(db, "password.reset_completed");
    expect(completed).toMatchObject({ targetLabel: "pat", actorId: pat.id });
    expect(JSON.stringify(completed)).not.toContain(NEW_PASSWORD);
  });
});

describe("R9: the new password must meet the policy", () => {
  it("R9: blocklisted, too short, equal to the username or 129+ characters → 422 at New password with the reason; a mismatch at Confirm new password", async () => {
    const user = await verifiedUser("harbourmaster");
    const agent = new TestAgent(app);
    await signInWithCode(agent, "harbourmaster", await mailedCode(user));

    const cases: [string, string, string][] = [
      ["blocklisted", "password1234", "This password is too common or too easy to guess; choose another."],
      ["too short", "short pass", "Password must be at least 12 characters; this one has 10."],
      ["the username", "harbourmaster", "Password cannot contain your username."],
      ["the username in capitals", "HARBOURMASTER", "Password cannot contain your username."],
      ["129 characters", `${"tide pool ".repeat(12)}abcdefghi`, "Password must be at most 128 characters; this one has 129."],
    ];
    for (const [label, password, reason] of cases) {
      const res = await chooseNewPassword(agent, password);
      expect(res.status, label).toBe(422);
      expect(labelText(res.text, "newPassword"), label).toBe("New password");
      expect(isInvalid(res.text, "newPassword"), label).toBe(true);
      expect(fieldError(res.text, "newPassword"), label).toBe(reason);
      expect(errorSummary(res.text)?.links, label).toEqual(["newPassword"]);
      expect(errorSummary(res.text)?.text, label).toContain(reason);
    }
    const mismatch = await chooseNewPassword(agent, NEW_PASSWORD, `${NEW_PASSWORD}!`);
    expect(mismatch.status).toBe(422);
    expect(labelText(mismatch.text, "confirmPassword")).toBe("Confirm new password");
    expect(isInvalid(mismatch.text, "confirmPassword")).toBe(true);
    expect(fieldError(mismatch.text, "confirmPassword")).toBe("Confirm new password does not match the new password; type it twice.");
    expect(isInvalid(mismatch.text, "newPassword")).toBe(false);

    // Nothing was changed by the refused attempts; the page still works, and a good password goes through.
    expect((await attemptSignIn(new TestAgent(app), "harbourmaster", user.password)).status).toBe(303);
    const done = await chooseNewPassword(agent, NEW_PASSWORD);
    expect(done.status).toBe(303);
    expect((await attemptSignIn(new TestAgent(app), "harbourmaster", NEW_PASSWORD)).status).toBe(303);
  });
});

describe("while choosing a new password", () => {
  it("nothing else is reachable and nobody is signed in", async () => {
    await insertTestAdmin(db, { username: "root" });
    const pat = await verifiedUser("pat", { isAdmin: true });
    const agent = new TestAgent(app);
    await signInWithCode(agent, "pat", await mailedCode(pat));

    for (const path of ["/profile", "/admin/users", "/systems", "/", "/login", "/forgot-password"]) {
      const res = await agent.get(path);
      expect(res.status, path).toBe(303);
      expect(res.headers.location, path).toBe("/login/new-password");
    }
    const page = await agent.get("/login/new-password");
    expect(page.status).toBe(200);
    expect(pageText(page.text)).toContain("You signed in with a reset code");
    expect(page.text).toMatch(/<button type="submit">Set new password<\/button>/);
    expect(labelText(page.text, "newPassword")).toBe("New password");
    expect(labelText(page.text, "confirmPassword")).toBe("Confirm new password");
    expect(isSignedInPage(page.text)).toBe(false);
    expect(await sessionCountOf(db, pat.id)).toBe(0);
    // A form elsewhere is refused the same way.
    const post = await agent.post("/profile/password", { currentPassword: pat.password, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    expect(post.status).toBe(303);
    expect(post.headers.location).toBe("/login/new-password");
  });

  it("Cancel ends it: back to sign-in, the code is spent", async () => {
    const pat = await verifiedUser("pat");
    const code = await mailedCode(pat);
    const agent = new TestAgent(app);
    await signInWithCode(agent, "pat", code);
    const cancelled = await agent.post("/login/cancel");
    expect(cancelled.status).toBe(303);
    expect(cancelled.headers.location).toBe("/login");
    expect((await agent.get("/login/new-password")).headers.location).toBe("/login");
    expect((await agent.get("/login")).status).toBe(200);
    expect((await attemptSignIn(agent, "pat", code)).status).toBe(401);
    expect((await attemptSignIn(agent, "pat", pat.password)).status).toBe(303);
  });

  it("it expires after 10 minutes: back to sign-in, and the password stays as it was", async () => {
    const pat = await verifiedUser("pat");
    const agent = new TestAgent(app);
    await signInWithCode(agent, "pat", await mailedCode(pat));
    await setChoosingStart(agent, Date.now() - 9 * 60_000);
    expect((await agent.get("/profile")).headers.location).toBe("/login/new-password");

    await setChoosingStart(agent, Date.now() - 10 * 60_000 - 1_000);
    const profile = await agent.get("/profile");
    expect(profile.status).toBe(303);
    expect(profile.headers.location).toMatch(/^\/login(\?|$)/);
    const choose = await agent.get("/login/new-password");
    expect(choose.status).toBe(303);
    expect(choose.headers.location).toBe("/login");
    const login = await agent.get("/login");
    expect(login.status).toBe(200);
    const late = await agent.post("/login/new-password", { newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    expect(late.status).toBe(303);
    expect(late.headers.location).toBe("/login");

    expect((await attemptSignIn(new TestAgent(app), "pat", NEW_PASSWORD)).status).toBe(401);
    expect((await attemptSignIn(new TestAgent(app), "pat", pat.password)).status).toBe(303);
  });
});

describe("rate limits on forgot password", () => {
  it("per address: 10 requests an hour, then a 429 with a calm message (and no mail even for a match)", async () => {
    const pat = await verifiedUser("pat");
    for (let i = 0; i < 10; i++) {
      const res = await requestReset(new TestAgent(app), `nobody${i}`, "nobody@example.test");
      expect(res.status, `request ${i + 1}`).toBe(200);
      expect(pageText(res.text)).toContain(FORGOT_PASSWORD_ANSWER);
    }
    const limited = await requestReset(new TestAgent(app), "pat", pat.email as string);
    expect(limited.status).toBe(429);
    expect(pageText(limited.text)).toContain(TOO_MANY_REQUESTS);
    expect(pageText(limited.text)).not.toContain(FORGOT_PASSWORD_ANSWER);
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect(limited.text).not.toMatch(/Error|at .*\.ts:\d+/);
    expect(mailServer.messages).toHaveLength(0);

    // An hour later the address may ask again.
    await db("login_failures").where({ scope: "code_send_ip" }).update({ window_started_at: db.raw("window_started_at - interval '61 minutes'") });
    const later = await requestReset(new TestAgent(app), "pat", pat.email as string);
    expect(later.status).toBe(200);
    expect(resetMailsTo(pat.email as string)).toHaveLength(1);
  });

  it("per account: one mail a minute; a second request within it answers the same and sends nothing", async () => {
    const pat = await verifiedUser("pat");
    const first = await requestReset(new TestAgent(app), "pat", pat.email as string);
    const second = await requestReset(new TestAgent(app), "pat", pat.email as string);
    expect(second.status).toBe(first.status);
    expect(normalised(second.text)).toBe(normalised(first.text));
    expect(resetMailsTo(pat.email as string)).toHaveLength(1);
    expect((await auditEvents(db, "password.reset_requested")).map((e) => e.details.outcome).sort()).toEqual(["mailed", "too_soon"]);

    // The code of the first mail is still the one that works.
    const code = latestCode(pat.email as string);
    await resetsAgo(pat.id, 61);
    await requestReset(new TestAgent(app), "pat", pat.email as string);
    expect(resetMailsTo(pat.email as string)).toHaveLength(2);
    expect(latestCode(pat.email as string)).not.toBe(code);
  });
});

describe("D10: LDAP accounts never get a local reset", () => {
  it("D10: same answer, no mail, no reset row", async () => {
    const pat = await verifiedUser("pat");
    const dirk = await ldapUser("dirk");
    const local = await requestReset(new TestAgent(app), "pat", pat.email as string);
    const directory = await requestReset(new TestAgent(app), "dirk", dirk.email as string);
    expect(directory.status).toBe(local.status);
    expect(normalised(directory.text)).toBe(normalised(local.text));
    expect(mailServer.to(dirk.email as string)).toHaveLength(0);
    expect(await resetRowsOf(dirk.id)).toBe(0);
    expect(await resetRowsOf(pat.id)).toBe(1);
  });
});
