import { randomBytes } from "node:crypto";
import type { Db, Queryable } from "../db/index.ts";
import { ConflictError, NotFoundError, ValidationError } from "../errors.ts";
import { checkBackchannelLogoutUri, checkRedirectUris } from "../lib/redirect-uris.ts";
import { digestOfToken, newRandomToken, RANDOM_TOKEN, sameHash } from "../lib/secret-box.ts";
import { assertCan, type OidcClientAction } from "../policies/oidc-clients.ts";
import { NO_SUCH_SYSTEM } from "../policies/systems.ts";
import * as clients from "../repositories/oidc-clients.ts";
import type { Actor } from "../types/user.ts";
import { recordAudit, SECRET_MASK } from "./audit.ts";

/**
 * "Sign in with Gatehouse" (docs/domain.md): a system may have one OpenID Connect client, through which it signs
 * people in with Gatehouse and learns their permission on it (read or read/write) from the `gatehouse_permission`
 * claim. Clients are confidential: the authorization code flow with PKCE (S256), a client secret sent as
 * client_secret_basic or client_secret_post. The secret is 32 random bytes, shown once when made (on enabling and
 * at each rotation) and stored only as its SHA-256 digest, as the gate's codes are (src/lib/secret-box.ts).
 *
 * Disabling deletes the client: its id is never used again (enabling anew makes another). Deleting the system
 * deletes its client too (ON DELETE CASCADE).
 */

/** What every client is allowed, as the system's own configuration must say it (and the provider must enforce it). */
export const OIDC_CLIENT_PROFILE = {
  responseTypes: ["code"],
  grantTypes: ["authorization_code", "refresh_token"],
  pkceMethod: "S256",
  tokenEndpointAuthMethods: ["client_secret_basic", "client_secret_post"],
  scopes: ["openid", "profile", "email", "groups"],
  permissionClaim: "gatehouse_permission",
} as const;

/** The issuer systems are told to trust: the console's own address (BASE_URL). */
export function oidcIssuer(baseUrl: string): string {
  return baseUrl;
}

/** Where a system finds the provider's endpoints and keys (OpenID Connect Discovery 1.0 §4). */
export function oidcDiscoveryUrl(baseUrl: string): string {
  return `${oidcIssuer(baseUrl)}/.well-known/openid-configuration`;
}

const CLIENT_ID_PREFIX = "gh-";
/** What newClientId makes (the table's check says the same); anything else is refused before a lookup. */
const CLIENT_ID = /^gh-[A-Za-z0-9_-]{22}$/;

/** A new client id: `gh-` and 22 base64url characters (16 random bytes). Not a secret, but never guessable or reused. */
function newClientId(): string {
  return `${CLIENT_ID_PREFIX}${randomBytes(16).toString("base64url")}`;
}

export const SIGN_IN_OFF = "Sign in with Gatehouse is not enabled for this system.";
export const SIGN_IN_ALREADY_ON =
  "Sign in with Gatehouse is already enabled for this system, so no new client was made. Its client secret is not shown again: if you do not have it, use Rotate secret.";

/** A system's client as the console and the API show it: never its secret or the secret's digest. */
export interface OidcClientView {
  systemId: number;
  clientId: string;
  redirectUris: string[];
  /** Where a logout token is posted when a person's sign-in ends; null for none. */
  backchannelLogoutUri: string | null;
  createdAt: Date;
  updatedAt: Date;
  /** null until the secret is first rotated. */
  secretRotatedAt: Date | null;
  version: number;
}

/** A client as the OpenID Connect provider needs it to authenticate the client and to check a redirect URI. */
export interface OidcClientForProvider {
  clientId: string;
  systemId: number;
  systemName: string;
  /** SHA-256 of the secret, base64url: compare a presented secret with clientSecretMatches. */
  secretDigest: string;
  redirectUris: string[];
  backchannelLogoutUri: string | null;
}

/** The addresses an administrator gives a client: where people come back to, and where logout tokens go. */
export interface OidcClientAddresses {
  redirectUris: readonly string[];
  /** null or "": none; left out (the API's PUT): what is stored stays. */
  backchannelLogoutUri?: string | null;
}

interface StoredAddresses {
  redirectUris: string[];
  /** undefined: keep what is stored. */
  backchannelLogoutUri: string | null | undefined;
}

function toView(row: clients.OidcClientRow): OidcClientView {
  return {
    systemId: row.systemId,
    clientId: row.clientId,
    redirectUris: row.redirectUris,
    backchannelLogoutUri: row.backchannelLogoutUri,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    secretRotatedAt: row.secretRotatedAt,
    version: row.version,
  };
}

function systemTarget(system: { id: number; name: string }) {
  return { type: "system", id: system.id, label: system.name };
}

/** The addresses as stored, or a ValidationError naming each wrong field (the routes check them first; this is for every caller). */
function storedAddresses(given: OidcClientAddresses): StoredAddresses {
  const uris = checkRedirectUris(given.redirectUris);
  const backchannel = given.backchannelLogoutUri === undefined ? { uri: undefined } : checkBackchannelLogoutUri(given.backchannelLogoutUri);
  const problems: Record<string, string> = {};
  if ("problem" in uris) problems.redirectUris = uris.problem;
  if ("problem" in backchannel) problems.backchannelLogoutUri = backchannel.problem;
  if ("problem" in uris || "problem" in backchannel) throw new ValidationError(problems);
  return { redirectUris: uris.uris, backchannelLogoutUri: backchannel.uri };
}

/** In one transaction, after the policy said yes: the system locked (one change to its client at a time), or a 404. */
async function withSystem<T>(db: Db, actor: Actor, action: OidcClientAction, systemId: number, work: (trx: Queryable, system: { id: number; name: string }) => Promise<T>): Promise<T> {
  assertCan(actor, action);
  return db.transaction(async (trx) => {
    const system = await clients.lockSystemOfClient(trx, systemId);
    if (!system) throw new NotFoundError(NO_SUCH_SYSTEM);
    return work(trx, system);
  });
}

/** The system's client, or undefined when sign-in is off. */
export async function findOidcClientOfSystem(db: Queryable, actor: Actor, systemId: number): Promise<OidcClientView | undefined> {
  assertCan(actor, "see");
  const row = await clients.selectOidcClientOfSystem(db, systemId);
  return row ? toView(row) : undefined;
}

async function createClient(trx: Queryable, actor: Actor, system: { id: number; name: string }, addresses: StoredAddresses) {
  const clientSecret = newRandomToken();
  const row = await clients.insertOidcClient(trx, {
    systemId: system.id,
    clientId: newClientId(),
    secretDigest: digestOfToken(clientSecret),
    redirectUris: addresses.redirectUris,
    backchannelLogoutUri: addresses.backchannelLogoutUri ?? null,
  });
  if (!row) return undefined;
  await recordAudit(trx, actor, {
    action: "oidc_client.created",
    target: systemTarget(system),
    details: {
      clientId: row.clientId,
      changes: {
        redirectUris: { from: null, to: row.redirectUris },
        ...(row.backchannelLogoutUri ? { backchannelLogoutUri: { from: null, to: row.backchannelLogoutUri } } : {}),
        clientSecret: { from: null, to: SECRET_MASK },
      },
    },
  });
  return { client: toView(row), clientSecret };
}

/**
 * Turns sign-in on: a new client with these addresses. Returns the client secret, which the caller shows once
 * and never keeps. A 409 when the system has a client already (a second tab, a double click: its secret is not
 * shown again), a 404 when there is no such system, a ValidationError naming `redirectUris` or `backchannelLogoutUri`.
 */
export async function enableOidcClient(db: Db, actor: Actor, systemId: number, given: OidcClientAddresses): Promise<{ client: OidcClientView; clientSecret: string }> {
  const addresses = storedAddresses(given);
  return withSystem(db, actor, "enable", systemId, async (trx, system) => {
    const created = await createClient(trx, actor, system, addresses);
    if (!created) throw new ConflictError(SIGN_IN_ALREADY_ON, { redirectUris: SIGN_IN_ALREADY_ON });
    return created;
  });
}

function sameUris(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((uri, i) => uri === b[i]);
}

async function changeAddresses(trx: Queryable, actor: Actor, system: { id: number; name: string }, given: StoredAddresses, expectedVersion?: number) {
  const before = await clients.selectOidcClientOfSystem(trx, system.id);
  if (!before) throw new NotFoundError(SIGN_IN_OFF);
  const wanted = { redirectUris: given.redirectUris, backchannelLogoutUri: given.backchannelLogoutUri === undefined ? before.backchannelLogoutUri : given.backchannelLogoutUri };
  const urisChanged = !sameUris(before.redirectUris, wanted.redirectUris);
  const backchannelChanged = before.backchannelLogoutUri !== wanted.backchannelLogoutUri;
  if (!urisChanged && !backchannelChanged) return { client: toView(before), changed: false };
  const after = await clients.updateOidcClientAddresses(trx, system.id, wanted, expectedVersion);
  if (!after) {
    const problem = `Someone else changed this sign-in's addresses after you opened the page; the redirect URIs are now: ${before.redirectUris.join(", ")}; the back-channel logout URI: ${before.backchannelLogoutUri ?? "none"}. What you typed is kept: save again to replace them.`;
    throw new ConflictError(problem, { redirectUris: problem });
  }
  await recordAudit(trx, actor, {
    action: "oidc_client.changed",
    target: systemTarget(system),
    details: {
      clientId: after.clientId,
      changes: {
        ...(urisChanged ? { redirectUris: { from: before.redirectUris, to: after.redirectUris } } : {}),
        ...(backchannelChanged ? { backchannelLogoutUri: { from: before.backchannelLogoutUri, to: after.backchannelLogoutUri } } : {}),
      },
    },
  });
  return { client: toView(after), changed: true };
}

/**
 * Replaces the addresses of the system's client. `expectedVersion` (the console's form sends it) refuses the
 * change with a 409 naming `redirectUris` when someone else changed the client since. The same addresses again
 * change nothing and write no event. A 404 when sign-in is off or there is no such system.
 */
export async function changeOidcClientAddresses(
  db: Db,
  actor: Actor,
  systemId: number,
  given: OidcClientAddresses,
  expectedVersion?: number,
): Promise<{ client: OidcClientView; changed: boolean }> {
  const addresses = storedAddresses(given);
  return withSystem(db, actor, "change-redirect-uris", systemId, (trx, system) => changeAddresses(trx, actor, system, addresses, expectedVersion));
}

/**
 * The API's PUT: the system's client with these addresses, made if there is none (then with its secret, once:
 * `created` true) or changed if there is one (a back-channel logout URI left out stays as it is).
 */
export async function setOidcClient(
  db: Db,
  actor: Actor,
  systemId: number,
  given: OidcClientAddresses,
): Promise<{ client: OidcClientView; created: boolean; changed: boolean; clientSecret?: string }> {
  const addresses = storedAddresses(given);
  assertCan(actor, "change-redirect-uris");
  return withSystem(db, actor, "enable", systemId, async (trx, system) => {
    const created = await createClient(trx, actor, system, addresses);
    if (created) return { ...created, created: true, changed: true };
    return { ...(await changeAddresses(trx, actor, system, addresses)), created: false };
  });
}

/**
 * A new client secret for the system's client; the old one stops working at once, so the system cannot sign
 * anyone in until its configuration has the new one. Returns the secret, to be shown once. A 404 when sign-in is
 * off or there is no such system.
 */
export async function rotateOidcClientSecret(db: Db, actor: Actor, systemId: number): Promise<{ client: OidcClientView; clientSecret: string }> {
  return withSystem(db, actor, "rotate-secret", systemId, async (trx, system) => {
    const clientSecret = newRandomToken();
    const row = await clients.updateOidcClientSecret(trx, system.id, digestOfToken(clientSecret));
    if (!row) throw new NotFoundError(SIGN_IN_OFF);
    await recordAudit(trx, actor, {
      action: "oidc_client.secret_rotated",
      target: systemTarget(system),
      details: { clientId: row.clientId, changes: { clientSecret: { from: SECRET_MASK, to: SECRET_MASK } } },
    });
    return { client: toView(row), clientSecret };
  });
}

/**
 * Turns sign-in off: the client is deleted, so findOidcClientByClientId no longer finds its id. Returns the client id
 * that was removed, for whatever else holds state under it (the provider's stored codes, grants and tokens) to be
 * removed too; undefined when sign-in was already off, which is not an error (a second tab, a double click). A 404
 * when there is no such system.
 */
export async function disableOidcClient(db: Db, actor: Actor, systemId: number): Promise<{ systemName: string; removedClientId: string | undefined }> {
  return withSystem(db, actor, "disable", systemId, async (trx, system) => {
    const removed = await clients.deleteOidcClient(trx, system.id);
    if (removed)
      await recordAudit(trx, actor, {
        action: "oidc_client.disabled",
        target: systemTarget(system),
        details: {
          clientId: removed.clientId,
          changes: {
            redirectUris: { from: removed.redirectUris, to: null },
            ...(removed.backchannelLogoutUri ? { backchannelLogoutUri: { from: removed.backchannelLogoutUri, to: null } } : {}),
            clientSecret: { from: SECRET_MASK, to: null },
          },
        },
      });
    return { systemName: system.name, removedClientId: removed?.clientId };
  });
}

/** The client id of a system's client, if it has one: what a system's deletion takes with it (for its audit event). */
export async function oidcClientIdOfSystem(db: Queryable, systemId: number): Promise<string | undefined> {
  return (await clients.selectOidcClientOfSystem(db, systemId))?.clientId;
}

/**
 * The client that presents this client id, for the OpenID Connect provider: undefined for an id no system has
 * (or one that cannot be an id). No actor: the provider asks before anyone is known, and the client proves itself
 * with its secret (clientSecretMatches).
 */
export async function findOidcClientByClientId(db: Queryable, clientId: string): Promise<OidcClientForProvider | undefined> {
  if (typeof clientId !== "string" || !CLIENT_ID.test(clientId)) return undefined;
  const row = await clients.selectOidcClientByClientId(db, clientId);
  return row
    ? {
        clientId: row.clientId,
        systemId: row.systemId,
        systemName: row.systemName,
        secretDigest: row.secretDigest,
        redirectUris: row.redirectUris,
        backchannelLogoutUri: row.backchannelLogoutUri,
      }
    : undefined;
}

/** Whether `presented` is the client's secret: its digest compared in constant time; anything not shaped like a secret is not. */
export function clientSecretMatches(client: { secretDigest: string }, presented: unknown): boolean {
  return typeof presented === "string" && RANDOM_TOKEN.test(presented) && sameHash(digestOfToken(presented), client.secretDigest);
}
