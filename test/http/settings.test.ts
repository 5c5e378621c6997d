import type { Express } from "express";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import * as outbox from "../../src/repositories/outbox.ts";
import { DEFAULT_GENERAL_SETTINGS, readGeneralSettings } from "../../src/services/general-settings.ts";
import { EMAIL_NOT_CONFIGURED, readSmtpSettings, smtpConnection } from "../../src/services/mail-settings.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestAppParts } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { errorSummary, fieldError, h1, inputTag, inputValue, isInvalid, labelText, pageText, tableRows } from "../helpers/html.ts";
import { configureSmtp, TestMailServer, testKeys } from "../helpers/mail.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

let db: Db;
let app: Express;
let mailServer: TestMailServer;

useTestDb((d) => {
  db = d;
});

beforeAll(async () => {
  mailServer = await TestMailServer.start({ rejectRecipients: /^refused@/ });
});
afterAll(async () => {
  await mailServer.stop();
});
beforeEach(() => {
  ({ app } = createTestAppParts(db));
  mailServer.clear();
});
afterEach(async () => {
  await mailServer.restart();
});

const SMTP = "/admin/settings/smtp";
const GENERAL = "/admin/settings/general";
const AUTH_PASS = "Hunter2-smtp-Secret!";

async function signedInAdmin(overrides: Parameters<typeof insertTestAdmin>[1] = {}) {
  const admin = await insertTestAdmin(db, { username: "root", email: "root@example.test", ...overrides });
  const agent = await signedInAgent(app, admin);
  return { admin, agent };
}

/** The Alert Services form as a browser sends it, pointed at the test mail server. */
function smtpForm(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    host: "127.0.0.1",
    port: String(mailServer.port),
    security: "none",
    authUser: "",
    authPass: "",
    from: "Gatehouse Alerts <alerts@example.test>",
    version: "0",
    ...overrides,
  };
}

async function settingsRow(): Promise<unknown> {
  return db("settings").where({ key: "smtp" }).first();
}

/** Follows a 303 and returns the page it leads to. */
async function follow(agent: TestAgent, res: { status: number; headers: Record<string, string> }) {
  expect(res.status).toBe(303);
  return agent.get(res.headers.location ?? "/");
}

describe("who may open the settings", () => {
  it("an anonymous visitor is sent to sign in; a non-administrator is refused with 403 and changes nothing", async () => {
    await insertTestAdmin(db, { username: "root" });
    const anonymous = new TestAgent(app);
    await anonymous.refreshToken("/login");
    const get = await anonymous.get(SMTP);
    expect(get.status).toBe(303);
    expect(get.headers.location).toBe("/login?returnTo=%2Fadmin%2Fsettings%2Fsmtp");
    const post = await anonymous.post(SMTP, smtpForm());
    expect(post.status).toBe(303);
    expect(post.headers.location).toBe("/login");

    const user = await insertTestUser(db, { username: "pat" });
    const agent = await signedInAgent(app, user);
    for (const url of ["/admin/settings", SMTP, GENERAL, `${SMTP}/clear`]) {
      expect((await agent.get(url)).status, url).toBe(403);
    }
    for (const [url, body] of [
      [SMTP, smtpForm()],
      [`${SMTP}/test`, { testTo: "pat@example.test" }],
      [`${SMTP}/clear`, {}],
      [`${SMTP}/outbox/send`, {}],
      [GENERAL, { version: "0" }],
    ] as const) {
      expect((await agent.post(url, body)).status, url).toBe(403);
    }
    expect(await readSmtpSettings(db)).toBeUndefined();
    expect(await settingsRow()).toBeUndefined();
    const profile = await agent.get("/profile");
    expect(profile.text).not.toContain('href="/admin/settings');
  });

  it("/admin/settings leads to General; both pages link to each other and the top bar marks Settings", async () => {
    const { agent } = await signedInAdmin();
    const index = await agent.get("/admin/settings");
    expect(index.status).toBe(303);
    expect(index.headers.location).toBe(GENERAL);
    for (const url of [SMTP, GENERAL]) {
      const page = await agent.get(url);
      expect(page.status).toBe(200);
      expect(page.text).toMatch(/<a href="\/admin\/settings\/smtp" aria-current="page">Settings<\/a>/);
      expect(page.text).toContain('<nav aria-label="Settings"');
      expect(page.text).toMatch(/href="\/admin\/settings\/smtp"[^>]*>Alert Services<\/a>/);
      expect(page.text).toMatch(/href="\/admin\/settings\/general"[^>]*>General<\/a>/);
    }
    const users = await agent.get("/admin/users");
    expect(users.text).toMatch(/<a href="\/admin\/settings\/smtp">Settings<\/a>/);
  });
});

describe("Alert Services form", () => {
  it("starts empty with the Alert Services labels (docs/domain.md, Email and verification), port 587 and version 0", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.get(SMTP);
    expect(h1(res.text)).toBe("Alert Services");
    expect(labelText(res.text, "host")).toBe("Mailserver");
    expect(labelText(res.text, "port")).toBe("Mailserver port");
    expect(labelText(res.text, "security")).toBe("Security");
    expect(labelText(res.text, "authUser")).toBe("Auth user");
    expect(labelText(res.text, "authPass")).toBe("Auth pass");
    expect(labelText(res.text, "from")).toBe("From");
    expect(labelText(res.text, "testTo")).toBe("Send test to");
    expect(inputValue(res.text, "port")).toBe("587");
    expect(inputValue(res.text, "version")).toBe("0");
    expect(inputTag(res.text, "authPass")).toMatch(/type="password"/);
    expect(res.text).toMatch(/<option value="none"[^>]*>None<\/option>/);
    expect(res.text).toMatch(/<option value="starttls" selected>STARTTLS<\/option>/);
    expect(res.text).toMatch(/<option value="tls"[^>]*>TLS<\/option>/);
    expect(pageText(res.text)).toContain("Email is not configured yet");
    expect(pageText(res.text)).not.toContain("unencrypted");
    // The test address defaults to the signed-in administrator's own.
    expect(inputValue(res.text, "testTo")).toBe("root@example.test");
    for (const button of ["Save changes", "Send test email", "Send queued messages now"]) expect(res.text).toContain(`>${button}</button>`);
    expect(res.text).not.toContain("Remove the stored password");
  });

  it("saves, shows the values again, never shows the password, stores it sealed and audits with it masked", async () => {
    const { agent } = await signedInAdmin();
    const save = await agent.post(SMTP, smtpForm({ authUser: "mailer", authPass: AUTH_PASS }));
    const page = await follow(agent, save);
    expect(pageText(page.text)).toContain("Alert Services saved.");
    expect(inputValue(page.text, "host")).toBe("127.0.0.1");
    expect(inputValue(page.text, "port")).toBe(String(mailServer.port));
    expect(page.text).toMatch(/<option value="none" selected>None<\/option>/);
    expect(inputValue(page.text, "authUser")).toBe("mailer");
    expect(inputValue(page.text, "authPass")).toBeUndefined();
    expect(inputValue(page.text, "from")).toBe("Gatehouse Alerts <alerts@example.test>");
    expect(inputValue(page.text, "version")).toBe("1");
    expect(page.text).not.toContain(AUTH_PASS);
    expect(pageText(page.text)).toContain("A password is stored; leave blank to keep it.");
    expect(labelText(page.text, "removeAuthPass")).toBe("Remove the stored password");

    const row = JSON.stringify(await settingsRow());
    expect(row).toContain("mailer");
    expect(row).not.toContain(AUTH_PASS);
    expect((await smtpConnection(db, testKeys))?.authPass).toBe(AUTH_PASS);

    const [event] = await listAuditEvents(db, { action: "settings.smtp_updated" });
    expect(event?.actorUsername).toBe("root");
    expect(event?.details).toMatchObject({
      changes: { host: { to: "127.0.0.1" }, authUser: { to: "mailer" }, authPass: { from: null, to: "------" } },
    });
    expect(JSON.stringify(await listAuditEvents(db, { limit: 1000 }))).not.toContain(AUTH_PASS);
  });

  it("keeps the stored password when Auth pass is left blank, and removes it when asked", async () => {
    const { agent } = await signedInAdmin();
    await follow(agent, await agent.post(SMTP, smtpForm({ authUser: "mailer", authPass: AUTH_PASS })));
    const keep = await agent.post(SMTP, smtpForm({ authUser: "mailer", authPass: "", from: "alerts@example.test", version: "1" }));
    expect(keep.status).toBe(303);
    expect((await smtpConnection(db, testKeys))?.authPass).toBe(AUTH_PASS);
    expect((await readSmtpSettings(db))?.from).toBe("alerts@example.test");

    const both = await agent.post(SMTP, smtpForm({ authUser: "mailer", authPass: "another one", removeAuthPass: "on", version: "2" }));
    expect(both.status).toBe(422);
    expect(isInvalid(both.text, "removeAuthPass")).toBe(true);
    expect(both.text).not.toContain("another one");

    const remove = await agent.post(SMTP, smtpForm({ authUser: "mailer", removeAuthPass: "on", version: "2" }));
    const page = await follow(agent, remove);
    expect((await readSmtpSettings(db))?.hasAuthPass).toBe(false);
    expect((await smtpConnection(db, testKeys))?.authPass).toBe("");
    expect(page.text).not.toContain("Remove the stored password");
    expect(pageText(page.text)).not.toContain("A password is stored");
  });

  it("shows the warning about unencrypted mail when Security is None, not otherwise", async () => {
    const { agent } = await signedInAdmin();
    const none = await follow(agent, await agent.post(SMTP, smtpForm({ security: "none" })));
    expect(pageText(none.text)).toMatch(/passwords and codes cross the network unencrypted/);
    expect(inputTag(none.text, "security")).toMatch(/aria-describedby="[^"]*security-warning/);
    const tls = await follow(agent, await agent.post(SMTP, smtpForm({ security: "starttls", version: "1" })));
    expect(tls.text).toMatch(/<option value="starttls" selected>/);
    expect(pageText(tls.text)).not.toContain("unencrypted");
    // A rejected form that chose None warns as well.
    const typed = await agent.post(SMTP, smtpForm({ security: "none", port: "", version: "2" }));
    expect(typed.status).toBe(422);
    expect(pageText(typed.text)).toContain("unencrypted");
  });

  describe("refuses CR, LF and NUL in every field (docs/security.md E6), naming the field and keeping the typed value", () => {
    const cases: [field: string, value: string, label: RegExp][] = [
      ["from", "Gatehouse\r\nBcc: victim@example.test <alerts@example.test>", /^From /],
      ["from", "Gate\nhouse <alerts@example.test>", /^From /],
      ["from", "alerts@example.test\r\nBcc: victim@example.test", /^From /],
      ["from", "Gate\u0000house <alerts@example.test>", /^From /],
      ["authUser", "mailer\r\nRCPT TO:<victim@example.test>", /^Auth user /],
      ["authUser", "mailer\u0000", /^Auth user /],
      ["authUser", "mailer\n", /^Auth user /],
      ["host", "127.0.0.1\r\n", /^Mailserver /],
      ["port", "25\r\n", /^Mailserver port /],
    ];
    for (const [field, value, label] of cases) {
      it(`${field}: ${JSON.stringify(value)}`, async () => {
        const { agent } = await signedInAdmin();
        const res = await agent.post(SMTP, smtpForm({ authUser: "mailer", [field]: value }));
        expect(res.status).toBe(422);
        expect(isInvalid(res.text, field)).toBe(true);
        expect(fieldError(res.text, field)).toMatch(label);
        expect(fieldError(res.text, field)).toMatch(/line breaks or NUL/);
        expect(errorSummary(res.text)?.links).toContain(field);
        expect(inputValue(res.text, field)).toBe(value);
        expect(await settingsRow()).toBeUndefined();
      });
    }

    it("authPass: refused and never sent back", async () => {
      const { agent } = await signedInAdmin();
      const secret = "pass\r\nword-XYZ";
      const res = await agent.post(SMTP, smtpForm({ authUser: "mailer", authPass: secret }));
      expect(res.status).toBe(422);
      expect(fieldError(res.text, "authPass")).toMatch(/^Auth pass cannot contain line breaks or NUL/);
      expect(res.text).not.toContain("word-XYZ");
      expect(inputValue(res.text, "authPass")).toBeUndefined();
      expect(inputValue(res.text, "authUser")).toBe("mailer");
      expect(await settingsRow()).toBeUndefined();
    });

    it("Send test to: refused too", async () => {
      const { agent } = await signedInAdmin();
      await configureSmtp(db, mailServer);
      const res = await agent.post(`${SMTP}/test`, { testTo: "root@example.test\r\nBcc: victim@example.test" });
      expect(res.status).toBe(422);
      expect(fieldError(res.text, "testTo")).toMatch(/^Send test to cannot contain line breaks/);
      expect(mailServer.messages).toHaveLength(0);
    });
  });

  it("refuses other bad values with messages that name the field", async () => {
    const { agent } = await signedInAdmin();
    for (const [field, value, message] of [
      ["port", "0", /^Mailserver port must be a whole number from 1 to 65535/],
      ["port", "65536", /^Mailserver port must be a whole number from 1 to 65535/],
      ["port", "abc", /^Mailserver port must be a whole number/],
      ["port", "", /^Enter the Mailserver port/],
      ["host", "", /^Enter the Mailserver/],
      ["host", "smtp example.com", /^Mailserver cannot contain spaces/],
      ["host", `${"a".repeat(250)}.com`, /^Mailserver must be at most 253 characters/],
      ["host", "smtp.example.com:25", /Mailserver port/],
      ["from", "", /^From is required/],
      ["from", "not an address", /^From has no valid email address/],
      ["from", "Gate <house> <alerts@example.test>", /^From's display name cannot contain/],
      ["security", "plaintext", /^Choose the Security/],
    ] as const) {
      const res = await agent.post(SMTP, smtpForm({ [field]: value }));
      expect(res.status, `${field}=${value}`).toBe(422);
      expect(fieldError(res.text, field), `${field}=${value}`).toMatch(message);
      if (field !== "security") expect(inputValue(res.text, field)).toBe(value);
    }
    const noUser = await agent.post(SMTP, smtpForm({ authPass: "lonely password" }));
    expect(noUser.status).toBe(422);
    expect(fieldError(noUser.text, "authUser")).toMatch(/^Enter the Auth user that goes with Auth pass/);
    expect(await settingsRow()).toBeUndefined();
  });

  it("parses From with or without a display name, quoted names included", async () => {
    const { agent } = await signedInAdmin();
    let version = 0;
    for (const [typed, shown] of [
      ["alerts@Example.TEST", "alerts@example.test"],
      ['"Gatehouse, Ops" <ops@example.test>', "Gatehouse, Ops <ops@example.test>"],
      ["Gatehouse <gh@example.test>", "Gatehouse <gh@example.test>"],
    ] as const) {
      const res = await agent.post(SMTP, smtpForm({ from: typed, version: String(version) }));
      expect(res.status, typed).toBe(303);
      version += 1;
      expect((await readSmtpSettings(db))?.from).toBe(shown);
    }
    expect((await smtpConnection(db, testKeys))?.from).toEqual({ name: "Gatehouse", address: "gh@example.test" });
  });

  it("refuses a stale version with 409, says why, keeps the input and offers the current version", async () => {
    const { agent } = await signedInAdmin();
    const page = await agent.get(SMTP);
    expect(inputValue(page.text, "version")).toBe("0");
    // Someone else saves first.
    await configureSmtp(db, mailServer, { from: { name: "", address: "first@example.test" } });
    const res = await agent.post(SMTP, smtpForm({ from: "second@example.test", version: "0" }));
    expect(res.status).toBe(409);
    expect(errorSummary(res.text)?.text).toContain("Someone else saved these settings after you opened them");
    expect(inputValue(res.text, "from")).toBe("second@example.test");
    expect(inputValue(res.text, "version")).toBe("1");
    expect(pageText(res.text)).toContain("Now saved:");
    expect(pageText(res.text)).toContain("first@example.test");
    expect((await readSmtpSettings(db))?.from).toBe("first@example.test");
    // Saving again with the version offered applies the input.
    const again = await agent.post(SMTP, smtpForm({ from: "second@example.test", version: "1" }));
    expect(again.status).toBe(303);
    expect((await readSmtpSettings(db))?.from).toBe("second@example.test");
  });

  it("refuses a malformed or missing version", async () => {
    const { agent } = await signedInAdmin();
    for (const version of ["", "-1", "abc"]) {
      const res = await agent.post(SMTP, smtpForm({ version }));
      expect(res.status, version).toBe(422);
      expect(errorSummary(res.text)?.text).toContain("version field is missing or invalid");
    }
    const { version: _dropped, ...withoutVersion } = smtpForm();
    expect((await agent.post(SMTP, withoutVersion)).status).toBe(422);
    expect(await settingsRow()).toBeUndefined();
  });
});

describe("Send test email", () => {
  it("sends through the saved settings, with the saved From, to the address given", async () => {
    const { agent } = await signedInAdmin();
    await follow(agent, await agent.post(SMTP, smtpForm()));
    const res = await agent.post(`${SMTP}/test`, { testTo: "ops@example.test" });
    expect(res.headers.location).toBe(`${SMTP}#test-email`);
    const page = await follow(agent, res);
    expect(pageText(page.text)).toContain("Test email sent to ops@example.test.");
    const mail = await mailServer.waitFor((m) => m.envelopeTo.includes("ops@example.test"));
    expect(mail.subject).toBe("Gatehouse test email");
    expect(mail.envelopeFrom).toBe("alerts@example.test");
    expect(mail.from).toContain("Gatehouse Alerts");
    expect(mail.from).toContain("<alerts@example.test>");
    expect(mail.headerNames).not.toContain("bcc");
    // A test email is not queued and changes no settings.
    expect(await outbox.listRecent(db, 10)).toHaveLength(0);
    expect((await readSmtpSettings(db))?.version).toBe(1);
  });

  it("says email is not configured when nothing is saved", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.post(`${SMTP}/test`, { testTo: "ops@example.test" });
    expect(res.status).toBe(422);
    expect(fieldError(res.text, "testTo")).toBe(EMAIL_NOT_CONFIGURED);
    expect(inputValue(res.text, "testTo")).toBe("ops@example.test");
    expect(mailServer.messages).toHaveLength(0);
  });

  it("with the mail server down shows the connection error and changes nothing", async () => {
    const { agent } = await signedInAdmin();
    await follow(agent, await agent.post(SMTP, smtpForm()));
    const before = await settingsRow();
    const auditBefore = (await listAuditEvents(db, { limit: 1000 })).length;
    await mailServer.stop();
    const page = await follow(agent, await agent.post(`${SMTP}/test`, { testTo: "ops@example.test" }));
    const text = pageText(page.text);
    expect(text).toContain("The test email to ops@example.test could not be sent:");
    expect(text).toContain("ECONNREFUSED");
    expect(page.text).toMatch(/class="flash flash-error"/);
    expect(await settingsRow()).toEqual(before);
    expect(await outbox.listRecent(db, 10)).toHaveLength(0);
    expect(await listAuditEvents(db, { limit: 1000 })).toHaveLength(auditBefore);
  });

  it("shows the server's own words when it refuses the Auth user and Auth pass, and works with the right ones", async () => {
    const authServer = await TestMailServer.start({ auth: { user: "mailer", pass: AUTH_PASS } });
    try {
      const { agent } = await signedInAdmin();
      await follow(agent, await agent.post(SMTP, smtpForm({ port: String(authServer.port), authUser: "mailer", authPass: "wrong password" })));
      const failed = await follow(agent, await agent.post(`${SMTP}/test`, { testTo: "ops@example.test" }));
      expect(pageText(failed.text)).toMatch(/could not be sent: .*535 Authentication credentials invalid/);
      expect(authServer.messages).toHaveLength(0);

      await follow(agent, await agent.post(SMTP, smtpForm({ port: String(authServer.port), authUser: "mailer", authPass: AUTH_PASS, version: "1" })));
      const sent = await follow(agent, await agent.post(`${SMTP}/test`, { testTo: "ops@example.test" }));
      expect(pageText(sent.text)).toContain("Test email sent to ops@example.test.");
      await authServer.waitFor((m) => m.subject === "Gatehouse test email");
    } finally {
      await authServer.stop();
    }
  });
});

describe("Clear configuration", () => {
  it("asks first, then removes the settings and audits it", async () => {
    const { agent } = await signedInAdmin();
    await follow(agent, await agent.post(SMTP, smtpForm({ authUser: "mailer", authPass: AUTH_PASS })));
    const page = await agent.get(SMTP);
    expect(page.text).toMatch(/<a href="\/admin\/settings\/smtp\/clear" role="button"[^>]*>Clear configuration<\/a>/);
    const confirm = await agent.get(`${SMTP}/clear`);
    expect(confirm.status).toBe(200);
    expect(h1(confirm.text)).toBe("Clear the mail server configuration?");
    expect(confirm.text).toMatch(/<button type="submit" class="danger">Clear configuration<\/button>/);
    expect(confirm.text).not.toContain(AUTH_PASS);
    // Nothing happens on GET.
    expect(await readSmtpSettings(db)).toBeDefined();

    const cleared = await follow(agent, await agent.post(`${SMTP}/clear`));
    expect(pageText(cleared.text)).toContain("Mail server configuration cleared.");
    expect(pageText(cleared.text)).toContain("Email is not configured yet");
    expect(inputValue(cleared.text, "host")).toBe("");
    expect(inputValue(cleared.text, "version")).toBe("0");
    expect(await readSmtpSettings(db)).toBeUndefined();
    expect(await settingsRow()).toBeUndefined();
    expect(await listAuditEvents(db, { action: "settings.smtp_cleared" })).toHaveLength(1);

    // With nothing saved there is nothing to confirm.
    const again = await agent.get(`${SMTP}/clear`);
    expect(again.status).toBe(303);
    expect(again.headers.location).toBe(SMTP);
  });
});

describe("Outbox", () => {
  const BODY_MARK = "BODY-SECRET-314159";

  function queue(to: string, subject = "Queued notice") {
    return outbox.enqueue(db, { kind: "test", to, subject, text: `code ${BODY_MARK}`, html: `<p>code ${BODY_MARK}</p>` });
  }

  it("lists queued and failed messages with their errors, never their bodies; Send queued messages now delivers once the server is back", async () => {
    const { agent } = await signedInAdmin();
    await configureSmtp(db, mailServer);
    const queuedId = await queue("later@example.test", "Waiting notice");
    const refusedId = await queue("refused@example.test", "Refused notice");
    await mailServer.stop();

    // The server is down: both stay queued with the connection error.
    const down = await follow(agent, await agent.post(`${SMTP}/outbox/send`));
    expect(pageText(down.text)).toMatch(/0 of 2 queued messages sent; 2 still waiting/);
    expect(pageText(down.text)).toContain("ECONNREFUSED");
    const rows = tableRows(down.text);
    const waiting = rows.find((r) => r[1] === "later@example.test");
    expect(waiting?.slice(1, 5)).toEqual(["later@example.test", "Waiting notice", "queued", "1"]);
    expect(waiting?.[5]).toContain("ECONNREFUSED");
    expect(down.text).not.toContain(BODY_MARK);
    expect(down.text).toMatch(/<th scope="col">Created<\/th><th scope="col">To<\/th><th scope="col">Subject<\/th><th scope="col">Status<\/th><th scope="col">Attempts<\/th><th scope="col">Last error<\/th>/);

    // Back up: the waiting one goes out, the refused one fails for good with the server's 550.
    await mailServer.restart();
    const up = await follow(agent, await agent.post(`${SMTP}/outbox/send`));
    expect(pageText(up.text)).toMatch(/1 of 2 queued messages sent; 1 failed for good/);
    await mailServer.waitFor((m) => m.envelopeTo.includes("later@example.test"));
    expect((await outbox.findMessage(db, queuedId))?.status).toBe("sent");
    expect((await outbox.findMessage(db, refusedId))?.status).toBe("failed");
    const after = tableRows(up.text);
    expect(after.find((r) => r[1] === "later@example.test")?.[3]).toBe("sent");
    const refused = after.find((r) => r[1] === "refused@example.test");
    expect(refused?.[3]).toBe("failed");
    expect(refused?.[5]).toContain("550");
    expect(up.text).not.toContain(BODY_MARK);

    const idle = await follow(agent, await agent.post(`${SMTP}/outbox/send`));
    expect(pageText(idle.text)).toContain("No messages were waiting to be sent.");
  });

  it("all sent: says so", async () => {
    const { agent } = await signedInAdmin();
    await configureSmtp(db, mailServer);
    await queue("a@example.test");
    await queue("b@example.test");
    const page = await follow(agent, await agent.post(`${SMTP}/outbox/send`));
    expect(pageText(page.text)).toContain("2 queued messages sent.");
    expect(mailServer.messages).toHaveLength(2);
  });

  it("without a mail server says email is not configured and leaves the queue alone", async () => {
    const { agent } = await signedInAdmin();
    const id = await queue("later@example.test");
    const page = await follow(agent, await agent.post(`${SMTP}/outbox/send`));
    expect(pageText(page.text)).toContain(EMAIL_NOT_CONFIGURED);
    const message = await outbox.findMessage(db, id);
    expect(message?.status).toBe("queued");
    expect(message?.attempts).toBe(0);
  });

  it("shows only the 50 most recent messages", async () => {
    const { agent } = await signedInAdmin();
    for (let i = 0; i < 55; i += 1) await queue(`m${i}@example.test`);
    const page = await agent.get(SMTP);
    const rows = tableRows(page.text);
    expect(rows).toHaveLength(50);
    expect(rows[0]?.[1]).toBe("m54@example.test");
    expect(page.text).not.toContain("m4@example.test<");
  });

  it("an empty outbox says so", async () => {
    const { agent } = await signedInAdmin();
    const page = await agent.get(SMTP);
    expect(pageText(page.text)).toContain("No email has been sent or queued yet.");
  });
});

describe("General settings", () => {
  it("shows the checkbox with its label, unticked by default, version 0", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.get(GENERAL);
    expect(res.status).toBe(200);
    expect(h1(res.text)).toBe("General settings");
    expect(labelText(res.text, "requireAdminTwoFactor")).toBe("Require two-factor authentication for administrators");
    expect(inputTag(res.text, "requireAdminTwoFactor")).not.toMatch(/\bchecked\b/);
    expect(inputValue(res.text, "version")).toBe("0");
    expect(res.text).toContain(">Save changes</button>");
  });

  it("refuses to require 2FA of administrators when the saving administrator has none", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.post(GENERAL, { requireAdminTwoFactor: "on", version: "0" });
    expect(res.status).toBe(422);
    expect(isInvalid(res.text, "requireAdminTwoFactor")).toBe(true);
    expect(fieldError(res.text, "requireAdminTwoFactor")).toMatch(/^Turn on two-factor authentication for your own account/);
    expect(errorSummary(res.text)?.links).toContain("requireAdminTwoFactor");
    expect(inputTag(res.text, "requireAdminTwoFactor")).toMatch(/\bchecked\b/);
    expect((await readGeneralSettings(db)).value.requireAdminTwoFactor).toBe(false);
    expect(await listAuditEvents(db, { action: "settings.general_updated" })).toHaveLength(0);
  });

  it("with the administrator's own 2FA on it saves, shows it saved and audits; it can be turned off again", async () => {
    const { admin, agent } = await signedInAdmin();
    await db("users").where({ id: admin.id }).update({ two_factor_method: "email", email_verified: true, email: "x@example.test" });
    const page = await follow(agent, await agent.post(GENERAL, { requireAdminTwoFactor: "on", version: "0" }));
    expect(pageText(page.text)).toContain("General settings saved.");
    expect(inputTag(page.text, "requireAdminTwoFactor")).toMatch(/\bchecked\b/);
    expect(inputValue(page.text, "version")).toBe("1");
    expect(await readGeneralSettings(db)).toEqual({ value: { ...DEFAULT_GENERAL_SETTINGS, requireAdminTwoFactor: true }, version: 1 });
    const [event] = await listAuditEvents(db, { action: "settings.general_updated" });
    expect(event?.actorUsername).toBe("root");
    expect(event?.details).toEqual({ changes: { requireAdminTwoFactor: { from: false, to: true } } });

    // Unticked: the browser sends no value.
    const off = await follow(agent, await agent.post(GENERAL, { version: "1" }));
    expect(inputTag(off.text, "requireAdminTwoFactor")).not.toMatch(/\bchecked\b/);
    expect((await readGeneralSettings(db)).value.requireAdminTwoFactor).toBe(false);
    expect(await listAuditEvents(db, { action: "settings.general_updated" })).toHaveLength(2);
  });

  it("refuses a stale version with 409 and keeps the choice", async () => {
    const { admin, agent } = await signedInAdmin();
    await db("users").where({ id: admin.id }).update({ two_factor_method: "email", email_verified: true, email: "x@example.test" });
    expect((await agent.post(GENERAL, { version: "0" })).status).toBe(303);
    const stale = await agent.post(GENERAL, { requireAdminTwoFactor: "on", version: "0" });
    expect(stale.status).toBe(409);
    expect(errorSummary(stale.text)?.text).toContain("Someone else saved these settings after you opened them");
    expect(inputTag(stale.text, "requireAdminTwoFactor")).toMatch(/\bchecked\b/);
    expect(inputValue(stale.text, "version")).toBe("1");
    expect((await readGeneralSettings(db)).value.requireAdminTwoFactor).toBe(false);
  });

  it("refuses fields the form does not have", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.post(GENERAL, { version: "0", idleTimeoutMinutes: "5" });
    expect(res.status).toBe(400);
    expect((await readGeneralSettings(db)).version).toBe(0);
  });
});
