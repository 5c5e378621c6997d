import type { Queryable } from "../db/index.ts";
import type { GrantSource } from "../types/access.ts";
import { type ContributionRow, explained, type RawContribution } from "./effective-access.ts";

/**
 * The access report's SQL (docs/domain.md, "The access report"): the resolver's four sources and its explanation
 * (`explained`, the same SQL as a user's page) for a range of accounts at once, set-based, so a batch of 500
 * accounts is one statement and not 500 round trips.
 */

/** Which rows of the access report (docs/domain.md, "The access report"): each filter narrows, none set is everyone. */
export interface AccessReportScope {
  userId?: number;
  /** Pairs with a contributing grant held by this team. */
  teamId?: number;
  systemId?: number;
  /** Pairs with a contributing grant on this group. */
  groupId?: number;
}

/**
 * A stretch of the report's accounts by username key: after `after` (exclusive) up to `upTo` (inclusive); either end
 * open when undefined. Batches walk it by keyset, so no statement ever holds more than one batch of accounts.
 */
export interface UsernameRange {
  after?: string;
  /** Inclusive lower end, for a page that starts at a known account. */
  from?: string;
  upTo?: string;
}

/** One contribution of a report row, or a row of an administrator with no grant on the system (source null). */
export interface ReportContributionRow extends Omit<ContributionRow, "source" | "level" | "decides"> {
  username: string;
  isAdmin: boolean;
  systemName: string;
  source: GrantSource | null;
  level: 1 | 2 | null;
  decides: boolean;
}

function scopeBindings(scope: AccessReportScope, range: UsernameRange) {
  return {
    user: scope.userId ?? null,
    team: scope.teamId ?? null,
    system: scope.systemId ?? null,
    group: scope.groupId ?? null,
    after: range.after ?? null,
    from: range.from ?? null,
    upTo: range.upTo ?? null,
  };
}

/** Enabled accounts in the range (disabled ones have no access); with a team filter, only its members can match. */
const REPORT_USERS = `
  SELECT u.id, u.username, u.username_key, u.is_admin FROM users u
   WHERE NOT u.disabled
     AND (CAST(:after AS text) IS NULL OR u.username_key > :after)
     AND (CAST(:from AS text) IS NULL OR u.username_key >= :from)
     AND (CAST(:upTo AS text) IS NULL OR u.username_key <= :upTo)
     AND (CAST(:user AS bigint) IS NULL OR u.id = :user)
     AND (CAST(:team AS bigint) IS NULL OR EXISTS (SELECT 1 FROM team_members f WHERE f.user_id = u.id AND f.team_id = :team))`;

/** A system the filters let through: the one asked for, and with a group filter only the group's systems can match. */
const inScope = (system: string) => `
  (CAST(:system AS bigint) IS NULL OR ${system} = :system)
  AND (CAST(:group AS bigint) IS NULL OR ${system} IN (SELECT fm.system_id FROM system_group_members fm WHERE fm.group_id = :group))`;

/** The four sources of the resolver, for every account of the range at once (set-based, one statement a batch). */
const REPORT_CONTRIBUTIONS = `
  SELECT 'A' AS source, g.system_id, u.id AS user_id, g.permission, CAST(NULL AS bigint) AS team_id, CAST(NULL AS bigint) AS group_id
    FROM scoped u JOIN user_system_grants g ON g.user_id = u.id WHERE ${inScope("g.system_id")}
  UNION ALL
  SELECT 'B', m.system_id, u.id, g.permission, NULL, g.group_id
    FROM scoped u JOIN user_group_grants g ON g.user_id = u.id JOIN system_group_members m ON m.group_id = g.group_id WHERE ${inScope("m.system_id")}
  UNION ALL
  SELECT 'C', g.system_id, u.id, g.permission, tm.team_id, NULL
    FROM scoped u JOIN team_members tm ON tm.user_id = u.id JOIN team_system_grants g ON g.team_id = tm.team_id WHERE ${inScope("g.system_id")}
  UNION ALL
  SELECT 'D', m.system_id, u.id, g.permission, tm.team_id, g.group_id
    FROM scoped u JOIN team_members tm ON tm.user_id = u.id JOIN team_group_grants g ON g.team_id = tm.team_id
    JOIN system_group_members m ON m.group_id = g.group_id WHERE ${inScope("m.system_id")}`;

/**
 * The report's (user, system) pairs from the contributions `c`: those the team and group filters let through (a
 * contributing grant held by the team, or on the group), and every system of each administrator when neither is set.
 */
const reportPairs = (c: string) => `
  SELECT c.user_id, c.system_id FROM ${c} c GROUP BY c.user_id, c.system_id
  HAVING (CAST(:team AS bigint) IS NULL OR bool_or(c.team_id = :team))
     AND (CAST(:group AS bigint) IS NULL OR bool_or(c.group_id = :group))
  UNION
  -- From users, not from scoped: the planner knows from the table's statistics that administrators are few.
  SELECT a.id, s.id FROM (${REPORT_USERS}) a CROSS JOIN systems s
   WHERE a.is_admin AND CAST(:team AS bigint) IS NULL AND CAST(:group AS bigint) IS NULL AND ${inScope("s.id")}`;

/**
 * The access report's rows for the accounts of `range`, in one statement: every (user, system) pair the resolver
 * gives access to, with each contributing grant explained and the deciding one marked by the same SQL as a user's
 * page (`explained`). Administrators reach every system. Ordered by username, then system name, then the
 * explanation's order.
 */
export async function selectAccessReportRows(db: Queryable, scope: AccessReportScope, range: UsernameRange): Promise<ReportContributionRow[]> {
  // JIT off for this statement alone: its estimated cost is high enough for Postgres to compile it, which took 2 s
  // of a batch that runs in tens of milliseconds (bench:report).
  const result = await db.transaction(async (trx) => {
    await trx.raw("SET LOCAL jit = off");
    return (await trx.raw(
      `WITH scoped AS MATERIALIZED (${REPORT_USERS}),
            e AS MATERIALIZED (${explained(REPORT_CONTRIBUTIONS)}),
            pairs AS (${reportPairs("e")})
       SELECT p.user_id, u.username, u.is_admin, p.system_id, s.name AS system_name,
              e.source, e.permission, e.team_id, e.team_name, e.group_id, e.group_name, coalesce(e.decides, false) AS decides
         FROM pairs p
         JOIN scoped u ON u.id = p.user_id
         JOIN systems s ON s.id = p.system_id
         LEFT JOIN e ON e.user_id = p.user_id AND e.system_id = p.system_id
         LEFT JOIN teams t ON t.id = e.team_id
         LEFT JOIN system_groups sg ON sg.id = e.group_id
        ORDER BY u.username_key, s.name_key, s.id, e.source NULLS FIRST, t.name_key NULLS FIRST, sg.name_key NULLS FIRST`,
      scopeBindings(scope, range),
    )) as { rows: unknown[] };
  });
  type Raw = Omit<RawContribution, "source" | "permission"> & {
    username: string;
    is_admin: boolean;
    system_name: string;
    source: GrantSource | null;
    permission: number | null;
  };
  return (result.rows as Raw[]).map((row) => ({
    userId: Number(row.user_id),
    username: row.username,
    isAdmin: row.is_admin,
    systemId: Number(row.system_id),
    systemName: row.system_name,
    source: row.source,
    level: row.permission === null ? null : (Number(row.permission) as 1 | 2),
    teamId: row.team_id === null ? null : Number(row.team_id),
    teamName: row.team_name,
    groupId: row.group_id === null ? null : Number(row.group_id),
    groupName: row.group_name,
    decides: row.decides,
  }));
}

/**
 * The username key that ends the next batch of `size` report accounts after `after`: the upper end of the range
 * for selectAccessReportRows. Undefined when no account is left.
 */
export async function selectReportBatchEnd(db: Queryable, scope: AccessReportScope, after: string | undefined, size: number): Promise<string | undefined> {
  const result = await db.raw(
    `SELECT max(x.username_key) AS last FROM (SELECT r.username_key FROM (${REPORT_USERS}) r ORDER BY r.username_key LIMIT :size) x`,
    { ...scopeBindings(scope, { after }), size },
  );
  return (result.rows[0] as { last: string | null } | undefined)?.last ?? undefined;
}

/** Where a page of the report lies: the accounts whose rows it shows, and how many rows of the first come before it. */
export interface ReportPageWindow {
  /** Undefined when the page is past the last row. */
  range?: { from: string; upTo: string };
  skip: number;
  total: number;
}

/**
 * One statement over the pairs alone (no explanation, no names): how many rows each account has, in username order,
 * and so which accounts a page of `limit` rows from `offset` covers. The page's rows are then explained for those
 * accounts only (selectAccessReportRows), and the whole report is never explained to show 50 of its rows.
 */
export async function selectReportPageWindow(db: Queryable, scope: AccessReportScope, page: { limit: number; offset: number }): Promise<ReportPageWindow> {
  const result = await db.transaction(async (trx) => {
    await trx.raw("SET LOCAL jit = off");
    return (await trx.raw(
      `WITH scoped AS MATERIALIZED (${REPORT_USERS}),
            c AS (${REPORT_CONTRIBUTIONS}),
            pairs AS (${reportPairs("c")}),
            per_user AS (SELECT p.user_id, count(*) AS n FROM pairs p GROUP BY p.user_id),
            running AS (
              SELECT u.username_key, pu.n, sum(pu.n) OVER (ORDER BY u.username_key) AS through, sum(pu.n) OVER () AS total
                FROM per_user pu JOIN scoped u ON u.id = pu.user_id)
       SELECT r.username_key, r.n, r.through, r.total FROM running r
        WHERE (r.through > CAST(:offset AS bigint) AND r.through - r.n < CAST(:offset AS bigint) + CAST(:limit AS bigint))
           OR r.username_key = (SELECT max(l.username_key) FROM running l)
        ORDER BY r.username_key`,
      { ...scopeBindings(scope, {}), offset: page.offset, limit: page.limit },
    )) as { rows: { username_key: string; n: string; through: string; total: string }[] };
  });
  const rows = result.rows.map((r) => ({ key: r.username_key, n: Number(r.n), through: Number(r.through), total: Number(r.total) }));
  const total = rows[0]?.total ?? 0;
  const inPage = rows.filter((r) => r.through > page.offset && r.through - r.n < page.offset + page.limit);
  const first = inPage[0];
  const last = inPage[inPage.length - 1];
  if (!first || !last) return { skip: 0, total };
  return { range: { from: first.key, upTo: last.key }, skip: page.offset - (first.through - first.n), total };
}
