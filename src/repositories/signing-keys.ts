import type { Queryable } from "../db/index.ts";
import type { SigningAlg } from "../lib/jws.ts";

export interface SigningKeyRow {
  kid: string;
  alg: SigningAlg;
  privateJwkSealed: string;
  createdAt: Date;
  /** null while the key is current. */
  retiredAt: Date | null;
}

interface RawRow {
  kid: string;
  alg: SigningAlg;
  private_jwk_sealed: string;
  created_at: Date | string;
  retired_at: Date | string | null;
}

function fromRow(row: RawRow): SigningKeyRow {
  return {
    kid: row.kid,
    alg: row.alg,
    privateJwkSealed: row.private_jwk_sealed,
    createdAt: new Date(row.created_at),
    retiredAt: row.retired_at === null ? null : new Date(row.retired_at),
  };
}

const COLUMNS = ["kid", "alg", "private_jwk_sealed", "created_at", "retired_at"];

/**
 * The keys to publish: every current key, then the retired ones retired less than `windowSeconds` ago, newest
 * first. Current keys come first because the provider signs with the first key of an algorithm.
 */
export async function selectPublishedSigningKeys(db: Queryable, windowSeconds: number): Promise<SigningKeyRow[]> {
  const rows = await db("oidc_signing_keys")
    .select(COLUMNS)
    .whereNull("retired_at")
    .orWhere("retired_at", ">", db.raw("now() - make_interval(secs => ?)", [windowSeconds]))
    .orderByRaw("retired_at IS NOT NULL, retired_at DESC, alg, created_at DESC, kid");
  return (rows as RawRow[]).map(fromRow);
}

/** Every stored key, current first, for the settings page (a retired key past its window until it is deleted). */
export async function selectAllSigningKeys(db: Queryable): Promise<SigningKeyRow[]> {
  const rows = await db("oidc_signing_keys").select(COLUMNS).orderByRaw("retired_at IS NOT NULL, retired_at DESC, alg, created_at DESC, kid");
  return (rows as RawRow[]).map(fromRow);
}

/** The current key of an algorithm, if there is one. */
export async function selectCurrentSigningKey(db: Queryable, alg: SigningAlg): Promise<SigningKeyRow | undefined> {
  const row = await db("oidc_signing_keys").select(COLUMNS).where({ alg }).whereNull("retired_at").first<RawRow | undefined>();
  return row ? fromRow(row) : undefined;
}

/**
 * Inserts `key` as the current key of its algorithm unless one is current already (the partial unique index
 * oidc_signing_keys_one_current_per_alg): true when it was inserted.
 */
export async function insertCurrentSigningKeyIfNone(db: Queryable, key: { kid: string; alg: SigningAlg; privateJwkSealed: string }): Promise<boolean> {
  const result = await db.raw(
    `INSERT INTO oidc_signing_keys (kid, alg, private_jwk_sealed) VALUES (?, ?, ?)
     ON CONFLICT (alg) WHERE retired_at IS NULL DO NOTHING RETURNING kid`,
    [key.kid, key.alg, key.privateJwkSealed],
  );
  return (result.rows as unknown[]).length > 0;
}

/**
 * Holds off other rotations and start-up inserts until the transaction ends (SHARE ROW EXCLUSIVE conflicts with
 * itself and with INSERT, not with SELECT): two rotations at once run one after the other.
 */
export async function lockSigningKeys(trx: Queryable): Promise<void> {
  await trx.raw("LOCK TABLE oidc_signing_keys IN SHARE ROW EXCLUSIVE MODE");
}

/** Marks the current keys retired now; returns them. */
export async function retireCurrentSigningKeys(trx: Queryable): Promise<SigningKeyRow[]> {
  const rows = await trx("oidc_signing_keys").whereNull("retired_at").update({ retired_at: trx.fn.now() }).returning(COLUMNS);
  return (rows as RawRow[]).map(fromRow);
}

export async function insertSigningKeys(trx: Queryable, keys: readonly { kid: string; alg: SigningAlg; privateJwkSealed: string }[]): Promise<SigningKeyRow[]> {
  const rows = await trx("oidc_signing_keys")
    .insert(keys.map((k) => ({ kid: k.kid, alg: k.alg, private_jwk_sealed: k.privateJwkSealed })))
    .returning(COLUMNS);
  return (rows as RawRow[]).map(fromRow);
}

/** Deletes the keys retired `windowSeconds` ago or longer; returns their kids. */
export async function deleteSigningKeysRetiredBefore(db: Queryable, windowSeconds: number): Promise<string[]> {
  const rows = await db("oidc_signing_keys")
    .where("retired_at", "<=", db.raw("now() - make_interval(secs => ?)", [windowSeconds]))
    .delete()
    .returning("kid");
  return (rows as { kid: string }[]).map((r) => r.kid);
}

export async function deleteSigningKeys(db: Queryable, kids: readonly string[]): Promise<number> {
  if (kids.length === 0) return 0;
  return db("oidc_signing_keys").whereIn("kid", kids).delete();
}

/**
 * The published kids in publishing order, as one string: it changes when any instance rotates and when a retired
 * key leaves its window, so a process that built something from the keys can tell that it must build it again.
 */
export async function selectPublishedSigningKids(db: Queryable, windowSeconds: number): Promise<string> {
  const result = await db.raw(
    `SELECT coalesce(string_agg(kid, ' ' ORDER BY retired_at IS NOT NULL, retired_at DESC, alg, created_at DESC, kid), '') AS kids
       FROM oidc_signing_keys
      WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => ?)`,
    [windowSeconds],
  );
  return (result.rows as { kids: string }[])[0]?.kids ?? "";
}
