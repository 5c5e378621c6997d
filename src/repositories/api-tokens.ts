import type { Queryable } from "../db/index.ts";

/**
 * Personal API tokens (table api_tokens). Only a keyed hash of each token is stored, with the first 8 characters
 * of its secret part for display. "Expired" is judged by the database's clock (`now()`), the same clock that
 * wrote `expires_at`, so a list and an authentication never disagree about it.
 */

export interface ApiTokenRecord {
  id: number;
  userId: number;
  name: string;
  /** The first 8 characters of the token's secret part (after "gh_"). */
  prefix: string;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  /** expires_at has passed (by the database's clock). */
  expired: boolean;
}

interface ApiTokenRow {
  id: string | number;
  user_id: string | number;
  name: string;
  prefix: string;
  created_at: Date | string;
  expires_at: Date | string | null;
  last_used_at: Date | string | null;
  revoked_at: Date | string | null;
  expired: boolean;
}

const COLUMNS = ["id", "user_id", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"] as const;
const EXPIRED = "(expires_at IS NOT NULL AND expires_at <= now()) AS expired";
/** Active: neither revoked nor expired. */
const ACTIVE = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())";
/** last_used_at is written at most once a minute per token, not on every request. */
const TOUCH_DUE = "(last_used_at IS NULL OR last_used_at < now() - interval '1 minute')";

function toDate(value: Date | string): Date;
function toDate(value: Date | string | null): Date | null;
function toDate(value: Date | string | null): Date | null {
  if (value === null) return null;
  return value instanceof Date ? value : new Date(value);
}

function toRecord(row: ApiTokenRow): ApiTokenRecord {
  return {
    id: Number(row.id),
    userId: Number(row.user_id),
    name: row.name,
    prefix: row.prefix,
    createdAt: toDate(row.created_at),
    expiresAt: toDate(row.expires_at),
    lastUsedAt: toDate(row.last_used_at),
    revokedAt: toDate(row.revoked_at),
    expired: Boolean(row.expired),
  };
}

/** What an insert or update hands back: the columns, and `expired` by the same clock. */
function returned(db: Queryable): string[] {
  // knex passes a raw expression in RETURNING through as written; its types admit only column names.
  return [...COLUMNS, db.raw(EXPIRED) as unknown as string];
}

function selectTokens(db: Queryable) {
  return db("api_tokens").select(...COLUMNS, db.raw(EXPIRED));
}

export interface NewApiToken {
  userId: number;
  name: string;
  tokenHash: string;
  prefix: string;
  /** null: the token never expires. */
  expiresInDays: number | null;
}

export async function insertApiToken(db: Queryable, token: NewApiToken): Promise<ApiTokenRecord> {
  const rows = await db("api_tokens")
    .insert({
      user_id: token.userId,
      name: token.name,
      token_hash: token.tokenHash,
      prefix: token.prefix,
      expires_at: token.expiresInDays === null ? null : db.raw("now() + make_interval(days => ?)", [token.expiresInDays]),
    })
    .returning<ApiTokenRow[]>(returned(db));
  return toRecord(rows[0] as ApiTokenRow);
}

/** The account's tokens, newest first, whatever their state. */
export async function listUserApiTokens(db: Queryable, userId: number): Promise<ApiTokenRecord[]> {
  const rows = await selectTokens(db)
    .where({ user_id: userId })
    .orderBy([
      { column: "created_at", order: "desc" },
      { column: "id", order: "desc" },
    ]);
  return (rows as ApiTokenRow[]).map(toRecord);
}

/** Whether the account has an active token of this name (without regard to case). */
export async function hasActiveTokenNamed(db: Queryable, userId: number, name: string): Promise<boolean> {
  const row = await db("api_tokens").select("id").where({ user_id: userId }).andWhereRaw(ACTIVE).andWhereRaw("lower(name) = lower(?)", [name]).first();
  return row !== undefined;
}

export async function countActiveUserApiTokens(db: Queryable, userId: number): Promise<number> {
  const row = await db("api_tokens").where({ user_id: userId }).andWhereRaw(ACTIVE).count<{ count: string }[]>("* as count").first();
  return Number(row?.count ?? 0);
}

export async function findUserApiToken(db: Queryable, userId: number, id: number): Promise<ApiTokenRecord | undefined> {
  const row = await selectTokens(db).where({ user_id: userId, id }).first<ApiTokenRow | undefined>();
  return row ? toRecord(row) : undefined;
}

/** The token with this hash, and whether its last use is old enough to be written again. */
export async function findApiTokenByHash(db: Queryable, tokenHash: string): Promise<(ApiTokenRecord & { touchDue: boolean }) | undefined> {
  const row = await selectTokens(db)
    .select(db.raw(`${TOUCH_DUE} AS touch_due`))
    .where({ token_hash: tokenHash })
    .first<(ApiTokenRow & { touch_due: boolean }) | undefined>();
  return row ? { ...toRecord(row), touchDue: Boolean(row.touch_due) } : undefined;
}

/** Records a use, unless one was recorded less than a minute ago (by this or a concurrent request). */
export async function touchApiToken(db: Queryable, id: number): Promise<void> {
  await db("api_tokens").where({ id }).andWhereRaw(TOUCH_DUE).update({ last_used_at: db.fn.now() });
}

/** Revokes one of the account's tokens; undefined when it is not the account's or was already revoked. */
export async function revokeUserApiToken(db: Queryable, userId: number, id: number): Promise<ApiTokenRecord | undefined> {
  const rows = await db("api_tokens")
    .where({ user_id: userId, id })
    .whereNull("revoked_at")
    .update({ revoked_at: db.fn.now() })
    .returning<ApiTokenRow[]>(returned(db));
  return rows[0] ? toRecord(rows[0]) : undefined;
}

/** Revokes every active token of the account; returns those it revoked. */
export async function revokeActiveUserApiTokens(db: Queryable, userId: number): Promise<ApiTokenRecord[]> {
  const rows = await db("api_tokens")
    .where({ user_id: userId })
    .andWhereRaw(ACTIVE)
    .update({ revoked_at: db.fn.now() })
    .returning<ApiTokenRow[]>(returned(db));
  return rows.map(toRecord);
}

/**
 * Locks the owner's row for the rest of the transaction, so that two tokens created at once are counted one
 * after the other against the cap. False when the account does not exist.
 */
export async function lockTokenOwner(trx: Queryable, userId: number): Promise<boolean> {
  const row = await trx("users").select("id").where({ id: userId }).forUpdate().first();
  return row !== undefined;
}
