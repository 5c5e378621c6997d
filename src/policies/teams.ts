import { ForbiddenError, NotFoundError } from "../errors.ts";
import { actorKind, actsAsAdministrator, type PolicyActor } from "./actor.ts";

/**
 * What may be done with teams. A member sees the team it belongs to (its name and description), not who else is in
 * it; any other team does not exist for it. Everything else is the administrators': "administer" is their pages
 * and pickers, which show every team.
 */
export type TeamAction = "list" | "read" | "list-members" | "administer" | "create" | "update" | "delete" | "add-member" | "remove-member";

/** The one team in question, as far as a decision needs it. */
export interface TeamSubject {
  /** Whether the actor belongs to the team. */
  isMember: boolean;
}

export const NO_SUCH_TEAM = "There is no such team.";

export function can(actor: PolicyActor, action: TeamAction, team: TeamSubject = { isMember: false }): boolean {
  if (actsAsAdministrator(actor)) return true;
  if (actorKind(actor) !== "user") return false;
  if (action === "list") return true;
  if (action === "read") return team.isMember;
  return false;
}

export function assertCan(actor: PolicyActor, action: TeamAction, team: TeamSubject = { isMember: false }): void {
  if (can(actor, action, team)) return;
  if ((action === "read" || action === "list-members") && !team.isMember) throw new NotFoundError(NO_SUCH_TEAM);
  if (action === "list-members") throw new ForbiddenError("Only administrators can list a team's members.");
  throw new ForbiddenError("Only administrators can do that.");
}

/** Which teams a list shows the actor: every team, or (memberId) only its own; nobody signed in has none. */
export function listScope(actor: PolicyActor): { memberId?: number } {
  if (actsAsAdministrator(actor)) return {};
  return { memberId: actor.id ?? 0 };
}
