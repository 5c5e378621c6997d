import type { Queryable } from "../db/index.ts";
import {
  type ContributionRow,
  contributionsForSystem,
  contributionsForUser,
  permissionLevel,
} from "../repositories/effective-access.ts";
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
