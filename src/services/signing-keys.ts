import { createPrivateKey, generateKeyPair, type JsonWebKey, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import type { Db, Queryable } from "../db/index.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import { jwkThumbprint, type SigningAlg, signCompactJws } from "../lib/jws.ts";
import { openSecret, sealSecret } from "../lib/secret-box.ts";
import { assertCan as assertCanOnSettings } from "../policies/settings.ts";
import * as repo from "../repositories/signing-keys.ts";
import type { Actor } from "../types/user.ts";
import { recordAudit } from "./audit.ts";

/**
 * The OpenID Connect provider's signing keys: one current key per algorithm, made at first start; ES256 first,
 * RS256 for clients that know nothing else. The private JWK is stored sealed (AES-256-GCM, lib/secret-box.ts) under
 * a key derived from APP_SECRET for this purpose alone (lib/app-secret.ts); the kid is the key's RFC 7638
 * thumbprint, so a kid always names the same key.
 *
 * The functions below keep nothing in memory: every call reads the table, so a rotation on one instance is in force
 * on all of them at their next call. What a process builds from the keys (the provider's configuration, the gate's
 * signing key) it holds in a `BuiltFromSigningKeys`, which asks `signingKeysVersion` when to build it again.
 */

export const SIGNING_ALGS: readonly SigningAlg[] = ["ES256", "RS256"];

/**
 * How long a retired key stays published for verification. It must outlast everything signed with it: ID tokens
 * (the provider's default lifetime is one hour), the gate's 60-second assertions, and a client's cached copy of the
 * JWKS. A day covers these with room to spare; a provider configured for longer-lived signed tokens needs more.
 */
export const RETIRED_KEY_PUBLISHED_SECONDS = 24 * 3600;

/** What the provider's `jwks` option takes: private JWKs, each naming its kid, algorithm and use. */
export interface SigningJwk extends JsonWebKey {
  kid: string;
  alg: SigningAlg;
  use: "sig";
}

/** The keys could not be opened: APP_SECRET is not the one that sealed them, or the rows were altered. */
export class SigningKeysUnreadableError extends Error {
  constructor(readonly kids: readonly string[]) {
    super(
      `The OpenID Connect signing keys stored in the database (${kids.join(", ")}) cannot be decrypted with this APP_SECRET: ` +
        "it differs from the APP_SECRET that sealed them (or the stored keys were altered). " +
        "Start Gatehouse with the APP_SECRET they were sealed with (every instance must share one). " +
        "If that secret is lost, run `npm run rotate-keys -- --replace-unreadable` to delete the unreadable keys and make new ones; " +
        "tokens signed with the old keys then stop verifying and their clients must sign in again.",
    );
    this.name = "SigningKeysUnreadableError";
  }
}

const generateKeyPairAsync = promisify(generateKeyPair);

interface NewKey {
  kid: string;
  alg: SigningAlg;
  privateJwkSealed: string;
}

/** A fresh key pair, sealed; generated off the main thread (RSA takes a noticeable fraction of a second). */
async function newSigningKey(keys: SecretKeys, alg: SigningAlg): Promise<NewKey> {
  const { privateKey } =
    alg === "ES256" ? await generateKeyPairAsync("ec", { namedCurve: "P-256" }) : await generateKeyPairAsync("rsa", { modulusLength: 2048 });
  const jwk = privateKey.export({ format: "jwk" });
  return { kid: jwkThumbprint(jwk), alg, privateJwkSealed: sealSecret(keys.signingKeys, JSON.stringify(jwk)) };
}

/** Opens every row or none: the error names all the keys this APP_SECRET cannot open. */
function openAll(keys: SecretKeys, rows: readonly repo.SigningKeyRow[]): SigningJwk[] {
  const unreadable: string[] = [];
  const opened: SigningJwk[] = [];
  for (const row of rows) {
    try {
      const jwk = JSON.parse(openSecret(keys.signingKeys, row.privateJwkSealed)) as JsonWebKey;
      opened.push({ ...jwk, kid: row.kid, alg: row.alg, use: "sig" });
    } catch {
      unreadable.push(row.kid);
    }
  }
  if (unreadable.length > 0) throw new SigningKeysUnreadableError(unreadable);
  return opened;
}

/**
 * At start-up (and lazily before the keys are used): deletes retired keys past their window, checks that this
 * APP_SECRET opens every published key (SigningKeysUnreadableError otherwise), and makes a current key for each
 * algorithm that has none. Two instances starting at once make one key per algorithm between them: the loser's
 * insert does nothing. Returns the kids it made.
 */
export async function ensureSigningKeys(db: Db, keys: SecretKeys): Promise<{ created: string[] }> {
  await repo.deleteSigningKeysRetiredBefore(db, RETIRED_KEY_PUBLISHED_SECONDS);
  const published = await repo.selectPublishedSigningKeys(db, RETIRED_KEY_PUBLISHED_SECONDS);
  openAll(keys, published);
  const missing = SIGNING_ALGS.filter((alg) => !published.some((row) => row.alg === alg && row.retiredAt === null));
  const created: string[] = [];
  for (const key of await Promise.all(missing.map((alg) => newSigningKey(keys, alg)))) {
    if (await repo.insertCurrentSigningKeyIfNone(db, key)) created.push(key.kid);
  }
  return { created };
}

/** The published rows, after making the current keys if there are none yet (a test's app, say, that never started). */
async function publishedRows(db: Db, keys: SecretKeys): Promise<repo.SigningKeyRow[]> {
  const rows = await repo.selectPublishedSigningKeys(db, RETIRED_KEY_PUBLISHED_SECONDS);
  if (SIGNING_ALGS.every((alg) => rows.some((row) => row.alg === alg && row.retiredAt === null))) return rows;
  await ensureSigningKeys(db, keys);
  return repo.selectPublishedSigningKeys(db, RETIRED_KEY_PUBLISHED_SECONDS);
}

/**
 * The private JWKs for the provider's `jwks` option: the current keys first (it signs with the first key of an
 * algorithm), then the retired keys still inside their window, newest first, so that what they signed verifies.
 */
export async function signingJwks(db: Db, keys: SecretKeys): Promise<{ keys: SigningJwk[] }> {
  return { keys: openAll(keys, await publishedRows(db, keys)) };
}

/**
 * Changes whenever the published keys change: a rotation on any instance, a retired key leaving its window. Cheap
 * (one short query, nothing decrypted): compare it with the value the provider was built with, and rebuild on a
 * difference.
 */
export function signingKeysVersion(db: Queryable): Promise<string> {
  return repo.selectPublishedSigningKids(db, RETIRED_KEY_PUBLISHED_SECONDS);
}

/** How often a process asks whether the signing keys changed (a rotation on another instance): at most this stale. */
export const SIGNING_KEYS_CHECK_MS = 30_000;

/**
 * Something a process builds from the signing keys (the provider's configuration, the gate's signing key), built
 * on first use and again when they change on any instance: `signingKeysVersion` is asked at most every
 * SIGNING_KEYS_CHECK_MS, and `build` runs only when the version differs. Callers that arrive during a check share it.
 * Until the next check, a rotation made elsewhere is not seen; what is built meanwhile uses the previous keys, which
 * stay published (RETIRED_KEY_PUBLISHED_SECONDS), so it still verifies.
 */
export class BuiltFromSigningKeys<T> {
  private current: { version: string; value: T } | undefined;
  private checking: Promise<void> | undefined;
  private checkedAt = 0;

  constructor(
    private readonly db: Db,
    private readonly build: () => T | Promise<T>,
  ) {}

  async get(): Promise<T> {
    if (this.current && Date.now() - this.checkedAt < SIGNING_KEYS_CHECK_MS) return this.current.value;
    this.checking ??= this.refresh().finally(() => {
      this.checking = undefined;
    });
    await this.checking;
    if (!this.current) throw new Error("nothing could be built from the signing keys");
    return this.current.value;
  }

  private async refresh(): Promise<void> {
    const version = await signingKeysVersion(this.db);
    this.checkedAt = Date.now();
    if (this.current?.version === version) return;
    this.current = { version, value: await this.build() };
  }
}

export interface CurrentSigningKey {
  kid: string;
  alg: SigningAlg;
  privateKey: KeyObject;
}

/** The key new signatures of `alg` are made with. */
export async function currentSigningKey(db: Db, keys: SecretKeys, alg: SigningAlg = "ES256"): Promise<CurrentSigningKey> {
  let row = await repo.selectCurrentSigningKey(db, alg);
  if (!row) {
    await ensureSigningKeys(db, keys);
    row = await repo.selectCurrentSigningKey(db, alg);
    if (!row) throw new Error(`No current ${alg} signing key after making one.`);
  }
  const [jwk] = openAll(keys, [row]);
  return { kid: row.kid, alg, privateKey: createPrivateKey({ key: jwk as JsonWebKey, format: "jwk" }) };
}

/**
 * A JWT of `claims` signed with the current key of `alg` (ES256 unless said), its kid in the header: what the gate's
 * short assertions are made with. The caller sets iss, aud, iat and exp.
 */
export async function signJwt(db: Db, keys: SecretKeys, claims: Record<string, unknown>, alg: SigningAlg = "ES256"): Promise<string> {
  const key = await currentSigningKey(db, keys, alg);
  return signCompactJws(key.privateKey, { alg: key.alg, kid: key.kid, typ: "JWT" }, claims);
}

export interface RotationResult {
  created: { kid: string; alg: SigningAlg }[];
  retired: { kid: string; alg: SigningAlg }[];
  /** Until when the keys retired now stay published. */
  retiredPublishedUntil: Date;
}

function publishedUntil(retiredAt: Date): Date {
  return new Date(retiredAt.getTime() + RETIRED_KEY_PUBLISHED_SECONDS * 1000);
}

/**
 * New current keys for every algorithm. The previous ones are retired now and stay published for
 * RETIRED_KEY_PUBLISHED_SECONDS, so tokens they signed keep verifying until they expire; keys retired longer ago
 * are deleted. Refused with SigningKeysUnreadableError while a published key does not open. Two rotations at once run one after the other (the table lock), each retiring what the other made.
 */
export async function rotateSigningKeys(db: Db, keys: SecretKeys, actor: Actor): Promise<RotationResult> {
  assertCanOnSettings(actor, "change");
  // Retired keys this APP_SECRET cannot open would stay published, and break the provider, for a day.
  openAll(keys, await repo.selectPublishedSigningKeys(db, RETIRED_KEY_PUBLISHED_SECONDS));
  // Generated before the transaction, so that the lock is held for a few statements only.
  const fresh = await Promise.all(SIGNING_ALGS.map((alg) => newSigningKey(keys, alg)));
  return db.transaction(async (trx) => {
    await repo.lockSigningKeys(trx);
    const retired = await repo.retireCurrentSigningKeys(trx);
    const created = await repo.insertSigningKeys(trx, fresh);
    const deleted = await repo.deleteSigningKeysRetiredBefore(trx, RETIRED_KEY_PUBLISHED_SECONDS);
    // All rows of one statement share the transaction's time; without an earlier key, the new keys' time.
    const retiredAt = retired[0]?.retiredAt ?? created[0]?.createdAt ?? new Date();
    const until = publishedUntil(retiredAt);
    const brief = (rows: readonly repo.SigningKeyRow[]) => rows.map((r) => ({ kid: r.kid, alg: r.alg }));
    await recordAudit(trx, actor, {
      action: "signing_keys.rotated",
      target: { type: "settings", id: "signing-keys", label: "Signing keys" },
      details: {
        created: brief(created),
        retired: brief(retired),
        retiredPublishedUntil: until.toISOString(),
        ...(deleted.length > 0 ? { deleted } : {}),
      },
    });
    return { created: brief(created), retired: brief(retired), retiredPublishedUntil: until };
  });
}

/**
 * Deletes the published keys this APP_SECRET cannot open (after a lost secret) and makes new current keys where
 * needed. Tokens the deleted keys signed no longer verify. Returns what it deleted and made.
 */
export async function replaceUnreadableSigningKeys(db: Db, keys: SecretKeys, actor: Actor): Promise<{ deleted: string[]; created: string[] }> {
  assertCanOnSettings(actor, "change");
  const unreadable: string[] = [];
  for (const row of await repo.selectAllSigningKeys(db)) {
    try {
      openAll(keys, [row]);
    } catch {
      unreadable.push(row.kid);
    }
  }
  if (unreadable.length > 0) {
    await db.transaction(async (trx) => {
      await repo.lockSigningKeys(trx);
      await repo.deleteSigningKeys(trx, unreadable);
      await recordAudit(trx, actor, {
        action: "signing_keys.unreadable_deleted",
        target: { type: "settings", id: "signing-keys", label: "Signing keys" },
        details: { deleted: unreadable },
      });
    });
  }
  const { created } = await ensureSigningKeys(db, keys);
  return { deleted: unreadable, created };
}

export interface SigningKeyView {
  kid: string;
  alg: SigningAlg;
  createdAt: Date;
  retiredAt: Date | null;
  /** For a retired key: until when it is published (in the past once it no longer is, until it is deleted). */
  publishedUntil: Date | null;
  status: "current" | "retired" | "unpublished";
}

/** Every stored key for the settings page, current first; makes the current keys if there are none yet. */
export async function listSigningKeys(db: Db, keys: SecretKeys, actor: Actor): Promise<SigningKeyView[]> {
  assertCanOnSettings(actor, "read");
  await publishedRows(db, keys);
  const now = Date.now();
  return (await repo.selectAllSigningKeys(db)).map((row) => {
    const until = row.retiredAt ? publishedUntil(row.retiredAt) : null;
    return {
      kid: row.kid,
      alg: row.alg,
      createdAt: row.createdAt,
      retiredAt: row.retiredAt,
      publishedUntil: until,
      status: until === null ? "current" : until.getTime() > now ? "retired" : "unpublished",
    };
  });
}
