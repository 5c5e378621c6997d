import type { Queryable } from "../db/index.ts";
import * as auditEvents from "../repositories/audit-events.ts";
import type { AuditEventCursor, AuditEventFilter, AuditLogEntry } from "../repositories/audit-events.ts";
import { KNOWN_CATEGORIES, OTHER_CATEGORY } from "./audit-log-actions.ts";

export type { AuditEventCursor, AuditLogEntry } from "../repositories/audit-events.ts";

/** The Logs screen's filters as the route parsed them. */
export interface LogFilter {
  from?: Date;
  /** Exclusive: the end of the To field's day, minute or second. */
  before?: Date;
  actor?: string;
  /** A value of CATEGORY_OPTIONS. */
  category?: string;
  search?: string;
}

export function repositoryFilter(filter: LogFilter): AuditEventFilter {
  const { category, ...rest } = filter;
  if (!category) return rest;
  if (category === OTHER_CATEGORY.value) return { ...rest, categoryNotIn: KNOWN_CATEGORIES };
  return { ...rest, category };
}

/** Events per page of the Logs screen. */
export const LOG_PAGE_SIZE = 50;
/** The count goes no further: counting every one of a million events would scan them all on each page. */
export const LOG_COUNT_CAP = 10_000;

/** A cursor in a URL: the exact time and the id, "2026-11-28T10:15:42.123456Z_42". */
const CURSOR_SHAPE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)_([1-9]\d{0,15})$/;

export function encodeCursor(entry: Pick<AuditLogEntry, "occurredAtExact" | "id">): string {
  return `${entry.occurredAtExact}_${entry.id}`;
}

/** The cursor a link carried, or undefined for anything else (a bad cursor just shows the newest page). */
export function parseCursor(text: string): AuditEventCursor | undefined {
  const match = CURSOR_SHAPE.exec(text);
  if (!match?.[1] || !match[2]) return undefined;
  const id = Number(match[2]);
  const time = new Date(match[1]);
  // Round-tripped, because Date would quietly move 30 February to March where Postgres refuses it.
  if (!Number.isSafeInteger(id) || !(time.getTime() >= 0) || time.toISOString().slice(0, 23) !== match[1].slice(0, 23)) return undefined;
  return { occurredAt: match[1], id };
}

export type LogPosition = { older: AuditEventCursor } | { newer: AuditEventCursor } | Record<string, never>;

export interface LogPage {
  entries: AuditLogEntry[];
  /** Where the "Newer" link starts (the first event shown), or null on the newest page. */
  newer: string | null;
  /** Where the "Older" link starts (the last event shown), or null on the oldest page. */
  older: string | null;
  /** Events matching the filter, counted up to LOG_COUNT_CAP + 1. */
  total: number;
  totalIsCapped: boolean;
}

/** One page of the filtered trail, newest first, and its neighbours. */
export async function listLogPage(db: Queryable, filter: LogFilter, position: LogPosition): Promise<LogPage> {
  const where = repositoryFilter(filter);
  const limit = LOG_PAGE_SIZE + 1;
  let entries: AuditLogEntry[];
  let hasNewer: boolean;
  let hasOlder: boolean;
  let olderCursor: AuditEventCursor | undefined;
  if ("newer" in position) {
    const rows = await auditEvents.findAuditEventsPage(db, where, { direction: "newer", cursor: position.newer, limit });
    if (rows.length <= LOG_PAGE_SIZE) {
      // Back at the newest events: show a full first page rather than the few left over.
      return listLogPage(db, filter, {});
    }
    entries = rows.slice(0, LOG_PAGE_SIZE).reverse();
    hasNewer = true;
    hasOlder = await auditEvents.anyAuditEventBeyond(db, where, "older", position.newer);
  } else {
    const cursor = "older" in position ? position.older : undefined;
    olderCursor = cursor;
    const rows = await auditEvents.findAuditEventsPage(db, where, { direction: "older", cursor, limit });
    entries = rows.slice(0, LOG_PAGE_SIZE);
    hasOlder = rows.length > LOG_PAGE_SIZE;
    hasNewer = cursor ? await auditEvents.anyAuditEventBeyond(db, where, "newer", cursor) : false;
  }
  // A first page that holds every match is its own count: a search that matches a handful of a million events
  // reads the whole trail once for the page, and need not read it again to count.
  const total = !hasNewer && !hasOlder ? entries.length : await auditEvents.countAuditEventsUpTo(db, where, LOG_COUNT_CAP);
  const first = entries[0];
  const last = entries[entries.length - 1];
  return {
    entries,
    // A page past the oldest event (deleted meanwhile) is empty: its Newer link starts where it was asked to.
    newer: hasNewer && first ? encodeCursor(first) : hasNewer && olderCursor ? encodeCursor({ occurredAtExact: olderCursor.occurredAt, id: olderCursor.id }) : null,
    older: hasOlder && last ? encodeCursor(last) : null,
    total: Math.min(total, LOG_COUNT_CAP),
    totalIsCapped: total > LOG_COUNT_CAP,
  };
}

export function findLogEntry(db: Queryable, id: number): Promise<AuditLogEntry | undefined> {
  return auditEvents.findAuditEventById(db, id);
}
