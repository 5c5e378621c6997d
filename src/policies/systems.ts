import { ForbiddenError, NotFoundError } from "../errors.ts";
import type { PermissionLevel } from "../types/access.ts";
import { actorKind, actsAsAdministrator, type PolicyActor } from "./actor.ts";

/**
 * What may be done with systems. `level` is the actor's effective permission on the one system in question, as the
 * resolver computes it on every request (0 none, 1 read, 2 read/write); collection actions ignore it.
 * - list: see the systems one can access (the list itself is scoped by the resolver).
 * - read: open one system; without at least read it does not exist for the actor (404, never 403, so no name leaks).
 * - change-notes: change description and notes (read/write).
 * - change-identity: rename or change the host (administrators).
 * - administer, create, delete, see-groups: administrators. "administer" is the administrators' pages: every
 *   system, every field. Which groups hold a system is an administrator's business.
 */
export type SystemAction = "list" | "read" | "change-notes" | "change-identity" | "administer" | "create" | "delete" | "see-groups";

export const NO_SUCH_SYSTEM = "There is no such system.";

export function can(actor: PolicyActor, action: SystemAction, level: PermissionLevel = 0): boolean {
  if (actsAsAdministrator(actor)) return true;
  if (actorKind(actor) !== "user") return false;
  switch (action) {
    case "list":
      return true;
    case "read":
      return level >= 1;
    case "change-notes":
      return level === 2;
    default:
      return false;
  }
}

/** Throws what the caller should answer when `can` says no: not found below read, forbidden above it. */
export function assertCan(actor: PolicyActor, action: SystemAction, level: PermissionLevel = 0): void {
  if (can(actor, action, level)) return;
  const onOneSystem = action === "read" || action === "change-notes" || action === "change-identity";
  if (onOneSystem && level === 0) throw new NotFoundError(NO_SUCH_SYSTEM);
  if (action === "change-notes") throw new ForbiddenError("You have read access to this system; changing it needs read/write.");
  if (action === "change-identity" && level === 2)
    throw new ForbiddenError("Only administrators can change a system's name or host; read/write covers description and notes.");
  throw new ForbiddenError("Only administrators can do that.");
}

/**
 * The action a change of these fields needs: the name, host, web address and gate mode are the administrators'
 * (the last two decide what the gate lets through), description and notes read/write's.
 */
export function changeAction(fields: { name?: unknown; host?: unknown; webAddress?: unknown; gateMode?: unknown }): "change-notes" | "change-identity" {
  return [fields.name, fields.host, fields.webAddress, fields.gateMode].some((value) => value !== undefined) ? "change-identity" : "change-notes";
}
