import { randomBytes } from "node:crypto";
import { assertCan as assertCanOnUser } from "../policies/users.ts";
import type { Db, Queryable } from "../db/index.ts";
import { ConflictError, NotFoundError, ValidationError } from "../errors.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import { textField } from "../lib/fields.ts";
import { hashCode } from "../lib/secret-box.ts";
import { apiTokenCreatedMessage } from "../mail/messages.ts";
import * as tokens from "../repositories/api-tokens.ts";
import * as outbox from "../repositories/outbox.ts";
import * as users from "../repositories/users/index.ts";
import type { Actor, User } from "../types/user.ts";
import { recordAudit } from "./audit.ts";

/**
 * Personal API tokens (issue 7): a user makes bearer tokens on their Profile for scripts that call the REST API
 * as them. A token is `gh_` and 43 base64url characters (32 random bytes); it is shown once and only a keyed hash
 * of it is stored (HMAC-SHA-256 with a key derived from APP_SECRET). It acts with its owner's rights as they are
 * at each request: the owner is loaded every time, so a disable, deletion or demotion counts at once.
 */

export const API_TOKEN_PREFIX = "gh_";
/** The whole shape of a token; anything else is refused before the database is asked. */
export const API_TOKEN_PATTERN = /^gh_[A-Za-z0-9_-]{43}$/;
/** How many characters of the secret part are kept to recognise a token in a list. */
const PREFIX_LENGTH = 8;
/** Active (neither expired nor revoked) tokens one account may have. */
export const MAX_ACTIVE_API_TOKENS = 50;
/** The longest lifetime a token may be given, in days (the Profile offers up to a year, or never). */
export const MAX_API_TOKEN_DAYS = 3650;

/** The Profile's choices for Expires; `days: null` never expires. */
export const API_TOKEN_EXPIRY_CHOICES = [
  { value: "7", label: "7 days", days: 7 },
  { value: "30", label: "30 days", days: 30 },
  { value: "90", label: "90 days", days: 90 },
  { value: "365", label: "1 year", days: 365 },
  { value: "never", label: "Never", days: null },
] as const;
export const DEFAULT_API_TOKEN_EXPIRY = "90";

export const TOKEN_NAME_TAKEN = "You already have an active token with this name. Choose another name, or revoke the old token first.";
export const NOT_YOUR_TOKEN = "That API token is not one of yours, or it no longer exists.";

/** A token's label: required, trimmed, 1–64 code points, one line, no direction-changing characters. */
export const apiTokenNameField = textField("Name", 64).superRefine((v, ctx) => {
  if (v === "") ctx.addIssue({ code: "custom", message: "Enter a name for the token, such as what will use it." });
});

export type ApiTokenStatus = "active" | "expired" | "revoked";

/**
 * A token as its owner (and the audit log) may see it: never the token or its hash. `prefix` is how it starts
 * after "gh_"; an expiresAt of null never expires.
 */
export type ApiTokenView = Omit<tokens.ApiTokenRecord, "expired"> & { status: ApiTokenStatus };

function toView(record: tokens.ApiTokenRecord): ApiTokenView {
  return {
    id: record.id,
    userId: record.userId,
    name: record.name,
    prefix: `${API_TOKEN_PREFIX}${record.prefix}`,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    lastUsedAt: record.lastUsedAt,
    revokedAt: record.revokedAt,
    status: record.revokedAt ? "revoked" : record.expired ? "expired" : "active",
  };
}

/** What the audit log keeps of a token. */
function audited(view: ApiTokenView) {
  return { tokenId: view.id, name: view.name, prefix: view.prefix, expiresAt: view.expiresAt?.toISOString() ?? null };
}

function ownerTarget(user: { id: number; username: string }) {
  return { type: "user", id: user.id, label: user.username };
}

/** The stored form of a token: a keyed hash, so the table alone does not let anyone try tokens. */
function tokenHash(keys: SecretKeys, token: string): string {
  return hashCode(keys.apiTokens, token);
}

/** The stored form of a token as sent, or undefined when it cannot be a token at all (then nothing is looked up). */
export function storedFormOfToken(keys: SecretKeys, rawToken: unknown): string | undefined {
  return typeof rawToken === "string" && API_TOKEN_PATTERN.test(rawToken) ? tokenHash(keys, rawToken) : undefined;
}

function newToken(): string {
  return `${API_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
}

/**
 * Makes a token for `userId`. Returns the token itself, which the caller shows once and never keeps, and what
 * is stored of it. Throws a ValidationError naming `name` or `expiresInDays`, a ConflictError at the cap, and a
 * NotFoundError when the account does not exist or is disabled.
 */
export async function createApiToken(
  db: Db,
  keys: SecretKeys,
  actor: Actor,
  userId: number,
  input: { name: string; expiresInDays: number | null },
): Promise<{ token: string; record: ApiTokenView; noticeId: number | null }> {
  const parsed = apiTokenNameField.safeParse(input.name);
  if (!parsed.success) throw new ValidationError({ name: parsed.error.issues[0]?.message ?? "Enter a name for the token." });
  const days = input.expiresInDays;
  if (days !== null && !(Number.isInteger(days) && days >= 1 && days <= MAX_API_TOKEN_DAYS))
    throw new ValidationError({ expiresInDays: `Expires must be a whole number of days from 1 to ${MAX_API_TOKEN_DAYS}, or never.` });
  const token = newToken();
  const record = await db.transaction(async (trx) => {
    if (!(await tokens.lockTokenOwner(trx, userId))) throw new NotFoundError();
    const owner = await users.findUserById(trx, userId);
    if (!owner || owner.disabled) throw new NotFoundError();
    // A double click must not leave a second secret that nobody was shown: names are unique among active tokens.
    if (await tokens.hasActiveTokenNamed(trx, userId, parsed.data)) throw new ConflictError(TOKEN_NAME_TAKEN, { name: TOKEN_NAME_TAKEN });
    const active = await tokens.countActiveUserApiTokens(trx, userId);
    if (active >= MAX_ACTIVE_API_TOKENS)
      throw new ConflictError(
        `You already have ${MAX_ACTIVE_API_TOKENS} active API tokens, the most an account can have. Revoke one you no longer use, then create the new one.`,
      );
    const created = toView(
      await tokens.insertApiToken(trx, {
        userId,
        name: parsed.data,
        tokenHash: tokenHash(keys, token),
        prefix: token.slice(API_TOKEN_PREFIX.length, API_TOKEN_PREFIX.length + PREFIX_LENGTH),
        expiresInDays: days,
      }),
    );
    await recordAudit(trx, actor, { action: "api_token.created", target: ownerTarget(owner), details: audited(created) });
    // A new credential is announced to the owner's verified address, so that one made by someone else is noticed.
    const noticeId = owner.email && owner.emailVerified ? await outbox.enqueue(trx, apiTokenCreatedMessage(owner.email, owner.username, created.name, created.prefix)) : null;
    return { created, noticeId };
  });
  return { token, record: record.created, noticeId: record.noticeId };
}

/** The account's tokens, newest first: active, expired and revoked alike. */
export async function listApiTokens(db: Db, userId: number): Promise<ApiTokenView[]> {
  return (await tokens.listUserApiTokens(db, userId)).map(toView);
}

export async function countActiveApiTokens(db: Db, userId: number): Promise<number> {
  return tokens.countActiveUserApiTokens(db, userId);
}

/**
 * Revokes one of the account's tokens. A token of another account, or an id that names none, is a NotFoundError
 * and changes nothing; one already revoked is returned as it is (a second tab, a double click).
 */
export async function revokeApiToken(db: Db, actor: Actor, userId: number, tokenId: number): Promise<ApiTokenView> {
  return db.transaction(async (trx) => {
    const owner = await users.findUserById(trx, userId);
    if (!owner) throw new NotFoundError(NOT_YOUR_TOKEN);
    const revoked = await tokens.revokeUserApiToken(trx, userId, tokenId);
    if (!revoked) {
      const existing = await tokens.findUserApiToken(trx, userId, tokenId);
      if (!existing) throw new NotFoundError(NOT_YOUR_TOKEN);
      return toView(existing);
    }
    const view = toView(revoked);
    await recordAudit(trx, actor, { action: "api_token.revoked", target: ownerTarget(owner), details: audited(view) });
    return view;
  });
}

/** An administrator revokes every active token of a user at once (one audit event listing them). */
export async function revokeAllApiTokens(db: Db, actor: Actor, userId: number): Promise<{ user: User; revoked: number }> {
  assertCanOnUser(actor, "reset-credentials", { id: userId });
  return db.transaction(async (trx) => {
    const owner = await users.findUserById(trx, userId);
    if (!owner) throw new NotFoundError();
    const revoked = (await tokens.revokeActiveUserApiTokens(trx, userId)).map(toView);
    if (revoked.length > 0)
      await recordAudit(trx, actor, {
        action: "api_token.revoked_all",
        target: ownerTarget(owner),
        details: { tokensRevoked: revoked.length, tokens: revoked.map(audited) },
      });
    return { user: owner, revoked: revoked.length };
  });
}

/**
 * Inside the transaction of a recovery or a lock-out (a completed password reset, a password set by an
 * administrator, a disabled account): every active token of the account stops working, and one event says why.
 * Someone who held the account for a moment must not keep a way in that outlives the recovery (docs/security.md R8).
 */
export async function revokeTokensWith(trx: Queryable, actor: Actor, owner: { id: number; username: string }, reason: string): Promise<number> {
  const revoked = (await tokens.revokeActiveUserApiTokens(trx, owner.id)).map(toView);
  if (revoked.length > 0)
    await recordAudit(trx, actor, {
      action: "api_token.revoked_all",
      target: ownerTarget(owner),
      details: { reason, tokensRevoked: revoked.length, tokens: revoked.map(audited) },
    });
  return revoked.length;
}

/** Why a token was refused: for the log only; every reason gets the same answer. */
export type ApiTokenRefusal = "malformed" | "unknown" | "revoked" | "expired" | "owner_missing" | "owner_disabled";

export type ApiTokenCheck = { ok: true; user: User; tokenId: number } | { ok: false; reason: ApiTokenRefusal };

/**
 * Checks a token as sent and says why it was refused. On success the owner is loaded as of now, and the token's
 * last use is recorded (at most about once a minute per token).
 */
export async function checkApiToken(db: Db, keys: SecretKeys, rawToken: unknown): Promise<ApiTokenCheck> {
  if (typeof rawToken !== "string" || !API_TOKEN_PATTERN.test(rawToken)) return { ok: false, reason: "malformed" };
  const record = await tokens.findApiTokenByHash(db, tokenHash(keys, rawToken));
  if (!record) return { ok: false, reason: "unknown" };
  if (record.revokedAt) return { ok: false, reason: "revoked" };
  if (record.expired) return { ok: false, reason: "expired" };
  const user = await users.findUserById(db, record.userId);
  if (!user) return { ok: false, reason: "owner_missing" };
  if (user.disabled) return { ok: false, reason: "owner_disabled" };
  if (record.touchDue) await tokens.touchApiToken(db, record.id);
  return { ok: true, user, tokenId: record.id };
}

/** The owner of a valid token, or undefined for a malformed, unknown, revoked or expired one, or a disabled owner. */
export async function authenticateApiToken(db: Db, keys: SecretKeys, rawToken: string): Promise<{ user: User; tokenId: number } | undefined> {
  const result = await checkApiToken(db, keys, rawToken);
  return result.ok ? { user: result.user, tokenId: result.tokenId } : undefined;
}
