import { ForbiddenError } from "../errors.ts";
import { actsAsAdministrator, type PolicyActor } from "./actor.ts";

/** System groups are an administrator's tool for granting many systems at once: nobody else sees or changes them. */
export const NO_SUCH_GROUP = "There is no such system group.";

export type GroupAction = "list" | "read" | "create" | "update" | "delete" | "add-system" | "remove-system";

export function can(actor: PolicyActor, _action: GroupAction): boolean {
  return actsAsAdministrator(actor);
}

export function assertCan(actor: PolicyActor, action: GroupAction): void {
  if (!can(actor, action)) throw new ForbiddenError("Only administrators can do that.");
}
