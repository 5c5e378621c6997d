import { ForbiddenError, NotFoundError } from "../errors.ts";
import { actorKind, actsAsAdministrator, type PolicyActor } from "./actor.ts";

/**
 * What may be done with accounts. Anyone signed in reads their own account; another account does not exist for
 * them (404, never 403: the id says nothing). Listing, creating, importing from a file, changing, disabling,
 * deleting, resetting another account's password or two-factor, ending its sessions and sending a confirmation
 * code to its address are the administrators'.
 */
export type UserAction =
  | "list"
  | "read"
  | "create"
  | "import"
  | "update"
  | "disable"
  | "delete"
  | "reset-credentials"
  | "end-sessions"
  | "send-confirmation-code";

/** The one account in question. */
export interface UserSubject {
  id: number;
}

export const NO_SUCH_USER = "There is no such user.";

export function can(actor: PolicyActor, action: UserAction, user?: UserSubject): boolean {
  if (actsAsAdministrator(actor)) return true;
  if (actorKind(actor) !== "user") return false;
  return action === "read" && user !== undefined && user.id === actor.id;
}

export function assertCan(actor: PolicyActor, action: UserAction, user?: UserSubject): void {
  if (can(actor, action, user)) return;
  if (action === "read") throw new NotFoundError(NO_SUCH_USER);
  throw new ForbiddenError("Only administrators can do that.");
}

/** Whom a list of accounts shows the actor: everyone, or only itself. */
export function listScope(actor: PolicyActor): "everyone" | "self" {
  return actsAsAdministrator(actor) ? "everyone" : "self";
}
