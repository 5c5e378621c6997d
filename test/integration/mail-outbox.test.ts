import pino from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createDb, type Db } from "../../src/db/index.ts";
import { optionalEmailField } from "../../src/lib/fields.ts";
import type { Logger } from "../../src/lib/logger.ts";
import { testMessage, verificationCodeMessage } from "../../src/mail/messages.ts";
import * as outbox from "../../src/repositories/outbox.ts";
import { SmtpSettingsSchema, TestEmailSchema } from "../../src/routes/admin/settings/schemas.ts";
import { queueVerificationCode } from "../../src/services/email-verification.ts";
import { MAX_ATTEMPTS, MailOutbox, RETRY_DELAYS_SECONDS } from "../../src/services/mail-outbox.ts";
import { useTestDb, usingPostgres } from "../helpers/db.ts";
import { codeIn, configureSmtp, TestMailServer, testKeys } from "../helpers/mail.ts";
import { insertTestUser } from "../helpers/users.ts";

let db: Db;
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
  mailServer.clear();
});
afterEach(async () => {
  await mailServer.restart();
});

const silent: Logger = pino({ level: "silent" });

function newOutbox(logger: Logger = silent, on: Db = db): MailOutbox {
  return new MailOutbox(on, testKeys, logger);
}

/** A pino logger at the most verbose level whose every line lands in `lines`. */
function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level: "trace" }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

async function row(id: number): Promise<outbox.OutboxMessage> {
  const message = await outbox.findMessage(db, id);
  if (!message) throw new Error(`outbox message ${id} is gone`);
  return message;
}

/** Seconds from the database's now() to the message's next attempt. */
async function secondsUntilNextAttempt(id: number): Promise<number> {
  const result = await db.raw("SELECT EXTRACT(EPOCH FROM next_attempt_at - now()) AS s FROM outbox WHERE id = ?", [id]);
  return Number((result.rows as { s: string | number }[])[0]?.s);
}

/** Moves the database's clock for one message instead of waiting for its retry delay. */
async function makeDue(id: number): Promise<void> {
  await db.raw("UPDATE outbox SET next_attempt_at = now() - interval '1 second' WHERE id = ?", [id]);
}

function plainMessage(to: string, subject = "Hello from the outbox"): outbox.NewMessage {
  return { kind: "test", to, subject, text: `Plain text for ${to}`, html: `<p>HTML for ${to}</p>` };
}

describe("MailOutbox against a real SMTP server", () => {
  it("delivers a queued message with the saved From, To, subject, text and HTML parts, then forgets its body", async () => {
    await configureSmtp(db, mailServer, { from: { name: "Gatehouse Alerts", address: "alerts@example.test" } });
    const user = await insertTestUser(db, { username: "ada", email: "ada@example.test" });
    const id = await queueVerificationCode(db, testKeys, user, "ada@example.test");
    const queued = await row(id);
    expect(queued.status).toBe("queued");
    const codeInBody = /\b([0-9]{6})\b/.exec(queued.text)?.[1];
    expect(codeInBody).toMatch(/^[0-9]{6}$/);

    expect(await newOutbox().deliverNow(id)).toEqual({ status: "sent" });

    const mail = await mailServer.waitFor((m) => m.envelopeTo.includes("ada@example.test"));
    expect(mailServer.messages).toHaveLength(1);
    expect(mail.envelopeFrom).toBe("alerts@example.test");
    expect(mail.from).toBe('"Gatehouse Alerts" <alerts@example.test>');
    expect(mail.to).toBe("ada@example.test");
    expect(mail.subject).toBe("[AUTH] Gatehouse verification code");
    expect(mail.text).toContain(`Your confirmation code is ${codeInBody}`);
    expect(mail.text).toContain('for the account "ada"');
    expect(mail.html).toContain(`<p>Your confirmation code is ${codeInBody}</p>`);
    expect(codeIn(mail)).toBe(codeInBody);
    expect(mail.raw).toMatch(/Content-Type: multipart\/alternative/i);
    expect(mail.raw).toMatch(/Content-Type: text\/plain/i);
    expect(mail.raw).toMatch(/Content-Type: text\/html/i);

    const sent = await row(id);
    expect(sent.status).toBe("sent");
    expect(sent.sentAt).toBeInstanceOf(Date);
    expect(sent.attempts).toBe(1);
    expect(sent.lastError).toBeNull();
    expect(sent.text).toBe("");
    expect(sent.html).toBe("");
    const stored = await db.raw("SELECT CAST(outbox AS text) AS everything FROM outbox WHERE id = ?", [id]);
    expect((stored.rows as { everything: string }[])[0]?.everything).not.toContain(codeInBody);
  });

  it("keeps a message queued while the mail server is down and delivers it exactly once after it is back", async () => {
    await configureSmtp(db, mailServer);
    const id = await outbox.enqueue(db, plainMessage("grace@example.test"));
    await mailServer.stop();

    const result = await newOutbox().deliverNow(id);
    expect(result.status).toBe("queued");
    expect(result.status === "queued" && result.error).toMatch(/ECONNREFUSED/);
    const waiting = await row(id);
    expect(waiting.status).toBe("queued");
    expect(waiting.attempts).toBe(1);
    expect(waiting.lastError).toMatch(/ECONNREFUSED/);
    expect(waiting.text).toBe("Plain text for grace@example.test");
    const wait = await secondsUntilNextAttempt(id);
    expect(wait).toBeGreaterThan(RETRY_DELAYS_SECONDS[0] - 5);
    expect(wait).toBeLessThanOrEqual(RETRY_DELAYS_SECONDS[0]);

    // Not due yet: a drain does not touch it, even with the server back.
    await mailServer.restart();
    const mailOutbox = newOutbox();
    await mailOutbox.drain();
    expect(mailServer.messages).toHaveLength(0);
    expect((await row(id)).attempts).toBe(1);

    expect(await outbox.makeQueuedDue(db)).toBe(1);
    await mailOutbox.drain();
    await mailServer.waitFor((m) => m.envelopeTo.includes("grace@example.test"));
    const sent = await row(id);
    expect(sent.status).toBe("sent");
    expect(sent.attempts).toBe(2);
    expect(sent.lastError).toBeNull();

    await outbox.makeQueuedDue(db);
    await mailOutbox.drain();
    expect(await mailOutbox.deliverNow(id)).toEqual({ status: "sent" });
    expect(mailServer.to("grace@example.test")).toHaveLength(1);
    expect(mailServer.messages).toHaveLength(1);
  });

  it("marks a message failed at once when the server refuses the recipient (550), and never retries it", async () => {
    await configureSmtp(db, mailServer);
    const id = await outbox.enqueue(db, plainMessage("refused@example.test"));

    const result = await newOutbox().deliverNow(id);
    expect(result.status).toBe("failed");
    expect(result.status === "failed" && result.error).toMatch(/550.*Mailbox refused@example\.test unavailable/);
    const failed = await row(id);
    expect(failed.status).toBe("failed");
    expect(failed.attempts).toBe(1);
    expect(failed.lastError).toMatch(/Mailbox refused@example\.test unavailable/);
    expect(failed.text).toBe("");
    expect(failed.html).toBe("");

    await makeDue(id);
    expect(await outbox.makeQueuedDue(db)).toBe(0);
    await newOutbox().drain();
    expect(await newOutbox().deliverNow(id)).toEqual({ status: "failed", error: failed.lastError });
    expect((await row(id)).attempts).toBe(1);
    expect(mailServer.messages).toHaveLength(0);
  });

  it(`gives up after ${MAX_ATTEMPTS} temporary failures, waiting longer before each retry`, async () => {
    await configureSmtp(db, mailServer);
    const id = await outbox.enqueue(db, plainMessage("linus@example.test"));
    await mailServer.stop();
    const mailOutbox = newOutbox();

    const waits: number[] = [];
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt += 1) {
      await makeDue(id);
      const result = await mailOutbox.deliverNow(id);
      expect(result.status).toBe("queued");
      const message = await row(id);
      expect(message.status).toBe("queued");
      expect(message.attempts).toBe(attempt);
      const wait = await secondsUntilNextAttempt(id);
      const expected = RETRY_DELAYS_SECONDS[attempt - 1] ?? Number.NaN;
      expect(wait).toBeGreaterThan(expected - 5);
      expect(wait).toBeLessThanOrEqual(expected);
      waits.push(wait);
    }
    for (let i = 1; i < waits.length; i += 1) expect(waits[i]).toBeGreaterThan(waits[i - 1] ?? 0);

    await makeDue(id);
    const last = await mailOutbox.deliverNow(id);
    expect(last.status).toBe("failed");
    expect(last.status === "failed" && last.error).toMatch(/ECONNREFUSED/);
    const failed = await row(id);
    expect(failed.status).toBe("failed");
    expect(failed.attempts).toBe(MAX_ATTEMPTS);
    expect(failed.text).toBe("");

    // Nothing brings it back: with the server up again, draining sends nothing.
    await mailServer.restart();
    await makeDue(id);
    await outbox.makeQueuedDue(db);
    await mailOutbox.drain();
    expect((await row(id)).attempts).toBe(MAX_ATTEMPTS);
    expect(mailServer.messages).toHaveLength(0);
  });

  // On Postgres the two instances use two connection pools and really claim at the same time, so this checks
  // FOR UPDATE SKIP LOCKED; on the embedded PGlite (one connection) their queries take turns.
  it(`two instances draining the same 20 messages at once send each exactly once (${usingPostgres ? "two Postgres pools" : "one PGlite connection"})`, async () => {
    await configureSmtp(db, mailServer);
    const ids: number[] = [];
    for (let i = 1; i <= 20; i += 1) ids.push(await outbox.enqueue(db, plainMessage(`user${i}@example.test`, `Message ${i}`)));

    let secondDb: Db | undefined;
    if (usingPostgres) {
      const schema = (await db.raw("SELECT current_schema() AS s")).rows[0].s as string;
      const url = new URL(process.env.TEST_DATABASE_URL as string);
      url.searchParams.set("options", `-c search_path=${schema}`);
      secondDb = createDb({ databaseUrl: url.toString(), embeddedDir: undefined });
    }
    try {
      const first = newOutbox(silent, db);
      const second = newOutbox(silent, secondDb ?? db);
      await Promise.all([first.drain(), second.drain(), first.deliverNow(ids[19] ?? 0), second.deliverNow(ids[0] ?? 0)]);
    } finally {
      await secondDb?.destroy();
    }

    expect(mailServer.messages).toHaveLength(20);
    for (let i = 1; i <= 20; i += 1) {
      const received = mailServer.to(`user${i}@example.test`);
      expect(received).toHaveLength(1);
      expect(received[0]?.subject).toBe(`Message ${i}`);
    }
    const rows = await db("outbox").select("status", "attempts");
    expect(rows).toHaveLength(20);
    for (const r of rows) expect(r).toEqual({ status: "sent", attempts: 1 });
  });

  it("sends a message again once the claim of an instance that died mid-send has run out, and only once", async () => {
    await configureSmtp(db, mailServer);
    const id = await outbox.enqueue(db, plainMessage("orphan@example.test"));
    // Another instance claimed it and is (as far as anyone knows) still sending it.
    await db.raw("UPDATE outbox SET status = 'sending', attempts = 1, claimed_until = now() + interval '60 seconds' WHERE id = ?", [id]);
    const mailOutbox = newOutbox();
    await mailOutbox.drain();
    expect(await mailOutbox.deliverNow(id)).toEqual({ status: "pending" });
    expect(mailServer.messages).toHaveLength(0);
    expect((await row(id)).status).toBe("sending");

    // That instance died: its claim ran out.
    await db.raw("UPDATE outbox SET claimed_until = now() - interval '1 second' WHERE id = ?", [id]);
    await mailOutbox.drain();
    await mailServer.waitFor((m) => m.envelopeTo.includes("orphan@example.test"));
    const sent = await row(id);
    expect(sent.status).toBe("sent");
    expect(sent.attempts).toBe(2);

    await mailOutbox.drain();
    expect(mailServer.to("orphan@example.test")).toHaveLength(1);
  });

  it("leaves messages queued while email is not configured, and sends them once it is", async () => {
    const ids = [await outbox.enqueue(db, plainMessage("early1@example.test")), await outbox.enqueue(db, plainMessage("early2@example.test"))];
    const mailOutbox = newOutbox();

    await expect(mailOutbox.drain()).resolves.toBeUndefined();
    for (const id of ids) {
      const message = await row(id);
      // Nothing is claimed without a mail server: the wait does not use up the message's attempts.
      expect(message.status).toBe("queued");
      expect(message.attempts).toBe(0);
      expect(message.lastError).toBeNull();
      expect(message.text).not.toBe("");
    }
    expect(mailServer.messages).toHaveLength(0);

    await configureSmtp(db, mailServer);
    await outbox.makeQueuedDue(db);
    await mailOutbox.drain();
    await mailServer.waitFor((m) => m.envelopeTo.includes("early2@example.test"));
    expect(mailServer.to("early1@example.test")).toHaveLength(1);
    expect(mailServer.to("early2@example.test")).toHaveLength(1);
    for (const id of ids) expect((await row(id)).status).toBe("sent");
  });

  describe("with a mail server that requires a user and password", () => {
    const AUTH = { user: "gatehouse-mailer", pass: "Sealed-Pass-4711!" };
    let authServer: TestMailServer;
    beforeAll(async () => {
      authServer = await TestMailServer.start({ auth: AUTH });
    });
    afterAll(async () => {
      await authServer.stop();
    });
    beforeEach(() => {
      authServer.clear();
    });

    it("signs in with the stored Auth pass, which the settings row and audit trail hold only sealed", async () => {
      // Without credentials the server refuses to take the message: delivery below proves AUTH was used.
      await configureSmtp(db, authServer);
      const refused = await newOutbox().deliverNow(await outbox.enqueue(db, plainMessage("anon@example.test")));
      expect(refused.status).not.toBe("sent");
      expect(refused.status !== "sent" && refused.status !== "pending" && refused.error).toMatch(/530|authentication required/i);

      await configureSmtp(db, authServer, { authUser: AUTH.user, authPass: AUTH.pass });
      const id = await outbox.enqueue(db, plainMessage("ops@example.test"));
      expect(await newOutbox().deliverNow(id)).toEqual({ status: "sent" });
      await authServer.waitFor((m) => m.envelopeTo.includes("ops@example.test"));
      expect(authServer.to("ops@example.test")).toHaveLength(1);

      const settingsRows = await db.raw("SELECT CAST(value AS text) AS value FROM settings WHERE key = 'smtp'");
      const stored = (settingsRows.rows as { value: string }[])[0]?.value ?? "";
      expect(stored).toContain(AUTH.user);
      expect(stored).toContain("authPassSealed");
      expect(stored).not.toContain(AUTH.pass);
      const audit = await db.raw("SELECT CAST(details AS text) AS details FROM audit_events");
      for (const event of audit.rows as { details: string | null }[]) expect(event.details ?? "").not.toContain(AUTH.pass);
    });

    it("reports a wrong Auth pass as an authentication failure and keeps the message", async () => {
      await configureSmtp(db, authServer, { authUser: AUTH.user, authPass: "not-the-password" });
      const id = await outbox.enqueue(db, plainMessage("ops@example.test"));
      const result = await newOutbox().deliverNow(id);
      expect(result.status).toBe("queued");
      const error = result.status === "queued" ? result.error : "";
      expect(error).toMatch(/535/);
      expect(error).toMatch(/auth/i);
      expect(error).not.toContain("not-the-password");
      const message = await row(id);
      expect(message.status).toBe("queued");
      expect(message.lastError).toBe(error);
      expect(authServer.messages).toHaveLength(0);

      // The administrator fixes the password: the waiting message goes out.
      await configureSmtp(db, authServer, { authUser: AUTH.user, authPass: AUTH.pass });
      await makeDue(id);
      await newOutbox().drain();
      await authServer.waitFor((m) => m.envelopeTo.includes("ops@example.test"));
      expect((await row(id)).status).toBe("sent");
    });
  });

  it("never writes a code or a message body to the log, whether the send works or fails", async () => {
    await configureSmtp(db, mailServer);
    const { logger, lines } = capturingLogger();
    const mailOutbox = newOutbox(logger);
    const user = await insertTestUser(db, { username: "hedy", email: "hedy@example.test" });

    const sentId = await queueVerificationCode(db, testKeys, user, "hedy@example.test");
    const sentCode = /\b([0-9]{6})\b/.exec((await row(sentId)).text)?.[1] ?? "";
    expect(await mailOutbox.deliverNow(sentId)).toEqual({ status: "sent" });
    expect(codeIn(await mailServer.waitFor((m) => m.envelopeTo.includes("hedy@example.test")))).toBe(sentCode);

    await mailServer.stop();
    const failedId = await queueVerificationCode(db, testKeys, user, "hedy@example.test");
    const failedCode = /\b([0-9]{6})\b/.exec((await row(failedId)).text)?.[1] ?? "";
    expect((await mailOutbox.deliverNow(failedId)).status).toBe("queued");
    await makeDue(failedId);
    await mailOutbox.drain();
    mailOutbox.kick();
    await mailOutbox.drain();
    expect((await row(failedId)).attempts).toBe(2);

    const log = lines.join("");
    // The log did record both outcomes, by message id.
    expect(log).toContain("outbox: message sent");
    expect(log).toContain("outbox: send failed; will retry");
    expect(log).toContain(`"outboxId":${sentId}`);
    expect(log).toContain(`"outboxId":${failedId}`);
    for (const code of [sentCode, failedCode]) {
      expect(code).toMatch(/^[0-9]{6}$/);
      expect(log).not.toContain(code);
    }
    expect(log).not.toContain("Your confirmation code is");
    expect(log).not.toContain("valid for 10 minutes");
  });

  describe("docs/security.md E6: header injection through addresses and display names", () => {
    const INJECTIONS = ["a@b.com\r\nBcc: x@evil.test", "a@b.com\nBcc: x@evil.test", "a@b.com\rBcc: x@evil.test", "a@b.com\u0000x@evil.test"];

    function smtpForm(from: string) {
      return { host: "127.0.0.1", port: "2525", security: "none", authUser: "", authPass: "", from, version: "0" };
    }

    it("refuses CR, LF and NUL in every address an account or the Alert Services form can give", () => {
      for (const value of INJECTIONS) {
        // Account email (admin user form and profile) and the test-email recipient.
        expect(optionalEmailField.safeParse(value).success).toBe(false);
        const testTo = TestEmailSchema.safeParse({ testTo: value });
        expect(testTo.success).toBe(false);
        expect(testTo.error?.issues[0]?.message).toMatch(/line breaks or NUL|Send test to/);
        // From: in the address and in the display name.
        const fromAddress = SmtpSettingsSchema.safeParse(smtpForm(`Gatehouse <${value}>`));
        expect(fromAddress.success).toBe(false);
        expect(fromAddress.error?.issues[0]?.path).toEqual(["from"]);
      }
      for (const name of ["Evil\r\nBcc: x@evil.test", "Evil\nBcc: x@evil.test", "Evil\u0000"]) {
        const fromName = SmtpSettingsSchema.safeParse(smtpForm(`${name} <alerts@example.test>`));
        expect(fromName.success).toBe(false);
        expect(fromName.error?.issues[0]?.message).toBe("From cannot contain line breaks or NUL characters, in the name or the address.");
      }
      // A trailing line break is refused, not trimmed away.
      expect(SmtpSettingsSchema.safeParse(smtpForm("Gatehouse <alerts@example.test>\r\n")).success).toBe(false);
      const clean = SmtpSettingsSchema.safeParse(smtpForm("Gatehouse Alerts <alerts@example.test>"));
      expect(clean.success && clean.data.settings.from).toEqual({ name: "Gatehouse Alerts", address: "alerts@example.test" });
    });

    it("sends a real message with no Bcc header and only the one recipient; a line break in a stored display name or recipient stops the message", async () => {
      await configureSmtp(db, mailServer, { from: { name: "Gatehouse Alerts", address: "alerts@example.test" } });
      const id = await outbox.enqueue(db, testMessage("admin@example.test"));
      expect(await newOutbox().deliverNow(id)).toEqual({ status: "sent" });
      const mail = await mailServer.waitFor((m) => m.envelopeTo.includes("admin@example.test"));
      expect(mail.envelopeTo).toEqual(["admin@example.test"]);
      expect(mail.headerNames).not.toContain("bcc");
      expect(mail.headerNames).not.toContain("cc");

      // A display name or a recipient that slipped past the forms (written straight into the database) stops the
      // message for good: nothing reaches the server, and the outbox says why.
      mailServer.clear();
      await configureSmtp(db, mailServer, { from: { name: "Evil\r\nBcc: x@evil.test", address: "alerts@example.test" } });
      const injected = await outbox.enqueue(db, verificationCodeMessage("victim@example.test", "victim", "123456"));
      const refused = await newOutbox().deliverNow(injected);
      expect(refused).toMatchObject({ status: "failed", error: expect.stringMatching(/From name contains a line break/) });
      await configureSmtp(db, mailServer, { from: { name: "Gatehouse Alerts", address: "alerts@example.test" } });
      const badRecipient = await outbox.enqueue(db, verificationCodeMessage("a@b.test\r\nBcc: x@evil.test", "victim", "123456"));
      expect(await newOutbox().deliverNow(badRecipient)).toMatchObject({ status: "failed", error: expect.stringMatching(/not a single plain email address/) });
      const group = await outbox.enqueue(db, verificationCodeMessage("a@b.test Bcc:x@evil.test;", "victim", "123456"));
      expect(await newOutbox().deliverNow(group)).toMatchObject({ status: "failed" });
      expect(mailServer.messages).toHaveLength(0);
    });
  });
});
