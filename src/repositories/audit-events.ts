import type { Queryable } from "../db/index.ts";
import { containsPattern } from "./search-pattern.ts";
import type { Actor } from "../types/user.ts";

export interface AuditEventInput {
  action: string;
  target?: { type: string; id: string | number; label?: string };
  details?: Record<string, unknown>;
}

export interface AuditEvent {
  id: number;
  occurredAt: Date;
  actorId: number | null;
  actorUsername: string | null;
  clientIp: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  targetLabel: string | null;
  details: Record<string, unknown>;
}

/** The row of one event: who (and through which API token), what, on what. */
function auditRow(actor: Actor, event: AuditEventInput) {
  return {
    actor_id: actor.id,
    actor_username: actor.username,
    client_ip: actor.clientIp,
    request_id: actor.requestId,
    action: event.action,
    target_type: event.target?.type ?? null,
    target_id: event.target ? String(event.target.id) : null,
    target_label: event.target?.label ?? null,
    // Which personal token made an API change: after a leak, what it did can be told apart from the console's.
    details: JSON.stringify(actor.apiTokenId === undefined ? (event.details ?? {}) : { ...event.details, viaApiToken: actor.apiTokenId }),
  };
}

export async function insertAuditEvent(db: Queryable, actor: Actor, event: AuditEventInput): Promise<void> {
  await db("audit_events").insert(auditRow(actor, event));
}

/** Many events of one actor and request at once (an import's account creations), a thousand to a statement. */
export async function insertAuditEvents(db: Queryable, actor: Actor, events: readonly AuditEventInput[]): Promise<void> {
  for (let i = 0; i < events.length; i += 1_000) {
    await db("audit_events").insert(
      events.slice(i, i + 1_000).map((event) => auditRow(actor, event)),
    );
  }
}

export async function listAuditEvents(
  db: Queryable,
  filter: { action?: string; targetId?: string; limit?: number } = {},
): Promise<AuditEvent[]> {
  const query = db("audit_events")
    .select("id", "occurred_at", "actor_id", "actor_username", "client_ip", "action", "target_type", "target_id", "target_label", "details")
    .orderBy([
      { column: "occurred_at", order: "desc" },
      { column: "id", order: "desc" },
    ])
    .limit(filter.limit ?? 100);
  if (filter.action) query.where({ action: filter.action });
  if (filter.targetId) query.where({ target_id: filter.targetId });
  const rows = await query;
  return rows.map((r) => ({
    id: Number(r.id),
    occurredAt: new Date(r.occurred_at),
    actorId: r.actor_id === null ? null : Number(r.actor_id),
    actorUsername: r.actor_username,
    clientIp: r.client_ip,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    targetLabel: r.target_label,
    details: typeof r.details === "string" ? JSON.parse(r.details) : r.details,
  }));
}

// The Logs screen (/admin/logs) and its downloads --------------------------------------------------------------

/** Which events the Logs screen and its downloads show; every field narrows, an absent one does not. */
export interface AuditEventFilter {
  /** Events at or after this instant. */
  from?: Date;
  /** Events strictly before this instant (the end of the To field's day, minute or second). */
  before?: Date;
  /** The actor's username, compared without regard to case. */
  actor?: string;
  /** Events whose action starts with this category (the part before the first dot). */
  category?: string;
  /** Events whose category is none of these (the Logs screen's "Other"). */
  categoryNotIn?: readonly string[];
  /** Text found in the action, actor, target label, client address or details, without regard to case. */
  search?: string;
}

/**
 * Where a page or a download batch starts: an event's exact time (microseconds, as Postgres keeps it; a JS Date
 * would round it to milliseconds and skip or repeat events that share a millisecond) and its id.
 */
export interface AuditEventCursor {
  occurredAt: string;
  id: number;
}

/** One event as the Logs screen and the downloads show it: everything stored. */
export interface AuditLogEntry extends AuditEvent {
  requestId: string | null;
  /** occurred_at with all six digits of its fraction, in UTC: "2026-11-28T10:15:42.123456Z". */
  occurredAtExact: string;
}

interface AuditLogRow {
  id: string | number;
  occurred_at_exact: string;
  actor_id: string | number | null;
  actor_username: string | null;
  client_ip: string | null;
  request_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  target_label: string | null;
  details: Record<string, unknown> | string;
}

/** The category of an action, as SQL: what comes before the first dot ("sign_out" has none: it is its own category). */
const CATEGORY_SQL = "split_part(action, '.', 1)";

function logColumns(db: Queryable) {
  return [
    "id",
    db.raw(`to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at_exact`),
    "actor_id",
    "actor_username",
    "client_ip",
    "request_id",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "details",
  ];
}

function toLogEntry(r: AuditLogRow): AuditLogEntry {
  return {
    id: Number(r.id),
    // From the exact text rather than a second timestamp column: a download parses a million of these.
    occurredAt: new Date(r.occurred_at_exact),
    occurredAtExact: r.occurred_at_exact,
    actorId: r.actor_id === null ? null : Number(r.actor_id),
    actorUsername: r.actor_username,
    clientIp: r.client_ip,
    requestId: r.request_id,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    targetLabel: r.target_label,
    details: typeof r.details === "string" ? JSON.parse(r.details) : r.details,
  };
}

/** audit_events narrowed by the filter; each condition can use one of the indexes of the logs migration. */
function filteredEvents(db: Queryable, filter: AuditEventFilter) {
  const query = db("audit_events");
  if (filter.from) query.where("occurred_at", ">=", filter.from);
  if (filter.before) query.where("occurred_at", "<", filter.before);
  // lower() on both sides, so that the comparison and the index agree whatever the database's locale.
  if (filter.actor) query.whereRaw("lower(actor_username) = lower(?)", [filter.actor]);
  if (filter.category) query.whereRaw(`${CATEGORY_SQL} = ?`, [filter.category]);
  if (filter.categoryNotIn && filter.categoryNotIn.length > 0)
    query.whereRaw(`${CATEGORY_SQL} NOT IN (${filter.categoryNotIn.map(() => "?").join(", ")})`, [...filter.categoryNotIn]);
  if (filter.search) {
    const pattern = containsPattern(filter.search);
    query.where((w) =>
      w
        .whereRaw("lower(action) LIKE ?", [pattern])
        .orWhereRaw("lower(actor_username) LIKE ?", [pattern])
        .orWhereRaw("lower(target_label) LIKE ?", [pattern])
        .orWhereRaw("lower(client_ip) LIKE ?", [pattern])
        .orWhereRaw("lower(details::text) LIKE ?", [pattern]),
    );
  }
  return query;
}

/**
 * Up to `limit` events next to `cursor`, by (occurred_at, id): "older" ones newest first, "newer" ones oldest first
 * (the caller turns those round). Keyset paging: each page is an index range scan, as fast on the millionth event as
 * on the first, where OFFSET would read and throw away every event before the page.
 */
export async function findAuditEventsPage(
  db: Queryable,
  filter: AuditEventFilter,
  page: { direction: "older" | "newer"; cursor?: AuditEventCursor; limit: number },
): Promise<AuditLogEntry[]> {
  const older = page.direction === "older";
  const query = filteredEvents(db, filter)
    .select(logColumns(db))
    .orderBy([
      { column: "occurred_at", order: older ? "desc" : "asc" },
      { column: "id", order: older ? "desc" : "asc" },
    ])
    .limit(page.limit);
  if (page.cursor)
    query.whereRaw(`(occurred_at, id) ${older ? "<" : ">"} (?::timestamptz, ?::bigint)`, [page.cursor.occurredAt, page.cursor.id]);
  const rows = (await query) as AuditLogRow[];
  return rows.map(toLogEntry);
}

/** Whether any event of the filter lies beyond `cursor` in that direction (one index probe). */
export async function anyAuditEventBeyond(
  db: Queryable,
  filter: AuditEventFilter,
  direction: "older" | "newer",
  cursor: AuditEventCursor,
): Promise<boolean> {
  const row = await filteredEvents(db, filter)
    .whereRaw(`(occurred_at, id) ${direction === "older" ? "<" : ">"} (?::timestamptz, ?::bigint)`, [cursor.occurredAt, cursor.id])
    .first(db.raw("1 AS found"));
  return row !== undefined;
}

/**
 * How many events the filter matches, counting no further than `cap` + 1: a count of every event is a full scan
 * of a table that may hold millions, so above the cap the screen says "more than".
 */
export async function countAuditEventsUpTo(db: Queryable, filter: AuditEventFilter, cap: number): Promise<number> {
  const capped = filteredEvents(db, filter)
    .select(db.raw("1"))
    .limit(cap + 1)
    .as("capped");
  const row = await db.from(capped).count<{ count: string | number }[]>("* as count").first();
  return Number(row?.count ?? 0);
}

export async function findAuditEventById(db: Queryable, id: number): Promise<AuditLogEntry | undefined> {
  const row = (await db("audit_events").select(logColumns(db)).where({ id }).first()) as AuditLogRow | undefined;
  return row ? toLogEntry(row) : undefined;
}

/**
 * Deletes up to `limit` events older than `cutoff`, oldest first, and says how many went. One short statement per
 * batch, so that pruning a year of events never holds a long lock; SKIP LOCKED lets two instances prune side by side.
 */
export async function deleteAuditEventsBefore(db: Queryable, cutoff: Date, limit: number): Promise<number> {
  const oldest = db("audit_events")
    .select("id")
    .where("occurred_at", "<", cutoff)
    .orderBy([
      { column: "occurred_at", order: "asc" },
      { column: "id", order: "asc" },
    ])
    .limit(limit)
    .forUpdate()
    .skipLocked();
  // Counted from RETURNING: knex's own count of deleted rows is not a number on PGlite.
  return (await db("audit_events").whereIn("id", oldest).delete().returning("id")).length;
}
