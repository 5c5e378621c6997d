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

export interface RawContribution {
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
export function explained(contributions: string): string {
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
  webAddress: string | null;
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
  // Without a search, a long list is kept between requests and checked against the grants' version on each
  // (accessible_systems_page, migration 20261205100000): a page then reads its 50 systems, not all of them.
  const result = me.is_admin
    ? await db.raw(
        `SELECT s.id, s.name, s.host, s.web_address, s.description, 2 AS level, count(*) OVER () AS total
           FROM systems s WHERE ${matches} ORDER BY s.name_key, s.id LIMIT :limit OFFSET :offset`,
        page,
      ).options(preparedStatement("accessible-systems-admin"))
    : search === null
      ? await db.raw("SELECT * FROM accessible_systems_page(:user, :limit, :offset)", page).options(preparedStatement("accessible-systems-page"))
      : await db.raw(
        `WITH levels AS (SELECT x.system_id, max(x.permission) AS level FROM (${CONTRIBUTIONS_OF_USER}) x GROUP BY x.system_id)
         SELECT s.id, s.name, s.host, s.web_address, s.description, l.level, count(*) OVER () AS total
           FROM levels l CROSS JOIN LATERAL (SELECT * FROM systems s0 WHERE s0.id = l.system_id OFFSET 0) s
          WHERE ${matches}
          ORDER BY s.name_key, s.id
          LIMIT :limit OFFSET :offset`,
        page,
      ).options(preparedStatement("accessible-systems"));
  const rows = result.rows as { id: string; name: string; host: string; web_address: string | null; description: string; level: number; total: string }[];
  return {
    systems: rows.map((r) => ({
      id: Number(r.id),
      name: r.name,
      host: r.host,
      webAddress: r.web_address,
      description: r.description,
      level: Number(r.level) as 1 | 2,
    })),
    total: rows[0] ? Number(rows[0].total) : 0,
  };
}
