import type { Express } from "express";
import supertest from "supertest";
import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { findUserById, findUserByUsername } from "../../src/repositories/users/index.ts";
import type { MailOutbox } from "../../src/services/mail-outbox.ts";
import { EMAIL_NOT_CONFIGURED } from "../../src/services/mail-settings.ts";
import { FORGOT_PASSWORD_ANSWER } from "../../src/services/password-reset.ts";
import type { User } from "../../src/types/user.ts";
import { csrfTokenFrom, signedInAfterChoosingOwnPassword, signedInAgent, type TestAgent } from "../helpers/agent.ts";
import { createTestApiToken } from "../helpers/api-tokens.ts";
import { errorSummary, fieldError, labelText, pageText, tableRows } from "../helpers/html.ts";
import { codeIn, configureSmtp, type TestMailServer, useAppWithMail } from "../helpers/mail.ts";
import { auditEvents } from "../helpers/sign-in.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/**
 * docs/domain.md, "Email and verification": an address an administrator enters (user forms, API) is saved
 * unverified whether or not mail is configured, and shown as unverified; "Send confirmation code" on the user's
 * page and the Profile's code verify it once mail works; what needs a verified address keeps needing it. Over HTTP
 * against the real app, a real database and a real SMTP server in this process. Alert Services starts empty (a
 * fresh install); tests that need mail configure it.
 */

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
const PASSWORD = "a very long password 1";
const SAVED_WITHOUT_MAIL = (address: string) =>
  `${address} is saved unverified. No confirmation code was sent: email is not configured. Set up the mail server under Settings › Alert Services, then press Send confirmation code below.`;
const SEND_REFUSED_WITHOUT_MAIL =
  "No confirmation code was sent: email is not configured. Set up the mail server under Settings › Alert Services, then send the code again.";

async function reload(id: number): Promise<User> {
  const user = await findUserById(db, id);
  if (!user) throw new Error(`user ${id} is gone`);
  return user;
}

async function signedInAdmin() {
  const admin = await insertTestAdmin(db, { username: "root", email: "root@example.test" });
  await db("users").where({ id: admin.id }).update({ email_verified: true });
  return { admin, agent: await signedInAgent(app, admin) };
}

const NEWBIES_OWN_PASSWORD = "copper kettle on the stove 17";

/** newbie, whose password the administrator set, after choosing their own. */
function signedInNewbie(): Promise<TestAgent> {
  return signedInAfterChoosingOwnPassword(app, { username: "newbie", password: PASSWORD }, NEWBIES_OWN_PASSWORD);
}

async function follow(agent: TestAgent, res: { status: number; headers: Record<string, string> }) {
  expect(res.status).toBe(303);
  return agent.get(res.headers.location ?? "/");
}

async function rowCount(table: string): Promise<number> {
  const [row] = await db(table).count<{ count: string }[]>("* as count");
  return Number(row?.count ?? 0);
}

/** The user's page's definition list, as a person reads it: term → description. */
function facts(html: string): Record<string, string> {
  const list = /<dl class="facts">([\s\S]*?)<\/dl>/.exec(html)?.[1] ?? "";
  return Object.fromEntries([...list.matchAll(/<dt>([\s\S]*?)<\/dt>\s*<dd>([\s\S]*?)<\/dd>/g)].map((m) => [pageText(m[1] ?? ""), pageText(m[2] ?? "")]));
}

/** The Users list's row of `username`: its cells' texts. */
async function listRow(agent: TestAgent, username: string): Promise<string[]> {
  const rows = tableRows((await agent.get("/admin/users")).text);
  const row = rows.find((cells) => cells[0] === username);
  if (!row) throw new Error(`${username} is not on the list`);
  return row;
}

/** The New user form filled in as an administrator would, for a local account. */
function newUserForm(username: string, email: string): Record<string, string> {
  return { username, fullName: `${username} Person`, email, password: PASSWORD, confirmPassword: PASSWORD };
}

/** Creates `username` with `email` through the New user form, while no mail server is configured. */
async function createdWithoutMail(agent: TestAgent, username: string, email: string): Promise<User> {
  expect((await agent.post("/admin/users", newUserForm(username, email))).status).toBe(303);
  const user = await findUserByUsername(db, username);
  if (!user) throw new Error(`${username} was not created`);
  return user;
}

/** Confirmation-code messages in the outbox, whatever became of them. */
async function verificationMessages(): Promise<number> {
  const [row] = await db("outbox").where({ kind: "verification_code" }).count<{ count: string }[]>("* as count");
  return Number(row?.count ?? 0);
}

function verificationsTo(address: string) {
  return mailServer.to(address).filter((m) => m.subject === VERIFICATION);
}

describe("No mail server: an address an administrator enters is saved unverified and shown so", () => {
  it("New user saves the account with its address unverified; the page says why no code went out and where to set up mail; the list marks it", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.post("/admin/users", newUserForm("newbie", "Newbie@Example.COM"));
    const created = await findUserByUsername(db, "newbie");
    if (!created) throw new Error("newbie was not created");
    expect(res.headers.location).toBe(`/admin/users/${created.id}`);
    expect(created).toMatchObject({ email: "Newbie@example.com", emailVerified: false, pendingEmail: null });

    const page = await follow(agent, res);
    const text = pageText(page.text);
    expect(text).toContain("User newbie created.");
    expect(text).toContain(SAVED_WITHOUT_MAIL("Newbie@example.com"));
    // Done, with something left to do: a notice, not a success.
    expect(page.text).toContain(`<p class="flash flash-notice">${SAVED_WITHOUT_MAIL("Newbie@example.com")}</p>`);
    expect(facts(page.text).Email).toBe("Newbie@example.com");
    expect(facts(page.text)["Email status"]).toMatch(/^Unverified\b.*password reset mails and two-factor codes by email need a confirmed address$/);
    expect(page.text).toContain("<strong>Unverified</strong>");
    expect(text).toContain("Newbie@example.com is not confirmed yet, and no code is waiting for it.");
    expect(text).toContain("Email is not configured, so no code can be sent yet. Set up the mail server under Settings › Alert Services first.");
    expect(page.text).toContain('<a href="/admin/settings/smtp">Settings › Alert Services</a>');
    expect(page.text).toMatch(/<button type="submit" class="secondary outline" aria-describedby="email-confirmation-mail-hint">Send confirmation code<\/button>/);

    // Nothing waits for mail: no code, no message.
    expect(await rowCount("email_codes")).toBe(0);
    expect(await rowCount("outbox")).toBe(0);

    // The list marks the unverified address in words; a verified one has no marker, an account without one neither.
    expect(await listRow(agent, "newbie")).toEqual(["newbie", "newbie Person", "Newbie@example.com unverified", "User", "Never", "Active"]);
    expect((await listRow(agent, "root"))[2]).toBe("root@example.test");
    await insertTestUser(db, { username: "nomail", email: null });
    expect((await listRow(agent, "nomail"))[2]).toBe("");
    expect((await agent.get("/admin/users")).text).toContain('Newbie@example.com <small class="email-unverified">unverified</small>');
  });

  it("the edit form saves a new address unverified (and turns 2FA by email off with it); the audit records the change", async () => {
    const { agent } = await signedInAdmin();
    const target = await insertTestUser(db, { username: "target", email: "target@example.com" });
    await db("users").where({ id: target.id }).update({ email_verified: true, two_factor_method: "email" });
    const current = await reload(target.id);
    const res = await agent.post(`/admin/users/${target.id}`, {
      version: String(current.version),
      username: "target",
      fullName: "Typed Name",
      title: current.title,
      email: "elsewhere@example.com",
      phone: current.phone,
      authSource: "local",
    });
    const page = await follow(agent, res);
    expect(pageText(page.text)).toContain("User target saved.");
    expect(pageText(page.text)).toContain(SAVED_WITHOUT_MAIL("elsewhere@example.com"));
    expect(facts(page.text)["Email status"]).toMatch(/^Unverified/);
    expect(facts(page.text)["Two-factor authentication"]).toBe("Off");
    expect(await reload(target.id)).toMatchObject({
      email: "elsewhere@example.com",
      emailVerified: false,
      fullName: "Typed Name",
      twoFactorMethod: null,
    });
    const [updated] = await auditEvents(db, "user.updated");
    expect(updated?.details.changes).toMatchObject({ email: { from: "target@example.com", to: "elsewhere@example.com" } });
    expect(await rowCount("outbox")).toBe(0);

    // Saving again without touching the address keeps it as it is, and says nothing about codes.
    const again = await reload(target.id);
    const resaved = await follow(
      agent,
      await agent.post(`/admin/users/${target.id}`, {
        version: String(again.version),
        username: "target",
        fullName: "Typed Name",
        title: "Engineer",
        email: "elsewhere@example.com",
        phone: again.phone,
        authSource: "local",
      }),
    );
    expect(pageText(resaved.text)).not.toContain("No confirmation code was sent");
    expect(await reload(target.id)).toMatchObject({ title: "Engineer", emailVerified: false });
  });

  it("the API creates and changes addresses without mail: 201/200 with emailVerified false, read back the same; nothing is queued", async () => {
    const { admin } = await signedInAdmin();
    const token = await createTestApiToken(db, admin);
    const api = (method: "get" | "post" | "patch", path: string, body?: object) => {
      const request = supertest(app)[method](`/api/v1${path}`).set("Authorization", `Bearer ${token}`).set("Accept", "application/json");
      return body ? request.send(body) : request;
    };

    const created = await api("post", "/users", { username: "scripted", email: "scripted@example.com", password: PASSWORD });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ username: "scripted", email: "scripted@example.com", emailVerified: false });
    expect((await api("get", `/users/${created.body.id}`)).body).toMatchObject({ email: "scripted@example.com", emailVerified: false });

    const verified = await insertTestUser(db, { username: "verified", email: "verified@example.com" });
    await db("users").where({ id: verified.id }).update({ email_verified: true });
    const before = await reload(verified.id);
    const changed = await api("patch", `/users/${verified.id}`, { version: before.version, email: "moved@example.com" });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ email: "moved@example.com", emailVerified: false });
    const listed = await api("get", "/users?q=moved");
    expect(listed.body.data).toEqual([expect.objectContaining({ username: "verified", emailVerified: false })]);
    expect(await verificationMessages()).toBe(0);
    expect(await rowCount("email_codes")).toBe(0);

    // The OpenAPI document says what emailVerified means.
    const doc = (await supertest(app).get("/api/v1/openapi.json")).body;
    const userView = doc.paths["/users/{id}"].get.responses["200"].content["application/json"].schema;
    const properties = userView.properties ?? doc.components?.schemas?.[String(userView.$ref).split("/").at(-1) ?? ""]?.properties;
    expect(properties.emailVerified.type).toBe("boolean");
    expect(properties.emailVerified.description).toMatch(/An address set by an administrator starts unverified/);
  });
});

describe("Send confirmation code on the user's page", () => {
  it("without mail it says so and where to fix it, and changes nothing: no code, no message, no audit event", async () => {
    const { agent } = await signedInAdmin();
    const user = await createdWithoutMail(agent, "newbie", "newbie@example.com");
    const res = await agent.post(`/admin/users/${user.id}/email/resend`);
    expect(res.headers.location).toBe(`/admin/users/${user.id}#email-confirmation`);
    const page = await follow(agent, res);
    expect(pageText(page.text)).toContain(SEND_REFUSED_WITHOUT_MAIL);
    expect(page.text).toMatch(/<p class="flash flash-error">No confirmation code was sent: email is not configured\./);
    expect(await reload(user.id)).toMatchObject({ email: "newbie@example.com", emailVerified: false, version: user.version });
    expect(await rowCount("email_codes")).toBe(0);
    expect(await rowCount("outbox")).toBe(0);
    expect(await auditEvents(db, "email.code_sent")).toEqual([]);
  });

  it("with mail it sends a code (audited); the user enters it from the mail on their Profile and the address is verified everywhere", async () => {
    const { admin, agent } = await signedInAdmin();
    const user = await createdWithoutMail(agent, "newbie", "newbie@example.com");
    await configureSmtp(db, mailServer);

    const before = await agent.get(`/admin/users/${user.id}`);
    expect(pageText(before.text)).not.toContain("Email is not configured");
    const page = await follow(agent, await agent.post(`/admin/users/${user.id}/email/resend`));
    expect(pageText(page.text)).toContain("A confirmation code was sent to newbie@example.com. Enter it in Confirmation code.");
    expect(pageText(page.text)).toContain("A 6-digit code was sent to newbie@example.com");
    expect(verificationsTo("newbie@example.com")).toHaveLength(1);
    const mail = verificationsTo("newbie@example.com")[0];
    if (!mail) throw new Error("no code arrived");

    const [sent] = await auditEvents(db, "email.code_sent");
    expect(sent).toMatchObject({ actorId: admin.id, targetType: "user", targetId: String(user.id), targetLabel: "newbie" });
    expect(sent?.details).toEqual({ to: "newbie@example.com" });
    expect(JSON.stringify(sent)).not.toContain(codeIn(mail));

    // The user confirms from their own Profile, typing the code from the mail.
    const newbie = await signedInNewbie();
    const profile = await newbie.get("/profile");
    expect(labelText(profile.text, "confirm-confirmationCode")).toBe("Confirmation code");
    expect(pageText(profile.text)).toContain("We sent a 6-digit code to newbie@example.com");
    expect(pageText(profile.text)).toMatch(/newbie@example\.com \( ?unverified ?\)/);
    const confirmed = await follow(newbie, await newbie.post("/profile/email/confirm", { confirmationCode: codeIn(mail) }));
    expect(pageText(confirmed.text)).toContain("Email address newbie@example.com verified.");
    expect(pageText(confirmed.text)).toContain("newbie@example.com (verified)");
    expect(labelText(confirmed.text, "confirm-confirmationCode")).toBeUndefined();
    expect(await reload(user.id)).toMatchObject({ email: "newbie@example.com", emailVerified: true });

    // The administrator sees it verified: no marker on the list, "Verified" on the page, no button.
    expect((await listRow(agent, "newbie"))[2]).toBe("newbie@example.com");
    const after = await agent.get(`/admin/users/${user.id}`);
    expect(facts(after.text)["Email status"]).toBe("Verified");
    expect(after.text).not.toContain("Send confirmation code");
  });

  it("with mail but the server down, the send is kept in the outbox and the page says it will be retried (E4's throttle still applies)", async () => {
    const { agent } = await signedInAdmin();
    const user = await createdWithoutMail(agent, "newbie", "newbie@example.com");
    await configureSmtp(db, mailServer);
    await mailServer.stop();
    const page = await follow(agent, await agent.post(`/admin/users/${user.id}/email/resend`));
    expect(pageText(page.text)).toMatch(/The confirmation code could not be sent to newbie@example\.com yet: .+\. Gatehouse will keep trying/);
    const queued = await db("outbox").where({ kind: "verification_code" }).select("status");
    expect(queued).toEqual([{ status: "queued" }]);

    // docs/security.md E4: pressed again within the minute, it is refused calmly and nothing more is queued.
    const early = await agent.post(`/admin/users/${user.id}/email/resend`);
    expect(early.status).toBe(429);
    expect(fieldError(early.text, "confirmationCode")).toMatch(/^A code was sent less than a minute ago/);
    expect(await rowCount("outbox")).toBe(1);
  });

  it("A3: a user who is not an administrator cannot send it, for themselves or anyone: 403 and nothing is sent", async () => {
    await signedInAdmin();
    await configureSmtp(db, mailServer);
    const pat = await insertTestUser(db, { username: "pat", email: "pat@example.com" });
    const other = await insertTestUser(db, { username: "other", email: "other@example.com" });
    const agent = await signedInAgent(app, pat);
    for (const id of [pat.id, other.id]) expect((await agent.post(`/admin/users/${id}/email/resend`)).status).toBe(403);
    expect(await rowCount("outbox")).toBe(0);
    expect(await rowCount("email_codes")).toBe(0);
  });

  it("a POST without the CSRF token is refused and sends nothing", async () => {
    const { agent } = await signedInAdmin();
    const user = await createdWithoutMail(agent, "newbie", "newbie@example.com");
    await configureSmtp(db, mailServer);
    const res = await agent.http.post(`/admin/users/${user.id}/email/resend`).set("Accept", "text/html").type("form").send({});
    expect(res.status).toBe(403);
    expect(await rowCount("outbox")).toBe(0);
  });
});

describe("The Profile of a user whose address an administrator entered", () => {
  it("without mail says so and offers no code to send or enter; a hand-made send names the problem and sends nothing", async () => {
    const { agent } = await signedInAdmin();
    await createdWithoutMail(agent, "newbie", "newbie@example.com");
    const newbie = await signedInNewbie();
    const profile = await newbie.get("/profile");
    const text = pageText(profile.text);
    expect(text).toContain("Your email address newbie@example.com is not verified yet.");
    expect(text).toMatch(
      /Email is not configured yet ?, so no code can be sent\. Once an administrator sets up the mail server under Settings › Alert Services, come back here and press Send confirmation code\./,
    );
    expect(profile.text).not.toContain(">Send confirmation code</button>");
    expect(profile.text).not.toContain('name="confirmationCode"');
    expect(text).toContain("Mail is not set up yet, so this waits until an administrator sets it up.");

    const res = await newbie.post("/profile/email/resend");
    expect(res.status).toBe(422);
    expect(errorSummary(res.text)?.text).toContain(EMAIL_NOT_CONFIGURED);
    expect(await rowCount("outbox")).toBe(0);
    expect(await rowCount("email_codes")).toBe(0);
  });

  it("with mail, Send confirmation code on the Profile brings a code that verifies the address", async () => {
    const { agent } = await signedInAdmin();
    const user = await createdWithoutMail(agent, "newbie", "newbie@example.com");
    await configureSmtp(db, mailServer);
    const newbie = await signedInNewbie();
    const sent = await follow(newbie, await newbie.post("/profile/email/resend"));
    expect(pageText(sent.text)).toContain("A confirmation code was sent to newbie@example.com. Enter it in Confirmation code.");
    const mail = verificationsTo("newbie@example.com").at(-1);
    if (!mail) throw new Error("no code arrived");
    expect((await newbie.post("/profile/email/confirm", { confirmationCode: codeIn(mail) })).status).toBe(303);
    expect(await reload(user.id)).toMatchObject({ emailVerified: true });
  });

  it("a code typed before any was sent is answered as such, not as an expired one, and counts as no failure", async () => {
    const { agent } = await signedInAdmin();
    const user = await createdWithoutMail(agent, "newbie", "newbie@example.com");
    await configureSmtp(db, mailServer);
    const newbie = await signedInNewbie();
    const res = await newbie.post("/profile/email/confirm", { confirmationCode: "123456" });
    expect(res.status).toBe(422);
    expect(fieldError(res.text, "confirm-confirmationCode")).toBe(
      "No code is waiting for this address. Ask for a code first, then enter the 6 digits from the mail.",
    );
    const counted = await db("login_failures").where({ scope: "second_factor" }).sum({ n: "failures" }).first();
    expect(Number(counted?.n ?? 0)).toBe(0);
    expect(await reload(user.id)).toMatchObject({ emailVerified: false });
  });
});

describe("What needs a verified address keeps needing it, for an address an administrator entered", () => {
  it("Enable 2FA with Email code is refused until the address is verified; nothing is turned on", async () => {
    const { agent } = await signedInAdmin();
    const user = await createdWithoutMail(agent, "newbie", "newbie@example.com");
    await configureSmtp(db, mailServer);
    const newbie = await signedInNewbie();
    const res = await newbie.post("/profile/2fa", { method: "email" });
    expect(res.status).toBe(422);
    expect(fieldError(res.text, "tf-method")).toBe("Verify your email address first: enter it above, then the confirmation code we send.");
    expect((await reload(user.id)).twoFactorMethod).toBeNull();
    expect(await rowCount("recovery_codes")).toBe(0);
    expect(await auditEvents(db, "two_factor.enabled")).toEqual([]);
  });

  it("R1: Forgot password for it sends nothing and answers exactly as for a match; a verified address still gets its mail", async () => {
    const { agent } = await signedInAdmin();
    await createdWithoutMail(agent, "newbie", "newbie@example.com");
    await configureSmtp(db, mailServer);
    const verified = await insertTestUser(db, { username: "pat", email: "pat@example.com" });
    await db("users").where({ id: verified.id }).update({ email_verified: true });

    const requestReset = async (username: string, email: string) => {
      const visitor = supertest.agent(app);
      const form = await visitor.get("/forgot-password").set("Accept", "text/html");
      const res = await visitor
        .post("/forgot-password")
        .set("Accept", "text/html")
        .type("form")
        .send({ _csrf: csrfTokenFrom(form.text), username, email });
      await mailOutbox.drain();
      return res;
    };
    const unverified = await requestReset("newbie", "newbie@example.com");
    const matched = await requestReset("pat", "pat@example.com");
    expect(unverified.status).toBe(200);
    expect(pageText(unverified.text)).toContain(FORGOT_PASSWORD_ANSWER);
    expect(pageText(unverified.text)).toBe(pageText(matched.text));
    expect(mailServer.messages.map((m) => `${m.envelopeTo.join(",")}: ${m.subject}`)).toEqual(["pat@example.com: [AUTH] Gatehouse Password Reset"]);
    const outcomes = (await auditEvents(db, "password.reset_requested")).map((e) => [e.targetLabel, e.details.outcome]);
    expect(outcomes).toEqual(expect.arrayContaining([["newbie", "no_match"], ["pat", "mailed"]]));
  });
});
