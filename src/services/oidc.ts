import type { Db } from "../db/index.ts";
import { mayEnter } from "../policies/gate.ts";
import { type PersonOnSystem, selectPersonOnSystem } from "../repositories/people-on-systems.ts";
import { PERMISSION_BY_LEVEL } from "../types/access.ts";
import type { Actor } from "../types/user.ts";
import * as failures from "../repositories/login-failures.ts";
import { recordAudit } from "./audit.ts";
import { clientSecretMatches, findOidcClientByClientId } from "./oidc-clients.ts";

/**
 * "Sign in with Gatehouse": what the OpenID Connect provider (src/auth/oidc) asks of Gatehouse. Who may sign in to a
 * system is the gate's rule (policies/gate.ts, mayEnter: at least read, and an account that is not disabled), read
 * from the resolver at each question (authorization, token, refresh, userinfo), never cached.
 */

/** Why a person is refused at a system's sign-in, a refresh or userinfo. */
export type OidcRefusal = "no_access" | "disabled" | "no_account" | "no_client";

export type OidcAccess =
  | { allowed: true; person: PersonOnSystem; system: { id: number; name: string } }
  | { allowed: false; reason: OidcRefusal; person?: PersonOnSystem; system?: { id: number; name: string } };

/** The person's access to the system whose client `clientId` is, computed now. */
export async function oidcAccessOf(db: Db, userId: number, clientId: string): Promise<OidcAccess> {
  const client = await findOidcClientByClientId(db, clientId);
  if (!client) return { allowed: false, reason: "no_client" };
  const system = { id: client.systemId, name: client.systemName };
  const person = await selectPersonOnSystem(db, userId, client.systemId);
  if (!person) return { allowed: false, reason: "no_account", system };
  if (person.disabled) return { allowed: false, reason: "disabled", person, system };
  if (!mayEnter(person.level)) return { allowed: false, reason: "no_access", person, system };
  return { allowed: true, person, system };
}

/** The scopes a system's client may ask for, and the claims each brings (ID token and userinfo alike). */
export const OIDC_SCOPE_CLAIMS = {
  openid: ["sub", "gatehouse_permission"],
  profile: ["preferred_username", "name"],
  email: ["email", "email_verified"],
  groups: ["groups"],
} as const;

/**
 * The claims of a person with access: `sub` is the account's id, which a rename leaves alone; the address only when
 * verified; `gatehouse_permission` is the level on the client's system at this moment.
 */
export function claimsOf(person: PersonOnSystem): Record<string, unknown> {
  return {
    sub: String(person.userId),
    preferred_username: person.username,
    name: person.fullName || person.username,
    ...(person.email ? { email: person.email, email_verified: true } : {}),
    groups: person.teams,
    gatehouse_permission: PERMISSION_BY_LEVEL[person.level],
  };
}

/** A person signed in to a system through its client (one event per authorization the provider grants). */
export async function recordOidcSignIn(db: Db, actor: Actor, access: Extract<OidcAccess, { allowed: true }>): Promise<void> {
  await recordAudit(db, { ...actor, id: access.person.userId, username: access.person.username }, {
    action: "oidc.signed_in",
    target: { type: "system", id: access.system.id, label: access.system.name },
    details: { permission: PERMISSION_BY_LEVEL[access.person.level] },
  });
}

/** A refusal at sign-in (`oidc.refused`) or at a refresh (`oidc.refresh_refused`), with the reason. */
export async function recordOidcRefusal(
  db: Db,
  actor: Actor,
  action: "oidc.refused" | "oidc.refresh_refused",
  access: Extract<OidcAccess, { allowed: false }>,
): Promise<void> {
  await recordAudit(db, { ...actor, ...(access.person ? { id: access.person.userId, username: access.person.username } : {}) }, {
    action,
    ...(access.system ? { target: { type: "system", id: access.system.id, label: access.system.name } } : {}),
    details: { reason: access.reason },
  });
}

/** Wrong client secrets, per client and address, as wrong passwords are counted: 10 in 15 minutes, then a wait. */
export const CLIENT_SECRET_POLICY = { windowSeconds: 15 * 60, maxFailures: 10 } as const;

/**
 * Checks a client secret presented at the token endpoint; only a wrong one is counted. Unlike a password's, the
 * check is not reserved before the comparison: a busy system sends its right secret many times at once, and those
 * requests in flight must not use up the address's allowance. A burst of parallel guesses may pass the count by a
 * few, which a 32-byte secret can afford. "throttled" once the address has made 10 wrong guesses for this client in
 * the window: the right secret waits too, as a right password does after a lockout.
 */
export async function checkClientSecret(db: Db, clientId: string, presented: unknown, clientIp: string): Promise<"ok" | "wrong" | "throttled"> {
  const key = `${clientId} ${clientIp}`;
  const counted = await failures.readFailureCounter(db, "client_secret", key, CLIENT_SECRET_POLICY.windowSeconds);
  if (counted.failures >= CLIENT_SECRET_POLICY.maxFailures) return "throttled";
  const client = await findOidcClientByClientId(db, clientId);
  if (client && clientSecretMatches(client, presented)) return "ok";
  await failures.addFailure(db, "client_secret", key, CLIENT_SECRET_POLICY.windowSeconds, () => 0);
  return "wrong";
}
