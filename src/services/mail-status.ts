import type { Queryable } from "../db/index.ts";
import * as outbox from "../repositories/outbox.ts";
import type { MailOutbox } from "./mail-outbox.ts";

/** How many messages the Outbox table on Alert Services shows. */
export const OUTBOX_SHOWN = 50;
/** How far back "Send queued messages now" looks to report what became of each waiting message. */
const REPORT_SCAN = 1000;

/** A message as administrators see it: never its body, which may hold a one-time code. */
export interface OutboxEntry {
  id: number;
  kind: string;
  to: string;
  subject: string;
  status: outbox.OutboxStatus;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  sentAt: Date | null;
}

function entry(message: outbox.OutboxMessage): OutboxEntry {
  return {
    id: message.id,
    kind: message.kind,
    to: message.to,
    subject: message.subject,
    status: message.status,
    attempts: message.attempts,
    lastError: message.lastError,
    createdAt: message.createdAt,
    sentAt: message.sentAt,
  };
}

/** The most recent messages, newest first, without their bodies. */
export async function recentOutbox(db: Queryable, limit = OUTBOX_SHOWN): Promise<OutboxEntry[]> {
  return (await outbox.listRecent(db, limit)).map(entry);
}

export interface SendQueuedResult {
  /** Messages that were waiting and were made due at once. Only the newest REPORT_SCAN are followed up, so sent + waiting + failed can (rarely) be less. */
  tried: number;
  sent: number;
  /** Still queued (the send failed again; retried later) or being sent by another instance. */
  waiting: number;
  /** Failed for good (a permanent refusal, or out of attempts). */
  failed: number;
  /** The newest error among the messages that did not go out. */
  lastError: string | null;
}

/**
 * An administrator's "Send queued messages now": every waiting message becomes due, the outbox sends what is
 * due, and the result says what became of the messages that were waiting.
 */
export async function sendQueuedNow(db: Queryable, mailOutbox: MailOutbox): Promise<SendQueuedResult> {
  const waitingBefore = (await outbox.listRecent(db, REPORT_SCAN)).filter((m) => m.status === "queued").map((m) => m.id);
  const tried = await outbox.makeQueuedDue(db);
  await mailOutbox.drain();
  const result: SendQueuedResult = { tried, sent: 0, waiting: 0, failed: 0, lastError: null };
  if (tried === 0) return result;
  for (const id of waitingBefore) {
    const message = await outbox.findMessage(db, id);
    if (!message) continue;
    if (message.status === "sent") result.sent += 1;
    else {
      if (message.status === "failed") result.failed += 1;
      else result.waiting += 1;
      result.lastError ??= message.lastError;
    }
  }
  return result;
}
