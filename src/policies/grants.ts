import { ForbiddenError, NotFoundError } from "../errors.ts";
import type { Permission } from "../types/access.ts";
import { actorKind, actsAsAdministrator, type PolicyActor } from "./actor.ts";
import { NO_SUCH_SYSTEM } from "./systems.ts";
import { NO_SUCH_USER } from "./users.ts";

/**
 * Grants and the effective access they give.
 * - manage: list, give, change and take back grants (administrators).
 * - explain: ask why an account has the access it has on a system. Administrators ask about anyone; an account
 *   asks only about itself and a system it can access (any other account or system is not found).
 */
export type GrantAction = "manage" | "explain";

/** For "explain": whose access, and what the resolver says it is. */
export interface AccessQuestion {
  userId: number;
  permission: Permission;
}

export function can(actor: PolicyActor, action: GrantAction, question?: AccessQuestion): boolean {
  if (actsAsAdministrator(actor)) return true;
  if (actorKind(actor) !== "user" || action !== "explain" || !question) return false;
  return question.userId === actor.id && question.permission !== "none";
}

/** Asked twice for "explain": before the lookup with the account alone (permission unknown), then with the answer. */
export function assertCan(actor: PolicyActor, action: GrantAction, question?: AccessQuestion): void {
  if (can(actor, action, question)) return;
  if (action === "explain" && question) {
    if (question.userId !== actor.id) throw new NotFoundError(NO_SUCH_USER);
    throw new NotFoundError(NO_SUCH_SYSTEM);
  }
  throw new ForbiddenError("Only administrators can manage grants.");
}

/** Whether the actor may ask about this account at all, before anything is read. */
export function mayAskAbout(actor: PolicyActor, userId: number): boolean {
  return actsAsAdministrator(actor) || (actorKind(actor) === "user" && actor.id === userId);
}
