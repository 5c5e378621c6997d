import type { AddressInfo } from "node:net";
import { simpleParser } from "mailparser";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import type { Db } from "../../src/db/index.ts";
import { deriveSecretKeys } from "../../src/lib/app-secret.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { type SmtpSettingsInput, readSmtpSettings, saveSmtpSettings } from "../../src/services/mail-settings.ts";
import type { Express } from "express";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import type { MailOutbox } from "../../src/services/mail-outbox.ts";
import { createTestAppParts, TEST_APP_SECRET } from "./app.ts";
import { useTestDb } from "./db.ts";
import { unsharedPort } from "./ports.ts";

/** The keys createTestApp's app derives: tests that call services directly use the same ones. */
export const testKeys = deriveSecretKeys(TEST_APP_SECRET);

export interface ReceivedMail {
  envelopeFrom: string;
  envelopeTo: string[];
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** Header names, lower-cased, as they arrived. */
  headerNames: string[];
  raw: string;
}

/**
 * A real SMTP server in this process (smtp-server), plain text on a loopback port: what Gatehouse sends arrives
 * here as bytes over SMTP and is parsed back with mailparser.
 */
export class TestMailServer {
  readonly messages: ReceivedMail[] = [];
  private server: SMTPServer | undefined;
  private waiters: (() => void)[] = [];

  private constructor(
    public port: number,
    private readonly options: { auth?: { user: string; pass: string }; rejectRecipients?: RegExp; answerDelayMs?: number },
  ) {}

  /** Messages whose data has begun to arrive (a slow server's sends in progress count here before they are answered). */
  dataStarted = 0;

  /**
   * Starts on a free port (or `port`); with `auth`, only that user and password may send. The port is one the kernel
   * hands out to nobody else (ports.ts), so that restart() gets it back and, while stopped, sends are refused.
   * With `answerDelayMs`, a slow server: it takes each message's data, then waits that long before it answers.
   */
  static async start(
    options: { auth?: { user: string; pass: string }; rejectRecipients?: RegExp; answerDelayMs?: number; port?: number } = {},
  ): Promise<TestMailServer> {
    for (let attempt = 1; ; attempt++) {
      const server = new TestMailServer(options.port ?? (await unsharedPort()), options);
      try {
        await server.listen();
        return server;
      } catch (error) {
        // Taken between the check and this listen: by another test run picking the same port. Pick another.
        if (options.port !== undefined || (error as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt >= 5) throw error;
      }
    }
  }

  private listen(): Promise<void> {
    const { auth, rejectRecipients } = this.options;
    const serverOptions: SMTPServerOptions = {
      secure: false,
      disabledCommands: auth ? ["STARTTLS"] : ["STARTTLS", "AUTH"],
      authOptional: !auth,
      allowInsecureAuth: true,
      logger: false,
      onAuth: (session, _connection, callback) => {
        if (auth && session.username === auth.user && session.password === auth.pass) return callback(null, { user: session.username });
        const error = new Error("Authentication credentials invalid") as Error & { responseCode: number };
        error.responseCode = 535;
        callback(error);
      },
      onRcptTo: (address, _session, callback) => {
        if (rejectRecipients?.test(address.address)) {
          const error = new Error(`Mailbox ${address.address} unavailable`) as Error & { responseCode: number };
          error.responseCode = 550;
          return callback(error);
        }
        callback();
      },
      onData: (stream, session, callback) => {
        this.dataStarted++;
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", async () => {
          if (this.options.answerDelayMs) await new Promise((resolve) => setTimeout(resolve, this.options.answerDelayMs));
          const raw = Buffer.concat(chunks).toString("utf8");
          simpleParser(raw).then(
            (parsed) => {
              const to = Array.isArray(parsed.to) ? parsed.to.map((a) => a.text).join(", ") : (parsed.to?.text ?? "");
              this.messages.push({
                envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
                envelopeTo: session.envelope.rcptTo.map((r) => r.address),
                from: parsed.from?.text ?? "",
                to,
                subject: parsed.subject ?? "",
                text: parsed.text ?? "",
                html: typeof parsed.html === "string" ? parsed.html : "",
                headerNames: [...parsed.headers.keys()],
                raw,
              });
              for (const wake of this.waiters.splice(0)) wake();
              callback();
            },
            (error: Error) => callback(error),
          );
        });
      },
    };
    const server = new SMTPServer(serverOptions);
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => {
        this.port = (server.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** Closes the port: sends fail with "connection refused" until `restart`. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    if (!this.server) await this.listen();
  }

  clear(): void {
    this.messages.length = 0;
  }

  /** The messages to `address` (envelope recipient, compared without regard to case). */
  to(address: string): ReceivedMail[] {
    return this.messages.filter((m) => m.envelopeTo.some((t) => t.toLowerCase() === address.toLowerCase()));
  }

  /** Waits (up to `timeoutMs`) until a message matching `predicate` has arrived, and returns the newest such. */
  async waitFor(predicate: (mail: ReceivedMail) => boolean, timeoutMs = 15_000): Promise<ReceivedMail> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.filter(predicate).at(-1);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching mail arrived; got: ${this.messages.map((m) => `${m.envelopeTo.join(",")}: ${m.subject}`).join(" | ") || "nothing"}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/** The 6-digit code in a message's text. */
export function codeIn(mail: ReceivedMail): string {
  const match = /\b([0-9]{6})\b/.exec(mail.text);
  if (!match?.[1]) throw new Error(`no 6-digit code in: ${mail.text}`);
  return match[1];
}

/** Points Gatehouse's Alert Services at `server` (plain SMTP on loopback), as an administrator would. */
export async function configureSmtp(db: Db, server: { port: number }, overrides: Partial<SmtpSettingsInput> = {}): Promise<void> {
  const current = await readSmtpSettings(db);
  await saveSmtpSettings(db, SYSTEM_ACTOR, testKeys, current?.version ?? 0, {
    host: "127.0.0.1",
    port: server.port,
    security: "none",
    authUser: "",
    authPass: undefined,
    from: { name: "Gatehouse", address: "gatehouse@example.test" },
    ...overrides,
  });
}

/** What a test file on the whole app with mail gets before each test. */
export interface AppWithMail {
  db: Db;
  app: Express;
  mailOutbox: MailOutbox;
  mailServer: TestMailServer;
}

/**
 * The hooks of a test file that drives the whole app and reads its mail: a database (emptied before each test), a
 * real SMTP server for the file (running and emptied before each test), a new app, and, with `configure`, Alert
 * Services pointed at that server. After each test the outbox finishes what requests sent in the background, so
 * nothing arrives while the next test empties the database. The outbox is not started: tests drain it.
 */
export function useAppWithMail(use: (parts: AppWithMail) => void, options: { configure: boolean }): void {
  let db: Db | undefined;
  let mailServer: TestMailServer | undefined;
  let mailOutbox: MailOutbox | undefined;
  useTestDb((created) => {
    db = created;
  });
  beforeAll(async () => {
    mailServer = await TestMailServer.start();
  });
  afterAll(async () => {
    await mailServer?.stop();
  });
  beforeEach(async () => {
    if (!db || !mailServer) throw new Error("useAppWithMail: the database or the mail server did not start");
    await mailServer.restart();
    mailServer.clear();
    const parts = createTestAppParts(db);
    mailOutbox = parts.mailOutbox;
    if (options.configure) await configureSmtp(db, mailServer);
    use({ db, app: parts.app, mailOutbox: parts.mailOutbox, mailServer });
  });
  afterEach(async () => {
    await mailOutbox?.drain().catch(() => undefined);
  });
}
