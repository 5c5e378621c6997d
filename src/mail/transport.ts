import nodemailer from "nodemailer";

export type SmtpSecurity = "none" | "starttls" | "tls";

export interface SmtpConnection {
  host: string;
  port: number;
  security: SmtpSecurity;
  authUser: string;
  authPass: string;
  from: { name: string; address: string };
}

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * nodemailer's defaults (2 min to connect, 10 min of socket silence) would hold a request as long as a stuck
 * server likes; docs/security.md §2.6 sets 10 s, 10 s and 30 s.
 */
export const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 } as const;

const HEADER_BREAK = /[\r\n\0]/;
/** One bare address: what every form allows. Anything else (a group, a list) could send the mail elsewhere. */
const SINGLE_ADDRESS = /^[^\s@"<>(),;:\\[\]]+@[^\s@"<>(),;:\\[\]]+$/u;

/** A refusal of the message itself: never retried (docs/security.md E6, whatever path wrote the row). */
export class UnsendableMailError extends Error {
  readonly responseCode = 554;
}

/** The last guard before SMTP: forms refuse these already, but a row written by any other path meets this check. */
function assertSendable(connection: SmtpConnection, mail: OutgoingMail): void {
  if (!SINGLE_ADDRESS.test(mail.to)) throw new UnsendableMailError("The recipient is not a single plain email address; the message was not sent.");
  for (const [what, value] of [["subject", mail.subject], ["From name", connection.from.name], ["From address", connection.from.address]] as const)
    if (HEADER_BREAK.test(value)) throw new UnsendableMailError(`The ${what} contains a line break or NUL; the message was not sent.`);
}

/**
 * Sends one message; rejects with nodemailer's error, whose message is the server's own words where it gave some.
 * `signal` aborts the send (nodemailer closes the connection; the error is named AbortError): the shutdown does so
 * to a send that outlasts its grace (services/mail-outbox.ts).
 */
export async function sendMail(connection: SmtpConnection, mail: OutgoingMail, signal?: AbortSignal): Promise<void> {
  assertSendable(connection, mail);
  const transport = nodemailer.createTransport({
    host: connection.host,
    port: connection.port,
    secure: connection.security === "tls",
    requireTLS: connection.security === "starttls",
    ignoreTLS: connection.security === "none",
    auth: connection.authUser ? { user: connection.authUser, pass: connection.authPass } : undefined,
    tls: { rejectUnauthorized: true },
    ...SMTP_TIMEOUTS,
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  try {
    await transport.sendMail({ from: connection.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, ...(signal ? { signal } : {}) });
  } finally {
    transport.close();
  }
}

/** 5xx replies are permanent (a refused recipient, say): retrying them would only repeat the refusal. */
export function isPermanentFailure(error: unknown): boolean {
  const code = (error as { responseCode?: number } | null)?.responseCode;
  return typeof code === "number" && code >= 500 && code < 600 && code !== 535 && code !== 530;
}

/** The server's own words where it gave some, else the connection error, never a stack. */
export function describeSendError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/[\r\n]+/g, " ").slice(0, 500);
}
