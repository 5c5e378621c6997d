import type { Queryable } from "../db/index.ts";

export type OutboxStatus = "queued" | "sending" | "sent" | "failed";

export interface OutboxMessage {
  id: number;
  kind: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  createdAt: Date;
  sentAt: Date | null;
}

interface OutboxRow {
  id: string | number;
  kind: string;
  to_address: string;
  subject: string;
  text_body: string;
  html_body: string;
  status: OutboxStatus;
  attempts: number;
  next_attempt_at: Date | string;
  last_error: string | null;
  created_at: Date | string;
  sent_at: Date | string | null;
}

function toMessage(row: OutboxRow): OutboxMessage {
  return {
    id: Number(row.id),
    kind: row.kind,
    to: row.to_address,
    subject: row.subject,
    text: row.text_body,
    html: row.html_body,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: new Date(row.next_attempt_at),
    lastError: row.last_error,
    createdAt: new Date(row.created_at),
    sentAt: row.sent_at === null ? null : new Date(row.sent_at),
  };
}

export interface NewMessage {
  kind: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

export async function enqueue(db: Queryable, message: NewMessage): Promise<number> {
  const rows = await db("outbox")
    .insert({ kind: message.kind, to_address: message.to, subject: message.subject, text_body: message.text, html_body: message.html })
    .returning<{ id: string | number }[]>("id");
  return Number(rows[0]?.id);
}

/** Queues many messages, a thousand to a statement; their ids in the order given. */
export async function enqueueAll(db: Queryable, messages: readonly NewMessage[]): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < messages.length; i += 1_000) {
    const rows = await db("outbox")
      .insert(
        messages.slice(i, i + 1_000).map((m) => ({ kind: m.kind, to_address: m.to, subject: m.subject, text_body: m.text, html_body: m.html })),
      )
      .returning<{ id: string | number }[]>("id");
    ids.push(...rows.map((r) => Number(r.id)));
  }
  return ids;
}

/**
 * Claims up to `limit` messages that are due (or whose claim ran out: an instance died while sending) for
 * `claimSeconds`. SKIP LOCKED lets several instances claim at once without ever taking the same message.
 * `onlyId` claims that one message if it is due; it waits for a claim of that message in progress elsewhere (one
 * statement) instead of skipping it, so that the caller then sees who holds it rather than a message still queued.
 */
export async function claimDue(db: Queryable, options: { limit: number; claimSeconds: number; onlyId?: number }): Promise<OutboxMessage[]> {
  const result = await db.raw(
    `UPDATE outbox SET status = 'sending', attempts = attempts + 1,
            claimed_until = now() + make_interval(secs => :claim)
      WHERE id IN (
        SELECT id FROM outbox
         WHERE ((status = 'queued' AND next_attempt_at <= now()) OR (status = 'sending' AND claimed_until < now()))
           AND (CAST(:only AS bigint) IS NULL OR id = CAST(:only AS bigint))
         ORDER BY next_attempt_at, id
         LIMIT :limit
         FOR UPDATE ${options.onlyId === undefined ? "SKIP LOCKED" : ""})
      RETURNING *`,
    { claim: options.claimSeconds, limit: options.limit, only: options.onlyId ?? null },
  );
  return (result.rows as OutboxRow[]).map(toMessage);
}

/** The body is emptied once sent: it may hold a one-time code. */
export async function markSent(db: Queryable, id: number): Promise<void> {
  await db("outbox")
    .where({ id, status: "sending" })
    .update({ status: "sent", sent_at: db.fn.now(), claimed_until: null, last_error: null, text_body: "", html_body: "" });
}

export async function markRetry(db: Queryable, id: number, error: string, retryInSeconds: number): Promise<void> {
  await db("outbox")
    .where({ id, status: "sending" })
    .update({
      status: "queued",
      claimed_until: null,
      last_error: error,
      next_attempt_at: db.raw("now() + make_interval(secs => ?)", [retryInSeconds]),
    });
}

export async function markFailed(db: Queryable, id: number, error: string): Promise<void> {
  await db("outbox")
    .where({ id, status: "sending" })
    .update({ status: "failed", claimed_until: null, last_error: error, text_body: "", html_body: "" });
}

export async function findMessage(db: Queryable, id: number): Promise<OutboxMessage | undefined> {
  const row = await db("outbox").select("*").where({ id }).first<OutboxRow | undefined>();
  return row ? toMessage(row) : undefined;
}

export async function listRecent(db: Queryable, limit: number): Promise<OutboxMessage[]> {
  const rows = await db("outbox").select("*").orderBy([{ column: "created_at", order: "desc" }, { column: "id", order: "desc" }]).limit(limit);
  return (rows as OutboxRow[]).map(toMessage);
}

/** An administrator's "Send queued messages now": every waiting message is due at once. */
export async function makeQueuedDue(db: Queryable): Promise<number> {
  const rows = await db("outbox").where({ status: "queued" }).update({ next_attempt_at: db.fn.now() }).returning("id");
  return rows.length;
}
