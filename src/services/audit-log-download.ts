import type { Queryable } from "../db/index.ts";
import { csvLine } from "../lib/csv-cells.ts";
import { assertCan } from "../policies/settings.ts";
import * as auditEvents from "../repositories/audit-events.ts";
import type { AuditEventCursor, AuditLogEntry } from "../repositories/audit-events.ts";
import type { Actor } from "../types/user.ts";
import { recordAudit } from "./audit.ts";
import { type LogFilter, repositoryFilter } from "./audit-log.ts";
import { categoryOf, describeAction } from "./audit-log-actions.ts";

export type DownloadFormat = "csv" | "json";

/** A download of the trail is itself on the trail: who took a copy, in which format, with which filters. */
export function recordLogDownload(db: Queryable, actor: Actor, format: DownloadFormat, filter: LogFilter): Promise<void> {
  assertCan(actor, "read-log");
  const filters = Object.fromEntries(Object.entries(filter).map(([key, value]) => [key, value instanceof Date ? value.toISOString() : value]));
  return recordAudit(db, actor, { action: "audit.downloaded", details: { format, filters } });
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
