import { explainReportPage, explainReportRows, type ReportedAccess } from "../access/resolver.ts";
import type { Queryable } from "../db/index.ts";
import { ValidationError } from "../errors.ts";
import { csvLine } from "../lib/csv-cells.ts";
import { assertCan } from "../policies/reports.ts";
import { presentReportRow } from "../presenters/access-report.ts";
import { type AccessReportScope, selectReportBatchEnd } from "../repositories/access-report.ts";
import { selectGroup, selectGroupByName } from "../repositories/system-groups.ts";
import { selectSystem, selectSystemByName } from "../repositories/systems.ts";
import { selectTeam, selectTeamByName } from "../repositories/teams.ts";
import { findUserById, findUserByUsername } from "../repositories/users/index.ts";
import type { Actor } from "../types/user.ts";
import { recordAudit } from "./audit.ts";

export type { AccessReportScope } from "../repositories/access-report.ts";

/**
 * Accounts per statement of the report: a batch's contributions stay a few thousand rows however big the
 * directory, and 100,000 accounts take 200 statements, not 100,000 round trips.
 */
export const REPORT_BATCH_SIZE = 500;

export type ReportFilterField = "user" | "team" | "system" | "group";

/** The filters as a person types them: names, each optional. */
export type ReportFilterNames = Partial<Record<ReportFilterField, string>>;

/** The filters as ids (the API's form). */
export type ReportFilterIds = Partial<Record<ReportFilterField, number>>;

const LOOKUPS = {
  user: { byName: findUserByUsername, byId: findUserById, noun: "user", named: "username" },
  team: { byName: selectTeamByName, byId: selectTeam, noun: "team", named: "name" },
  system: { byName: selectSystemByName, byId: selectSystem, noun: "system", named: "name" },
  group: { byName: selectGroupByName, byId: selectGroup, noun: "system group", named: "name" },
} as const;

const SCOPE_KEYS = { user: "userId", team: "teamId", system: "systemId", group: "groupId" } as const satisfies Record<ReportFilterField, keyof AccessReportScope>;

/**
 * The report's scope from what was typed: each name (compared as the console compares names, without regard to
 * case, width or spaces at the ends) must be a record's, or the field says so; nothing is guessed.
 */
export async function reportScopeFromNames(db: Queryable, actor: Actor, names: ReportFilterNames): Promise<AccessReportScope> {
  assertCan(actor, "read-access-report");
  const scope: AccessReportScope = {};
  const errors: Record<string, string> = {};
  for (const field of Object.keys(LOOKUPS) as ReportFilterField[]) {
    const name = names[field];
    if (!name) continue;
    const { byName, noun, named } = LOOKUPS[field];
    const found = await byName(db, name);
    if (found) scope[SCOPE_KEYS[field]] = found.id;
    else errors[field] = `There is no ${noun} with the ${named} “${name}”; check the spelling, or leave the field empty for every ${noun}.`;
  }
  if (Object.keys(errors).length > 0) throw new ValidationError(errors, "Some filters need attention.");
  return scope;
}

/** The same from ids (the API): each must be a record's, or the field says so. */
export async function reportScopeFromIds(db: Queryable, actor: Actor, ids: ReportFilterIds): Promise<AccessReportScope> {
  assertCan(actor, "read-access-report");
  const scope: AccessReportScope = {};
  const errors: Record<string, string> = {};
  for (const field of Object.keys(LOOKUPS) as ReportFilterField[]) {
    const id = ids[field];
    if (id === undefined) continue;
    const { byId, noun } = LOOKUPS[field];
    if (await byId(db, id)) scope[SCOPE_KEYS[field]] = id;
    else errors[field] = `There is no ${noun} with id ${id}.`;
  }
  if (Object.keys(errors).length > 0) throw new ValidationError(errors, "Some filters need attention.");
  return scope;
}

/** One page of the report (rows ordered by username, then system name) and how many rows the whole report has. */
export async function accessReportPage(
  db: Queryable,
  actor: Actor,
  scope: AccessReportScope,
  page: { limit: number; offset: number },
): Promise<{ rows: ReportedAccess[]; total: number }> {
  assertCan(actor, "read-access-report");
  return explainReportPage(db, scope, page);
}

/**
 * The whole report, a batch of accounts at a time by keyset on the username key: two statements a batch (where the
 * batch ends, then its rows), none held open, so it runs the same on PGlite and on Postgres. A consumer that stops
 * iterating stops the reading.
 */
export function accessReportBatches(db: Queryable, actor: Actor, scope: AccessReportScope, batchSize = REPORT_BATCH_SIZE): AsyncGenerator<ReportedAccess[]> {
  assertCan(actor, "read-access-report");
  return (async function* () {
    let after: string | undefined;
    for (;;) {
      const upTo = await selectReportBatchEnd(db, scope, after, batchSize);
      if (upTo === undefined) return;
      const rows = await explainReportRows(db, scope, { after, upTo });
      if (rows.length > 0) yield rows;
      after = upTo;
    }
  })();
}

const CSV_COLUMNS = ["username", "user_id", "system", "system_id", "permission", "deciding_source", "grants"] as const;

/** The report as CSV: a header, then one chunk per batch of accounts. */
export function accessReportCsvChunks(db: Queryable, actor: Actor, scope: AccessReportScope, batchSize = REPORT_BATCH_SIZE): AsyncGenerator<string> {
  const batches = accessReportBatches(db, actor, scope, batchSize);
  return (async function* () {
    yield csvLine(CSV_COLUMNS);
    for await (const batch of batches) {
      yield batch
        .map(presentReportRow)
        .map((r) => csvLine([r.username, r.userId, r.system, r.systemId, r.permission, r.decidedBy, r.grants.join("; ")]))
        .join("");
    }
  })();
}

/** A download of the report is on the trail: who took a copy of who reaches what, with which filters (as typed). */
export function recordAccessReportDownload(db: Queryable, actor: Actor, filters: ReportFilterNames): Promise<void> {
  assertCan(actor, "read-access-report");
  return recordAudit(db, actor, { action: "grant.report_downloaded", details: { format: "csv", filters: { ...filters } } });
}
