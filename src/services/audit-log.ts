import type { Queryable } from "../db/index.ts";
import * as auditEvents from "../repositories/audit-events.ts";
import type { Actor } from "../types/user.ts";
import { recordAudit } from "./audit.ts";
import type { AuditEventCursor, AuditEventFilter, AuditLogEntry } from "../repositories/audit-events.ts";

export type { AuditEventCursor, AuditLogEntry } from "../repositories/audit-events.ts";

/**
 * The categories of the Logs screen's Category filter: an action's category is what comes before its first dot
 * ("user.created" → user; "sign_out", with no dot, is its own). This list is the one place they are named;
 * an action whose category is not here (a feature added later) is found under "Other".
 */
export const LOG_CATEGORIES = [
  { value: "sign_in", label: "Sign-in" },
  { value: "sign_out", label: "Sign-out" },
  { value: "session", label: "Sessions" },
  { value: "user", label: "Users" },
  { value: "team", label: "Teams" },
  { value: "system", label: "Systems" },
  { value: "group", label: "System groups" },
  { value: "grant", label: "Access grants" },
  { value: "settings", label: "Settings" },
  { value: "password", label: "Passwords" },
  { value: "two_factor", label: "Two-factor authentication" },
  { value: "email", label: "Email" },
  { value: "profile", label: "Profile" },
  { value: "setup", label: "Setup" },
  { value: "api_token", label: "API tokens" },
  { value: "audit", label: "Log retention" },
] as const;

export const OTHER_CATEGORY = { value: "other", label: "Other" } as const;

/** What the Category select offers, in order; "" (every category) is the form's own first option. */
export const CATEGORY_OPTIONS: readonly { value: string; label: string }[] = [...LOG_CATEGORIES, OTHER_CATEGORY];

const KNOWN_CATEGORIES: readonly string[] = LOG_CATEGORIES.map((c) => c.value);

/** The category of an action, as the filter and the repository's SQL (split_part) see it. */
export function categoryOf(action: string): string {
  const dot = action.indexOf(".");
  const prefix = dot === -1 ? action : action.slice(0, dot);
  return KNOWN_CATEGORIES.includes(prefix) ? prefix : OTHER_CATEGORY.value;
}

export function categoryLabel(category: string): string {
  return CATEGORY_OPTIONS.find((c) => c.value === category)?.label ?? OTHER_CATEGORY.label;
}

/** Each action the application records, in words. An action not listed here is shown by its code, made readable. */
const ACTION_DESCRIPTIONS: Readonly<Record<string, string>> = {
  "sign_in.succeeded": "Signed in",
  "sign_in.failed": "Sign-in failed",
  "sign_in.password_accepted": "Password accepted; code step next",
  "sign_in.reset_accepted": "Reset code or temporary password accepted",
  "sign_in.second_factor_failed": "Wrong two-factor code at sign-in",
  "sign_in.directory_unavailable": "Sign-in failed: directory unavailable",
  sign_out: "Signed out",
  "session.ended": "Session signed out",
  "session.ended_others": "Other sessions signed out",
  "session.ended_by_admin": "Sessions ended by an administrator",
  "user.created": "User created",
  "user.created_by_directory": "User created at first LDAP sign-in",
  "user.updated": "User changed",
  "user.deleted": "User deleted",
  "user.disabled": "User disabled",
  "user.enabled": "User enabled",
  "user.unlocked": "User unlocked",
  "user.linked_to_directory": "User linked to the directory",
  "user.renamed_by_directory": "User renamed by the directory",
  "user.email_removed_as_duplicate": "Duplicate email address removed",
  "team.created": "Team created",
  "team.updated": "Team changed",
  "team.deleted": "Team deleted",
  "team.member_added": "Team member added",
  "team.member_removed": "Team member removed",
  "system.created": "System created",
  "system.updated": "System changed",
  "system.deleted": "System deleted",
  "group.created": "System group created",
  "group.updated": "System group changed",
  "group.deleted": "System group deleted",
  "group.system_added": "System added to a group",
  "group.system_removed": "System removed from a group",
  "grant.added": "Access granted",
  "grant.changed": "Access changed",
  "grant.removed": "Access removed",
  "settings.general_updated": "General settings changed",
  "settings.smtp_updated": "Alert Services changed",
  "settings.smtp_cleared": "Mail server configuration cleared",
  "settings.ldap_changed": "LDAP settings changed",
  "settings.ldap_server_added": "LDAP server added",
  "settings.ldap_server_changed": "LDAP server changed",
  "settings.ldap_server_removed": "LDAP server removed",
  "settings.ldap_servers_reordered": "LDAP servers reordered",
  "settings.ldap_default_team_added": "LDAP default team added",
  "settings.ldap_default_team_removed": "LDAP default team removed",
  "settings.ldap_group_mapped": "LDAP group mapped to a team",
  "settings.ldap_group_unmapped": "LDAP group mapping removed",
  "settings.logs_updated": "Log retention changed",
  "password.changed": "Password changed",
  "password.reset_requested": "Password reset requested",
  "password.reset_completed": "Password reset completed",
  "password.temporary_issued": "Temporary password issued",
  "two_factor.enabled": "Two-factor authentication turned on",
  "two_factor.disabled": "Two-factor authentication turned off",
  "two_factor.disabled_by_admin": "Two-factor authentication turned off by an administrator",
  "two_factor.code_replayed": "Reused authenticator code refused",
  "two_factor.recovery_code_used": "Recovery code used",
  "two_factor.recovery_codes_regenerated": "New recovery codes made",
  "email.change_requested": "Email change requested",
  "email.change_cancelled": "Email change cancelled",
  "email.verified": "Email address verified",
  "profile.updated": "Profile changed",
  "setup.administrator_created": "First administrator created",
  "api_token.created": "API token created",
  "api_token.revoked": "API token revoked",
  "api_token.revoked_all": "All API tokens of a user revoked",
  "audit.pruned": "Old log events deleted",
  "audit.downloaded": "Log downloaded",
};

/** "backup.restored" → "Backup restored", for actions with no words of their own. */
function readableCode(action: string): string {
  const words = action.replace(/[._]+/g, " ").trim();
  return words ? words.charAt(0).toUpperCase() + words.slice(1) : action;
}

export function describeAction(action: string): string {
  return ACTION_DESCRIPTIONS[action] ?? readableCode(action);
}

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

/** A download of the trail is itself on the trail: who took a copy, in which format, with which filters. */
export function recordLogDownload(db: Queryable, actor: Actor, format: DownloadFormat, filter: LogFilter): Promise<void> {
  const filters = Object.fromEntries(Object.entries(filter).map(([key, value]) => [key, value instanceof Date ? value.toISOString() : value]));
  return recordAudit(db, actor, { action: "audit.downloaded", details: { format, filters } });
}

function repositoryFilter(filter: LogFilter): AuditEventFilter {
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

/** Events per query of a download: big enough to keep the round trips few, small enough to keep memory flat. */
export const DOWNLOAD_BATCH_SIZE = 1_000;

/**
 * Every event of the filter, newest first, a batch at a time by keyset (no cursor held open in the database, so it
 * runs the same on PGlite and on Postgres). A consumer that stops iterating stops the reading.
 */
export async function* logBatches(db: Queryable, filter: LogFilter, batchSize = DOWNLOAD_BATCH_SIZE): AsyncGenerator<AuditLogEntry[]> {
  const where = repositoryFilter(filter);
  let cursor: AuditEventCursor | undefined;
  for (;;) {
    const batch = await auditEvents.findAuditEventsPage(db, where, { direction: "older", cursor, limit: batchSize });
    if (batch.length === 0) return;
    yield batch;
    if (batch.length < batchSize) return;
    const last = batch[batch.length - 1] as AuditLogEntry;
    cursor = { occurredAt: last.occurredAtExact, id: last.id };
  }
}

// Downloads ------------------------------------------------------------------------------------------------------

export type DownloadFormat = "csv" | "json";

/** One event in a download: every stored fact, with the action in words and its category beside the code. */
export function downloadRecord(entry: AuditLogEntry) {
  return {
    id: entry.id,
    occurredAt: entry.occurredAtExact,
    actorId: entry.actorId,
    actorUsername: entry.actorUsername,
    clientAddress: entry.clientIp,
    requestId: entry.requestId,
    action: entry.action,
    description: describeAction(entry.action),
    category: categoryOf(entry.action),
    targetType: entry.targetType,
    targetId: entry.targetId,
    targetLabel: entry.targetLabel,
    details: entry.details,
  };
}

const CSV_COLUMNS = [
  "id",
  "occurred_at",
  "actor_id",
  "actor_username",
  "client_address",
  "request_id",
  "action",
  "description",
  "category",
  "target_type",
  "target_id",
  "target_label",
  "details",
] as const;

const FORMULA_START = new Set(["=", "+", "-", "@", "\t", "\r"]);
const NEEDS_QUOTES = /[",\r\n]/;

/**
 * One CSV cell (RFC 4180). A cell that a spreadsheet would take for a formula (= + - @, or a tab or carriage return
 * first) gets a leading apostrophe, so that opening a download never runs what someone typed into a name (OWASP
 * "CSV injection"). Quotes double, and a cell with a quote, comma or line break is quoted.
 */
export function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? "" : typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
  if (FORMULA_START.has(text.charAt(0))) text = `'${text}`;
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvLine(cells: readonly unknown[]): string {
  return `${cells.map(csvCell).join(",")}\r\n`;
}

function csvRow(entry: AuditLogEntry): string {
  const r = downloadRecord(entry);
  return csvLine([
    r.id,
    r.occurredAt,
    r.actorId,
    r.actorUsername,
    r.clientAddress,
    r.requestId,
    r.action,
    r.description,
    r.category,
    r.targetType,
    r.targetId,
    r.targetLabel,
    r.details,
  ]);
}

/**
 * The download as text chunks: CSV (header, then one CRLF-ended row per event) or JSON (one array of objects).
 * One chunk per batch, so the caller writes and waits for the client a thousand events at a time.
 */
export async function* downloadChunks(db: Queryable, filter: LogFilter, format: DownloadFormat, batchSize = DOWNLOAD_BATCH_SIZE): AsyncGenerator<string> {
  if (format === "csv") {
    yield csvLine(CSV_COLUMNS);
    for await (const batch of logBatches(db, filter, batchSize)) yield batch.map(csvRow).join("");
    return;
  }
  yield "[";
  let first = true;
  for await (const batch of logBatches(db, filter, batchSize)) {
    const objects = batch.map((entry) => JSON.stringify(downloadRecord(entry))).join(",\n");
    yield `${first ? "\n" : ",\n"}${objects}`;
    first = false;
  }
  yield "\n]\n";
}
