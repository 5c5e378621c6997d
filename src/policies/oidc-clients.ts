import { ForbiddenError } from "../errors.ts";
import { actsAsAdministrator, type PolicyActor } from "./actor.ts";

/**
 * A system's OpenID Connect client ("Sign in with Gatehouse", docs/domain.md). Its secret lets the system sign
 * people in as Gatehouse vouches for them, and its redirect URIs decide where their authorization codes go: that
 * is the administrators' alone, whatever door (console page, API token) asks, even for an account with
 * read/write on the system.
 * - see: whether sign-in is on, the client id and the redirect URIs.
 * - enable, change-redirect-uris, rotate-secret, disable: the writes.
 */
export type OidcClientAction = "see" | "enable" | "change-redirect-uris" | "rotate-secret" | "disable";

export function can(actor: PolicyActor, _action: OidcClientAction): boolean {
  return actsAsAdministrator(actor);
}

export function assertCan(actor: PolicyActor, action: OidcClientAction): void {
  if (!can(actor, action)) throw new ForbiddenError("Only administrators can do that.");
}
