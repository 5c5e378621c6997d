import type { Queryable } from "../db/index.ts";
import type { AccessLoss } from "../types/access.ts";

/** What is about to be removed: a team (with its memberships and grants), a group, or a system. */
export type Removal =
  | { kind: "team"; id: number }
  | { kind: "group"; id: number }
  | { kind: "system"; id: number }
  | { kind: "membership"; teamId: number; userId: number };


/** Contributions (sources A–D of docs/domain.md, "Grants and the resolver") of every user in the `users` subquery. */
const CONTRIBUTIONS_OF_USERS = (users: string) => `
  SELECT g.user_id, g.system_id, g.permission, CAST(NULL AS bigint) AS team_id, CAST(NULL AS bigint) AS group_id
    FROM user_system_grants g WHERE g.user_id IN (${users})
  UNION ALL
  SELECT g.user_id, m.system_id, g.permission, NULL, g.group_id
    FROM user_group_grants g JOIN system_group_members m ON m.group_id = g.group_id WHERE g.user_id IN (${users})
  UNION ALL
  SELECT tm.user_id, g.system_id, g.permission, tm.team_id, NULL
    FROM team_members tm JOIN team_system_grants g ON g.team_id = tm.team_id WHERE tm.user_id IN (${users})
  UNION ALL
  SELECT tm.user_id, m.system_id, g.permission, tm.team_id, g.group_id
    FROM team_members tm JOIN team_group_grants g ON g.team_id = tm.team_id
    JOIN system_group_members m ON m.group_id = g.group_id WHERE tm.user_id IN (${users})`;

const AFFECTED = {
  team: {
    users: "SELECT user_id FROM team_members WHERE team_id = :id",
    survives: "c.team_id IS DISTINCT FROM :id",
  },
  membership: {
    users: "SELECT CAST(:userId AS bigint)",
    survives: "c.team_id IS DISTINCT FROM :teamId",
  },
  group: {
    users: `SELECT user_id FROM user_group_grants WHERE group_id = :id
            UNION SELECT tm.user_id FROM team_group_grants g JOIN team_members tm ON tm.team_id = g.team_id WHERE g.group_id = :id`,
    survives: "c.group_id IS DISTINCT FROM :id",
  },
  system: {
    users: `SELECT user_id FROM user_system_grants WHERE system_id = :id
            UNION SELECT g.user_id FROM user_group_grants g JOIN system_group_members m ON m.group_id = g.group_id WHERE m.system_id = :id
            UNION SELECT tm.user_id FROM team_system_grants g JOIN team_members tm ON tm.team_id = g.team_id WHERE g.system_id = :id
            UNION SELECT tm.user_id FROM team_group_grants g JOIN system_group_members m ON m.group_id = g.group_id
                    JOIN team_members tm ON tm.team_id = g.team_id WHERE m.system_id = :id`,
    survives: "c.system_id <> :id",
  },
} as const;

/**
 * Which enabled non-administrators would lose access (or drop from read/write to read) on which systems if
 * `removal` happened now: the effective level with and without the grants that depend on it.
 */
export async function previewAccessLoss(db: Queryable, removal: Removal): Promise<AccessLoss[]> {
  const spec = AFFECTED[removal.kind];
  const bindings =
    removal.kind === "membership" ? { teamId: removal.teamId, userId: removal.userId } : { id: removal.id };
  const result = await db.raw(
    `SELECT x.user_id, u.username, x.system_id, s.name AS system_name, x.before, x.after
       FROM (SELECT c.user_id, c.system_id, max(c.permission) AS before,
                    COALESCE(max(c.permission) FILTER (WHERE ${spec.survives}), 0) AS after
               FROM (${CONTRIBUTIONS_OF_USERS(spec.users)}) c
              GROUP BY c.user_id, c.system_id) x
       JOIN users u ON u.id = x.user_id AND NOT u.disabled AND NOT u.is_admin
       JOIN systems s ON s.id = x.system_id
      WHERE x.after < x.before
      ORDER BY u.username_key, s.name_key`,
    bindings,
  );
  return (result.rows as { user_id: string; username: string; system_id: string; system_name: string; before: number; after: number }[]).map((r) => ({
    userId: Number(r.user_id),
    username: r.username,
    systemId: Number(r.system_id),
    systemName: r.system_name,
    before: Number(r.before) as 1 | 2,
    after: Number(r.after) as 0 | 1,
  }));
}
