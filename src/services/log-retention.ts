import type { Db, Queryable } from "../db/index.ts";
import { assertCan as assertCanOnSettings } from "../policies/settings.ts";
import { ValidationError } from "../errors.ts";
import type { Logger } from "../lib/logger.ts";
import { PeriodicJob } from "../lib/periodic-job.ts";
import { deleteAuditEventsBefore } from "../repositories/audit-events.ts";
import * as settings from "../repositories/settings.ts";
import type { Actor } from "../types/user.ts";
import { recordAudit, SYSTEM_ACTOR } from "./audit.ts";
import { type AuditedSettings, writeAuditedSettings } from "./audited-settings.ts";

const LOGS_KEY = "logs";

const STALE_SETTINGS = "Someone else saved the log retention after you opened it. Review the current value and save again.";

/**
 * How long the audit trail is kept. At least 30 days, so that a mistyped value cannot wipe the recent trail an
 * incident review needs; at most ten years. There is no "keep forever": an unbounded trail only grows.
 */
export const RETENTION_DAYS = Object.freeze({ label: "Keep log events for (days)", min: 30, max: 3650, default: 365 });

export interface LogSettings {
  retentionDays: number;
}

function isRetention(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= RETENTION_DAYS.min && value <= RETENTION_DAYS.max;
}

/** The retention in force: the saved value, or the default when none is saved (or a stored one is out of range). */
export async function readLogSettings(db: Queryable): Promise<{ value: LogSettings; version: number }> {
  const stored = await settings.readSettings<Partial<Record<keyof LogSettings, unknown>>>(db, LOGS_KEY);
  const days = stored?.value.retentionDays;
  return { value: { retentionDays: isRetention(days) ? days : RETENTION_DAYS.default }, version: stored?.version ?? 0 };
}

const LOGS_DOCUMENT: AuditedSettings<LogSettings> = {
  key: LOGS_KEY,
  label: "Logs",
  action: "settings.logs_updated",
  fields: ["retentionDays"],
  staleMessage: STALE_SETTINGS,
};

/** Saves the retention if nobody saved since `expectedVersion`, and audits the change as settings.logs_updated. */
export async function saveLogSettings(db: Db, actor: Actor, expectedVersion: number, value: LogSettings): Promise<LogSettings> {
  assertCanOnSettings(actor, "change");
  if (!isRetention(value.retentionDays))
    throw new ValidationError({
      retentionDays: `${RETENTION_DAYS.label} must be a whole number from ${RETENTION_DAYS.min} to ${RETENTION_DAYS.max}.`,
    });
  return db.transaction(async (trx) => {
    const before = await readLogSettings(trx);
    await writeAuditedSettings(trx, actor, LOGS_DOCUMENT, expectedVersion, before.value, value);
    return value;
  });
}

/** Events deleted per statement: each batch is a short transaction of its own. */
const PRUNE_BATCH_SIZE = 5_000;

export type PruneReason = "startup" | "schedule" | "setting saved";

export interface PruneResult {
  deleted: number;
  cutoff: Date;
  retentionDays: number;
  /** False when the run stopped early (maxBatches, or shutdown) with older events still there. */
  complete: boolean;
}

/**
 * Deletes the events older than the retention, a batch at a time, and records one audit.pruned event when any went.
 * `maxBatches` bounds a run made inside a request; `shouldContinue` lets a shutdown stop between batches.
 */
export async function pruneAuditEvents(
  db: Db,
  options: { reason: PruneReason; now?: Date; batchSize?: number; maxBatches?: number; shouldContinue?: () => boolean },
): Promise<PruneResult> {
  const { value } = await readLogSettings(db);
  const cutoff = new Date((options.now ?? new Date()).getTime() - value.retentionDays * 86_400_000);
  const batchSize = options.batchSize ?? PRUNE_BATCH_SIZE;
  let deleted = 0;
  let batches = 0;
  let complete = false;
  // At least one batch per run; a shutdown (shouldContinue) stops it between batches, never inside one.
  for (;;) {
    const count = await deleteAuditEventsBefore(db, cutoff, batchSize);
    deleted += count;
    batches += 1;
    if (count < batchSize) {
      complete = true;
      break;
    }
    if (options.maxBatches !== undefined && batches >= options.maxBatches) break;
    if (options.shouldContinue && !options.shouldContinue()) break;
  }
  if (deleted > 0)
    await recordAudit(db, SYSTEM_ACTOR, {
      action: "audit.pruned",
      details: { deleted, cutoff: cutoff.toISOString(), retentionDays: value.retentionDays, reason: options.reason },
    });
  return { deleted, cutoff, retentionDays: value.retentionDays, complete };
}

export const PRUNE_INTERVAL_MS = 60 * 60_000;

/**
 * Prunes once at start and then every hour (src/main.ts). Each instance runs one; their batches skip each other's
 * locked rows.
 */
export class LogRetentionSchedule extends PeriodicJob {
  constructor(db: Db, logger: Logger) {
    super(
      async ({ first, shouldContinue }) => {
        const result = await pruneAuditEvents(db, { reason: first ? "startup" : "schedule", shouldContinue });
        if (result.deleted > 0) logger.info({ deleted: result.deleted, cutoff: result.cutoff }, "log retention: old events deleted");
      },
      PRUNE_INTERVAL_MS,
      (error) => logger.warn({ err: error }, "log retention: could not delete old events"),
    );
  }
}
