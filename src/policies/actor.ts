import type { Actor } from "../types/user.ts";

/**
 * Who a policy sees. The installation itself (the CLI, the environment seed, scheduled jobs) acts with an
 * administrator's authority but for no account; "anonymous" is a request nobody has signed in to.
 */
export type ActorKind = "system" | "administrator" | "user" | "anonymous";

/** The part of an actor the policies read: nothing else about a request may sway a decision. */
export type PolicyActor = Pick<Actor, "id" | "isAdmin">;

export function actorKind(actor: PolicyActor): ActorKind {
  if (actor.isAdmin === true) return actor.id === null ? "system" : "administrator";
  return actor.id === null ? "anonymous" : "user";
}

/** True for the installation and for an administrator: both may do everything the policies allow anyone. */
export function actsAsAdministrator(actor: PolicyActor): boolean {
  return actor.isAdmin === true;
}
