import { ForbiddenError } from "../errors.ts";
import { actsAsAdministrator, type PolicyActor } from "./actor.ts";

/**
 * Reports and bulk downloads (docs/domain.md, "The access report"): the users list as CSV and the access report say
 * who exists and who reaches what across the whole fleet, so they are the administrators' alone, whatever door
 * (console page, download, API token) asks.
 */
export type ReportAction = "download-users" | "read-access-report";

export function can(actor: PolicyActor, _action: ReportAction): boolean {
  return actsAsAdministrator(actor);
}

export function assertCan(actor: PolicyActor, action: ReportAction): void {
  if (!can(actor, action)) throw new ForbiddenError("Only administrators can do that.");
}
