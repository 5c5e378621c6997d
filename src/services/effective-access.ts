import { explainAccess, explainAllAccess } from "../access/resolver.ts";
import type { Queryable } from "../db/index.ts";
import { NotFoundError } from "../errors.ts";
import { assertCan, mayAskAbout } from "../policies/grants.ts";
import { NO_SUCH_SYSTEM } from "../policies/systems.ts";
import { NO_SUCH_USER } from "../policies/users.ts";
import { accessibleSystems } from "../repositories/effective-access.ts";
import { selectSystem } from "../repositories/systems.ts";
import { findUserById } from "../repositories/users/index.ts";
import type { EffectiveAccess } from "../types/access.ts";
import type { System } from "../types/catalog.ts";
import type { Actor, User } from "../types/user.ts";
import { grantsWithChoices } from "./grants.ts";
import { teamsOfUser, listAllTeams } from "./teams.ts";

/**
 * The access of one account to one system, with every grant that contributes and the one that decides. An
 * administrator asks about anyone; anyone else about their own account and a system they can access, and any
 * other account or system is not found, exactly as a missing id.
 */
export async function explainAccessOf(
  db: Queryable,
  actor: Actor,
  userId: number,
  systemId: number,
): Promise<{ user: User; system: System; access: EffectiveAccess }> {
  if (!mayAskAbout(actor, userId)) throw new NotFoundError(NO_SUCH_USER);
  const [user, system] = await Promise.all([findUserById(db, userId), selectSystem(db, systemId)]);
  if (!user) throw new NotFoundError(NO_SUCH_USER);
  if (!system) throw new NotFoundError(NO_SUCH_SYSTEM);
  const access = await explainAccess(db, user, system.id);
  assertCan(actor, "explain", { userId: user.id, permission: access.permission });
  return { user, system, access };
}

/** The signed-in account's own access to a system (already read through readSystem), with why. */
export async function explainOwnAccess(db: Queryable, actor: Actor, account: User, systemId: number): Promise<EffectiveAccess> {
  if (actor.id !== account.id) throw new NotFoundError(NO_SUCH_USER);
  return explainAccess(db, account, systemId);
}

/**
 * What an administrator's page of one account shows about access: its teams and those it could join, its grants
 * with what could be granted, and its effective access to every system it reaches, with why.
 */
export async function userAccessOverview(db: Queryable, actor: Actor, user: User) {
  assertCan(actor, "manage");
  const [teams, allTeams, grants, explained, reachable] = await Promise.all([
    teamsOfUser(db, actor, user.id),
    listAllTeams(db, actor),
    grantsWithChoices(db, actor, { kind: "user", id: user.id }),
    user.isAdmin ? Promise.resolve(new Map<number, EffectiveAccess>()) : explainAllAccess(db, user),
    user.isAdmin ? Promise.resolve({ systems: [], total: 0 }) : accessibleSystems(db, user.id),
  ]);
  return { teams, allTeams, grants, reachable: reachable.systems.map((system) => ({ system, access: explained.get(system.id)! })) };
}
