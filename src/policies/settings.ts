import { ForbiddenError } from "../errors.ts";
import { actsAsAdministrator, type PolicyActor } from "./actor.ts";

/**
 * Settings (general, mail, LDAP) and the log: administrators read and change them. Everyone's requests read the
 * general settings in force (timeouts, lockout thresholds), but that is the system reading, not a person.
 */
export type SettingsAction = "read" | "change" | "read-log";

export function can(actor: PolicyActor, _action: SettingsAction): boolean {
  return actsAsAdministrator(actor);
}

export function assertCan(actor: PolicyActor, action: SettingsAction): void {
  if (!can(actor, action)) throw new ForbiddenError("Only administrators can do that.");
}
