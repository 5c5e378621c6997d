import { type AuditLogEntry, LOG_COUNT_CAP } from "../../../services/audit-log.ts";
import { categoryLabel, categoryOf, describeAction } from "../../../services/audit-log-actions.ts";
import { FILTER_FIELDS, type FilterValues } from "./schemas.ts";

const numberFormat = new Intl.NumberFormat("en");

export const LOGS_PATH = "/admin/logs";

/** A URL of the Logs screen (or a download) carrying the filters, plus `extra` (a paging cursor). */
export function logsHref(path: string, values: FilterValues, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const field of FILTER_FIELDS) {
    const value = values[field];
    if (value) params.set(field, value);
  }
  for (const [key, value] of Object.entries(extra)) params.set(key, value);
  const query = params.toString();
  return query ? `${path}?${query}` : path;
}

export interface TimeCell {
  /** For the datetime attribute: milliseconds, as HTML's date-time strings allow. */
  iso: string;
  /** To the microsecond, as stored: the title, and the detail page's exact time. */
  exact: string;
  /** Readable without JavaScript; public/js/app.js rewrites it into the viewer's locale. */
  text: string;
}

function timeCell(entry: AuditLogEntry): TimeCell {
  const iso = entry.occurredAt.toISOString();
  return { iso, exact: entry.occurredAtExact, text: `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC` };
}

/** What a target is called in a row: its label, or its kind and id when it has none. */
function targetText(entry: AuditLogEntry): string {
  if (entry.targetLabel) return entry.targetLabel;
  if (entry.targetType) return entry.targetId ? `${entry.targetType} ${entry.targetId}` : entry.targetType;
  return "";
}

export function presentLogRow(entry: AuditLogEntry) {
  return {
    id: entry.id,
    href: `${LOGS_PATH}/${entry.id}`,
    when: timeCell(entry),
    actor: entry.actorUsername ?? "",
    clientIp: entry.clientIp ?? "",
    action: entry.action,
    description: describeAction(entry.action),
    target: targetText(entry),
  };
}

/** "1 event", "2,345 events", "More than 10,000 events": the count is capped, and says so. */
export function countText(total: number, capped: boolean): string {
  if (capped) return `More than ${numberFormat.format(LOG_COUNT_CAP)} events`;
  return `${numberFormat.format(total)} ${total === 1 ? "event" : "events"}`;
}

export interface ValueView {
  text: string;
  /** An object or array, shown as indented JSON in a preformatted block. */
  json: boolean;
  /** Nothing there (null, missing or an empty string): shown in words, not as a blank. */
  empty: boolean;
}

/** A value from an event's details, as text: never interpreted, always escaped by the template. */
export function presentValue(value: unknown): ValueView {
  if (value === null || value === undefined) return { text: "(none)", json: false, empty: true };
  if (typeof value === "string") return value === "" ? { text: "(empty)", json: false, empty: true } : { text: value, json: false, empty: false };
  if (typeof value === "object") return { text: JSON.stringify(value, null, 2), json: true, empty: false };
  return { text: String(value), json: false, empty: false };
}

function isChange(value: unknown): value is { from?: unknown; to?: unknown } {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((k) => k === "from" || k === "to");
}

/**
 * Splits an event's details into its changed fields and the rest. Changed fields are those under `changes`
 * (`{field: {from, to}}`, as most events record them) and any other detail that is itself a `{from, to}` (a grant's
 * permission). A `changes` of any other shape stays with the rest, shown as it is.
 */
function splitDetails(details: Record<string, unknown>) {
  // jsonb keeps keys by length, then bytes: alphabetical order is the one a reader can scan.
  const byName = ([a]: [string, unknown], [b]: [string, unknown]) => a.localeCompare(b, "en");
  const { changes, ...rest } = details;
  const isChangeMap = changes !== null && typeof changes === "object" && !Array.isArray(changes) && Object.values(changes).every(isChange);
  const changed: [string, { from?: unknown; to?: unknown }][] = isChangeMap ? Object.entries(changes as Record<string, { from?: unknown; to?: unknown }>) : [];
  const others: [string, unknown][] = [];
  for (const entry of Object.entries(isChangeMap || changes === undefined ? rest : details)) {
    if (isChange(entry[1]) && !changed.some(([field]) => field === entry[0])) changed.push([entry[0], entry[1]]);
    else others.push(entry);
  }
  return {
    changes: changed.sort(byName).map(([field, change]) => ({ field, from: presentValue(change.from), to: presentValue(change.to) })),
    others: others.sort(byName).map(([key, value]) => ({ key, value: presentValue(value) })),
  };
}

export function presentLogEntry(entry: AuditLogEntry) {
  const category = categoryOf(entry.action);
  return {
    ...presentLogRow(entry),
    actorId: entry.actorId,
    actorHref: entry.actorUsername ? logsHref(LOGS_PATH, { actor: entry.actorUsername }) : null,
    requestId: entry.requestId ?? "",
    category: categoryLabel(category),
    categoryHref: logsHref(LOGS_PATH, { category }),
    targetType: entry.targetType ?? "",
    targetId: entry.targetId ?? "",
    targetLabel: entry.targetLabel ?? "",
    ...splitDetails(entry.details ?? {}),
  };
}
