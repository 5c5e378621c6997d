import type { Queryable } from "../db/index.ts";
import {
  type AccessReportScope,
  type ReportContributionRow,
  selectAccessReportRows,
  selectReportPageWindow,
  type UsernameRange,
} from "../repositories/access-report.ts";
import { type ContributionRow, contributionsForSystem, contributionsForUser, permissionLevel } from "../repositories/effective-access.ts";
import {
  type ContributingGrant,
  type EffectiveAccess,
  PERMISSION_BY_LEVEL,
  type PermissionLevel,
} from "../types/access.ts";
import type { User } from "../types/user.ts";

/**
 * The permission resolver (docs/domain.md, "Grants and the resolver"). Disabled accounts have no access; administrators have read/write on
 * every system; everyone else has the most permissive of their grants from the four sources A–D.
 * Computed on every request from the database, never cached.
 */

function toGrant(row: ContributionRow): ContributingGrant {
  return {
    source: row.source,
    permission: PERMISSION_BY_LEVEL[row.level] as ContributingGrant["permission"],
    team: row.teamId === null ? null : { id: row.teamId, name: row.teamName ?? "" },
    group: row.groupId === null ? null : { id: row.groupId, name: row.groupName ?? "" },
    decides: row.decides,
  };
}

function combine(user: Pick<User, "isAdmin" | "disabled">, rows: ContributionRow[]): EffectiveAccess {
  if (user.disabled) return { permission: "none", basis: "disabled", grants: [] };
  const grants = rows.map(toGrant);
  if (user.isAdmin) return { permission: "read/write", basis: "administrator", grants: grants.map((g) => ({ ...g, decides: false })) };
  const decider = rows.find((r) => r.decides);
  return decider
    ? { permission: PERMISSION_BY_LEVEL[decider.level], basis: "grants", grants }
    : { permission: "none", basis: "no-grants", grants };
}

/** The level alone: the cheapest check, for guarding a read or a write. Undefined when the system does not exist. */
export function accessLevel(db: Queryable, userId: number, systemId: number): Promise<PermissionLevel | undefined> {
  return permissionLevel(db, userId, systemId);
}

/** The permission of `user` on one system with every contributing grant, in A–D order, and the one that decides. */
export async function explainAccess(db: Queryable, user: User, systemId: number): Promise<EffectiveAccess> {
  return combine(user, user.disabled ? [] : await contributionsForUser(db, user.id, systemId));
}

/** The same for every system the user reaches through grants, keyed by system id (administrators: see accessibleSystems). */
export async function explainAllAccess(db: Queryable, user: User): Promise<Map<number, EffectiveAccess>> {
  const rows = user.disabled ? [] : await contributionsForUser(db, user.id);
  const bySystem = new Map<number, ContributionRow[]>();
  for (const row of rows) bySystem.set(row.systemId, [...(bySystem.get(row.systemId) ?? []), row]);
  return new Map([...bySystem].map(([systemId, systemRows]) => [systemId, combine(user, systemRows)]));
}

/** Who (enabled non-administrators) can access a system, and why, keyed by user id. */
export async function explainSystemAccess(db: Queryable, systemId: number): Promise<Map<number, EffectiveAccess>> {
  const rows = await contributionsForSystem(db, systemId);
  const byUser = new Map<number, ContributionRow[]>();
  for (const row of rows) byUser.set(row.userId, [...(byUser.get(row.userId) ?? []), row]);
  return new Map([...byUser].map(([userId, userRows]) => [userId, combine({ isAdmin: false, disabled: false }, userRows)]));
}

/** One row of the access report: a user, a system they reach, and the resolver's answer with its explanation. */
export interface ReportedAccess {
  user: { id: number; username: string };
  system: { id: number; name: string };
  access: EffectiveAccess;
}

/**
 * The access report's rows for the accounts of `range` (docs/domain.md, "The access report"), decided by `combine`
 * like every other answer of the resolver, so a row says what the user's own page says.
 */
export async function explainReportRows(db: Queryable, scope: AccessReportScope, range: UsernameRange): Promise<ReportedAccess[]> {
  const raw = await selectAccessReportRows(db, scope, range);
  const pairs: { first: ReportContributionRow; grants: ContributionRow[] }[] = [];
  let current: (typeof pairs)[number] | undefined;
  for (const row of raw) {
    if (!current || current.first.userId !== row.userId || current.first.systemId !== row.systemId) {
      current = { first: row, grants: [] };
      pairs.push(current);
    }
    if (row.source !== null && row.level !== null) current.grants.push({ ...row, source: row.source, level: row.level });
  }
  return pairs.map(({ first, grants }) => ({
    user: { id: first.userId, username: first.username },
    system: { id: first.systemId, name: first.systemName },
    access: combine({ isAdmin: first.isAdmin, disabled: false }, grants),
  }));
}

/** One page of the report, in its order, and how many rows the whole report has. */
export async function explainReportPage(
  db: Queryable,
  scope: AccessReportScope,
  page: { limit: number; offset: number },
): Promise<{ rows: ReportedAccess[]; total: number }> {
  const window = await selectReportPageWindow(db, scope, page);
  if (!window.range) return { rows: [], total: window.total };
  const rows = await explainReportRows(db, scope, window.range);
  return { rows: rows.slice(window.skip, window.skip + page.limit), total: window.total };
}
