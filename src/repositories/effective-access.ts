import { preparedStatement, type Queryable } from "../db/index.ts";
import { containsPattern } from "./search-pattern.ts";
import type { GrantSource, PermissionLevel } from "../types/access.ts";

/**
 * The resolver's SQL (docs/domain.md, "Grants and the resolver"). Each source is one indexed join:
 *   A user_system_grants · B user_group_grants ⋈ system_group_members ·
 *   C team_members ⋈ team_system_grants · D team_members ⋈ team_group_grants ⋈ system_group_members.
 * Administrators and disabled accounts are decided here too, so a caller never forgets them.
 */

/**
 * The effective level of one user on one system; undefined when the user or the system does not exist.
 * The query is the function `effective_permission_level` (migration 20261128110300), whose plan Postgres keeps.
 */
export async function permissionLevel(db: Queryable, userId: number, systemId: number): Promise<PermissionLevel | undefined> {
  const result = await db.raw("SELECT effective_permission_level(?, ?) AS level", [userId, systemId]);
  const level = (result.rows[0] as { level: number | null } | undefined)?.level;
  return level === null || level === undefined ? undefined : (Number(level) as PermissionLevel);
}

const CONTRIBUTIONS_OF_USER = `
  SELECT 'A' AS source, g.system_id, g.permission, CAST(NULL AS bigint) AS team_id, CAST(NULL AS bigint) AS group_id
    FROM user_system_grants g WHERE g.user_id = :user
  UNION ALL
  SELECT 'B', m.system_id, g.permission, NULL, g.group_id
    FROM user_group_grants g JOIN system_group_members m ON m.group_id = g.group_id WHERE g.user_id = :user
  UNION ALL
  SELECT 'C', g.system_id, g.permission, tm.team_id, NULL
    FROM team_members tm JOIN team_system_grants g ON g.team_id = tm.team_id WHERE tm.user_id = :user
  UNION ALL
  SELECT 'D', m.system_id, g.permission, tm.team_id, g.group_id
    FROM team_members tm JOIN team_group_grants g ON g.team_id = tm.team_id
    JOIN system_group_members m ON m.group_id = g.group_id WHERE tm.user_id = :user`;

export interface ContributionRow {
  systemId: number;
  userId: number;
  source: GrantSource;
  level: 1 | 2;
  teamId: number | null;
  teamName: string | null;
  groupId: number | null;
  groupName: string | null;
  decides: boolean;
}

interface RawContribution {
  system_id: string | number;
  user_id: string | number;
  source: GrantSource;
  permission: number;
  team_id: string | number | null;
  team_name: string | null;
  group_id: string | number | null;
  group_name: string | null;
  decides: boolean;
}

function toContribution(row: RawContribution): ContributionRow {
  return {
    systemId: Number(row.system_id),
    userId: Number(row.user_id),
    source: row.source,
    level: Number(row.permission) as 1 | 2,
    teamId: row.team_id === null ? null : Number(row.team_id),
    teamName: row.team_name,
    groupId: row.group_id === null ? null : Number(row.group_id),
    groupName: row.group_name,
    decides: row.decides,
  };
}

/** Names the contributions and marks, per (user, system), the first highest one in A–D order as the one that decides. */
function explained(contributions: string): string {
  return `
    SELECT c.system_id, c.user_id, c.source, c.permission, c.team_id, t.name AS team_name, c.group_id, sg.name AS group_name,
           row_number() OVER (PARTITION BY c.user_id, c.system_id
                              ORDER BY c.permission DESC, c.source, t.name_key NULLS FIRST, sg.name_key NULLS FIRST) = 1 AS decides
      FROM (${contributions}) c
      LEFT JOIN teams t ON t.id = c.team_id
      LEFT JOIN system_groups sg ON sg.id = c.group_id`;
}

const ORDER_EXPLANATION = "ORDER BY 1, 2, c.source, t.name_key NULLS FIRST, sg.name_key NULLS FIRST";

/** Every grant that gives `userId` access to `systemId` (or to every system when systemId is omitted), explained. */
export async function contributionsForUser(db: Queryable, userId: number, systemId?: number): Promise<ContributionRow[]> {
  const contributions = `SELECT CAST(:user AS bigint) AS user_id, x.* FROM (${CONTRIBUTIONS_OF_USER}) x${systemId === undefined ? "" : " WHERE x.system_id = :system"}`;
  const result = await db.raw(`${explained(contributions)} ${ORDER_EXPLANATION}`, { user: userId, system: systemId ?? null });
  return (result.rows as RawContribution[]).map(toContribution);
}

/** Every grant that gives any enabled non-administrator access to `systemId`, explained. */
export async function contributionsForSystem(db: Queryable, systemId: number): Promise<ContributionRow[]> {
  const contributions = `
    SELECT 'A' AS source, g.system_id, g.user_id, g.permission, CAST(NULL AS bigint) AS team_id, CAST(NULL AS bigint) AS group_id
      FROM user_system_grants g WHERE g.system_id = :system
    UNION ALL
    SELECT 'B', m.system_id, g.user_id, g.permission, NULL, g.group_id
      FROM system_group_members m JOIN user_group_grants g ON g.group_id = m.group_id WHERE m.system_id = :system
    UNION ALL
    SELECT 'C', g.system_id, tm.user_id, g.permission, g.team_id, NULL
      FROM team_system_grants g JOIN team_members tm ON tm.team_id = g.team_id WHERE g.system_id = :system
    UNION ALL
    SELECT 'D', m.system_id, tm.user_id, g.permission, g.team_id, g.group_id
      FROM system_group_members m JOIN team_group_grants g ON g.group_id = m.group_id
      JOIN team_members tm ON tm.team_id = g.team_id WHERE m.system_id = :system`;
  const result = await db.raw(
    `SELECT e.* FROM (${explained(`SELECT x.system_id, x.user_id, x.source, x.permission, x.team_id, x.group_id FROM (${contributions}) x`)}) e
       JOIN users u ON u.id = e.user_id AND NOT u.disabled AND NOT u.is_admin`,
    { system: systemId },
  );
  return (result.rows as RawContribution[]).map(toContribution);
}

export interface AccessibleSystemRow {
  id: number;
  name: string;
  host: string;
  description: string;
  level: 1 | 2;
}

export interface AccessibleQuery {
  search?: string;
  limit?: number;
  offset?: number;
}

/** An account already read in this request and known to be enabled (the signed-in one): its role need not be read again. */
export interface EnabledAccount {
  id: number;
  isAdmin: boolean;
}

/**
 * The systems a user can access with the effective level of each, in one query; administrators get every
 * system at read/write, disabled accounts nothing. `total` counts all matches, ignoring limit and offset.
 * Given an id, the account's role and state are read first; given an EnabledAccount, they are taken from it.
 */
export async function accessibleSystems(
  db: Queryable,
  account: number | EnabledAccount,
  query: AccessibleQuery = {},
): Promise<{ systems: AccessibleSystemRow[]; total: number }> {
  const search = query.search ? containsPattern(query.search) : null;
  const userId = typeof account === "number" ? account : account.id;
  const me =
    typeof account === "number"
      ? await db("users").select("is_admin", "disabled").where({ id: userId }).first<{ is_admin: boolean; disabled: boolean } | undefined>()
      : { is_admin: account.isAdmin, disabled: false };
  if (!me || me.disabled) return { systems: [], total: 0 };
  const page = { user: userId, search, limit: query.limit ?? 1_000_000, offset: query.offset ?? 0 };
  const matches = "(CAST(:search AS text) IS NULL OR s.name_key LIKE :search OR lower(s.host) LIKE :search)";
  // Two statements rather than one with an administrator's branch: with that branch in it, the planner expected
  // every system and scanned them all for every user (15 ms a page); the lateral lookup keeps it to the user's own.
  const result = me.is_admin
    ? await db.raw(
        `SELECT s.id, s.name, s.host, s.description, 2 AS level, count(*) OVER () AS total
           FROM systems s WHERE ${matches} ORDER BY s.name_key, s.id LIMIT :limit OFFSET :offset`,
        page,
      ).options(preparedStatement("accessible-systems-admin"))
    : await db.raw(
        `WITH levels AS (SELECT x.system_id, max(x.permission) AS level FROM (${CONTRIBUTIONS_OF_USER}) x GROUP BY x.system_id)
         SELECT s.id, s.name, s.host, s.description, l.level, count(*) OVER () AS total
           FROM levels l CROSS JOIN LATERAL (SELECT * FROM systems s0 WHERE s0.id = l.system_id OFFSET 0) s
          WHERE ${matches}
          ORDER BY s.name_key, s.id
          LIMIT :limit OFFSET :offset`,
        page,
      ).options(preparedStatement("accessible-systems"));
  const rows = result.rows as { id: string; name: string; host: string; description: string; level: number; total: string }[];
  return {
    systems: rows.map((r) => ({ id: Number(r.id), name: r.name, host: r.host, description: r.description, level: Number(r.level) as 1 | 2 })),
    total: rows[0] ? Number(rows[0].total) : 0,
  };
}

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
