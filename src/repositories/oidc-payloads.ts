import type { Queryable } from "../db/index.ts";

/**
 * The OpenID Connect provider's stored objects (migrations/20261203160000_create_oidc_payloads.ts), one table for
 * all its models. Every time is the database's (`now()`), never a process's clock, so that instances agree on what
 * has expired. An expired row is never read, whether or not the cleanup has deleted it yet.
 */

export type OidcPayloadJson = Record<string, unknown>;

export interface OidcPayloadWrite {
  model: string;
  id: string;
  /** Stored as its JSON text. */
  payload: object;
  /** Seconds from now; undefined: the object does not expire. */
  expiresIn: number | undefined;
  grantId: string | null;
  userCode: string | null;
  uid: string | null;
  accountId: string | null;
  clientId: string | null;
  /** When it was used, in seconds since the epoch; null while unused. */
  consumedAt: number | null;
  /** For a provider session: the console session (sessions.sid) it was saved under, whose end ends it. */
  consoleSessionId: string | null;
}

export interface StoredOidcPayload {
  payload: OidcPayloadJson;
  /** When it was used, in whole seconds since the epoch; null while unused. */
  consumedAt: number | null;
}

const LIVE = "(expires_at IS NULL OR expires_at > now())";

/** Writes an object in one statement, replacing what was stored under its model and id. */
export async function upsertOidcPayload(db: Queryable, row: OidcPayloadWrite): Promise<void> {
  await db.raw(
    `INSERT INTO oidc_payloads AS p (model, id, payload, grant_id, user_code, uid, account_id, client_id, expires_at, consumed_at, console_session_id)
     VALUES (?, ?, CAST(? AS json), ?, ?, ?, ?, ?,
             now() + CAST(? AS float8) * interval '1 second', to_timestamp(CAST(? AS float8)), ?)
     ON CONFLICT (model, id) DO UPDATE SET
       payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid,
       account_id = excluded.account_id, client_id = excluded.client_id, expires_at = excluded.expires_at,
       consumed_at = excluded.consumed_at, console_session_id = excluded.console_session_id`,
    [
      row.model,
      row.id,
      JSON.stringify(row.payload),
      row.grantId,
      row.userCode,
      row.uid,
      row.accountId,
      row.clientId,
      row.expiresIn ?? null,
      row.consumedAt,
      row.consoleSessionId,
    ],
  );
}

async function selectLive(db: Queryable, model: string, column: "id" | "uid" | "user_code", value: string): Promise<StoredOidcPayload | undefined> {
  const result = await db.raw(
    `SELECT payload, floor(extract(epoch FROM consumed_at)) AS consumed_at
       FROM oidc_payloads
      WHERE model = ? AND ${column} = ? AND ${LIVE}
      LIMIT 1`,
    [model, value],
  );
  const row = (result.rows as { payload: OidcPayloadJson | string; consumed_at: string | number | null }[])[0];
  if (!row) return undefined;
  return {
    payload: typeof row.payload === "string" ? (JSON.parse(row.payload) as OidcPayloadJson) : row.payload,
    consumedAt: row.consumed_at === null ? null : Number(row.consumed_at),
  };
}

export function selectOidcPayload(db: Queryable, model: string, id: string): Promise<StoredOidcPayload | undefined> {
  return selectLive(db, model, "id", id);
}

export function selectOidcPayloadByUid(db: Queryable, model: string, uid: string): Promise<StoredOidcPayload | undefined> {
  return selectLive(db, model, "uid", uid);
}

export function selectOidcPayloadByUserCode(db: Queryable, model: string, userCode: string): Promise<StoredOidcPayload | undefined> {
  return selectLive(db, model, "user_code", userCode);
}

/**
 * Marks an unexpired object used, once: a second use keeps the first time. False when there was nothing to mark
 * (missing, expired, or used already).
 */
export async function consumeOidcPayload(db: Queryable, model: string, id: string): Promise<boolean> {
  const result = await db.raw(
    `UPDATE oidc_payloads SET consumed_at = now()
      WHERE model = ? AND id = ? AND consumed_at IS NULL AND ${LIVE}
      RETURNING 1 AS consumed`,
    [model, id],
  );
  return result.rows.length > 0;
}

export async function deleteOidcPayload(db: Queryable, model: string, id: string): Promise<void> {
  await db("oidc_payloads").where({ model, id }).delete();
}

/** Deletes the objects of `models` issued under one grant; how many went. */
export async function deleteOidcPayloadsOfGrant(db: Queryable, grantId: string, models: readonly string[]): Promise<number> {
  // Counted from RETURNING: knex's own count of deleted rows is not a number on PGlite.
  return (await db("oidc_payloads").where({ grant_id: grantId }).whereIn("model", models).delete().returning("id")).length;
}

/**
 * Ends everything the provider keeps for one account: its sessions, grants, codes and tokens (every object that
 * names the account). For signing out everywhere, disabling and deleting an account. `accountId` is the provider's
 * account id; a number is Gatehouse's user id, which the provider knows by its decimal string.
 */
export async function revokeOidcPayloadsOfAccount(db: Queryable, accountId: string | number): Promise<number> {
  return (await db("oidc_payloads").where({ account_id: String(accountId) }).delete().returning("id")).length;
}

/** Ends everything the provider keeps for one client: its grants, codes and tokens. For disabling a system's sign-in. */
export async function revokeOidcPayloadsOfClient(db: Queryable, clientId: string): Promise<number> {
  return (await db("oidc_payloads").where({ client_id: clientId }).delete().returning("id")).length;
}

/** Rows deleted per statement: each batch is a short transaction of its own. */
const EXPIRED_BATCH_SIZE = 1_000;

/**
 * Deletes expired objects, a batch at a time, until none is left (or `shouldContinue` says stop, between batches);
 * how many went. Several instances may run it at once: each batch skips the rows another has locked.
 */
export async function deleteExpiredOidcPayloads(
  db: Queryable,
  options: { batchSize?: number; shouldContinue?: () => boolean } = {},
): Promise<number> {
  const batchSize = options.batchSize ?? EXPIRED_BATCH_SIZE;
  let deleted = 0;
  for (;;) {
    const result = await db.raw(
      `DELETE FROM oidc_payloads
        WHERE (model, id) IN (
          SELECT model, id FROM oidc_payloads WHERE expires_at <= now() LIMIT ? FOR UPDATE SKIP LOCKED)
        RETURNING 1`,
      [batchSize],
    );
    const count = result.rows.length;
    deleted += count;
    if (count < batchSize) return deleted;
    if (options.shouldContinue && !options.shouldContinue()) return deleted;
  }
}
