import { createPrivateKey, createPublicKey, type JsonWebKey, sign, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { deriveSecretKeys } from "../../src/lib/app-secret.ts";
import { jwkThumbprint } from "../../src/lib/jws.ts";
import { openSecret } from "../../src/lib/secret-box.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import {
  ensureSigningKeys,
  listSigningKeys,
  RETIRED_KEY_PUBLISHED_SECONDS,
  replaceUnreadableSigningKeys,
  rotateSigningKeys,
  SigningKeysUnreadableError,
  type SigningJwk,
  signingJwks,
  signingKeysVersion,
  signJwt,
} from "../../src/services/signing-keys.ts";
import { TEST_APP_SECRET } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";

/**
 * The OpenID Connect provider's signing keys (services/signing-keys.ts) on a real database: made once, stored
 * sealed, published current first, rotated with the old keys kept for a day, and refused clearly under another
 * APP_SECRET.
 */

let db: Db;
useTestDb((d) => {
  db = d;
});

const keys = deriveSecretKeys(TEST_APP_SECRET);
const otherKeys = deriveSecretKeys("another-app-secret-that-is-long-enough-too");
const admin = { ...SYSTEM_ACTOR, id: null, username: "root" };

interface Row {
  kid: string;
  alg: string;
  private_jwk_sealed: string;
  retired_at: Date | null;
}

function rows(): Promise<Row[]> {
  return db("oidc_signing_keys").select("kid", "alg", "private_jwk_sealed", "retired_at").orderBy("kid");
}

/** Moves a key's retirement back by `seconds` (and its creation with it). */
async function retiredAgo(kid: string, seconds: number): Promise<void> {
  await db("oidc_signing_keys")
    .where({ kid })
    .update({
      retired_at: db.raw("now() - make_interval(secs => ?)", [seconds]),
      created_at: db.raw("now() - make_interval(secs => ?)", [seconds + 3600]),
    });
}

function publicPart(jwk: SigningJwk): JsonWebKey {
  return jwk.kty === "EC" ? { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } : { kty: jwk.kty, n: jwk.n, e: jwk.e };
}

/** Verifies a compact JWS with node:crypto alone, given the published key its header names. */
function verifyJws(token: string, published: readonly SigningJwk[]): { header: Record<string, unknown>; payload: Record<string, unknown>; valid: boolean } {
  const [h, p, s] = token.split(".") as [string, string, string];
  const header = JSON.parse(Buffer.from(h, "base64url").toString("utf8"));
  const jwk = published.find((k) => k.kid === header.kid);
  if (!jwk) return { header, payload: {}, valid: false };
  const key = createPublicKey({ key: publicPart(jwk), format: "jwk" });
  const valid = verify("sha256", Buffer.from(`${h}.${p}`), header.alg === "ES256" ? { key, dsaEncoding: "ieee-p1363" } : key, Buffer.from(s, "base64url"));
  return { header, payload: JSON.parse(Buffer.from(p, "base64url").toString("utf8")), valid };
}

describe("ensureSigningKeys", () => {
  it("makes one current ES256 key and one current RS256 key, once", async () => {
    const first = await ensureSigningKeys(db, keys);
    expect(first.created).toHaveLength(2);
    const stored = await rows();
    expect(stored.map((r) => r.alg).sort()).toEqual(["ES256", "RS256"]);
    expect(stored.every((r) => r.retired_at === null)).toBe(true);
    expect(stored.map((r) => r.kid).sort()).toEqual([...first.created].sort());
    expect((await ensureSigningKeys(db, keys)).created).toEqual([]);
    expect(await rows()).toEqual(stored);
  });

  it("started by several instances at once, makes one key per algorithm between them", async () => {
    const results = await Promise.all([ensureSigningKeys(db, keys), ensureSigningKeys(db, keys), ensureSigningKeys(db, keys)]);
    const stored = await rows();
    expect(stored.map((r) => r.alg).sort()).toEqual(["ES256", "RS256"]);
    expect(results.flatMap((r) => r.created).sort()).toEqual(stored.map((r) => r.kid).sort());
  });

  it("makes only the algorithm that has no current key", async () => {
    await ensureSigningKeys(db, keys);
    const [rsa] = await db("oidc_signing_keys").where({ alg: "RS256" }).delete().returning("kid");
    const { created } = await ensureSigningKeys(db, keys);
    expect(created).toHaveLength(1);
    expect(created[0]).not.toBe(rsa.kid);
    expect((await db("oidc_signing_keys").where({ kid: created[0] }).first()).alg).toBe("RS256");
  });

  it("stores each private key sealed under its own derived key: the column holds no JWK member in clear", async () => {
    const { keys: published } = await signingJwks(db, keys);
    for (const row of await rows()) {
      const jwk = published.find((k) => k.kid === row.kid);
      if (!jwk?.d) throw new Error(`no private JWK for ${row.kid}`);
      expect(row.private_jwk_sealed).toMatch(/^v1\./);
      expect(row.private_jwk_sealed).not.toContain(jwk.d);
      expect(row.private_jwk_sealed).not.toContain('"d"');
      expect(row.private_jwk_sealed).not.toContain(jwk.kty === "EC" ? jwk.x : jwk.n?.slice(0, 40));
      expect(JSON.parse(openSecret(keys.signingKeys, row.private_jwk_sealed)).d).toBe(jwk.d);
      // Not the key that seals the SMTP password and the authenticator secrets.
      expect(() => openSecret(keys.storage, row.private_jwk_sealed)).toThrow();
    }
  });
});

describe("signingJwks", () => {
  it("makes the keys when there are none yet, and lists private JWKs the provider can use", async () => {
    const { keys: published } = await signingJwks(db, keys);
    expect(published.map((k) => k.alg)).toEqual(["ES256", "RS256"]);
    const [ec, rsa] = published as [SigningJwk, SigningJwk];
    expect(ec).toMatchObject({ kty: "EC", crv: "P-256", use: "sig", alg: "ES256" });
    expect(rsa).toMatchObject({ kty: "RSA", e: "AQAB", use: "sig", alg: "RS256" });
    expect(Buffer.from(rsa.n as string, "base64url").length * 8).toBe(2048);
    for (const jwk of published) {
      expect(jwk.kid).toBe(jwkThumbprint(jwk));
      expect(jwk.d).toBeTruthy();
    }
  });

  it("lists the current keys first, then the retired ones still published, newest first", async () => {
    const first = (await signingJwks(db, keys)).keys.map((k) => k.kid);
    await rotateSigningKeys(db, keys, admin);
    const second = (await signingJwks(db, keys)).keys.map((k) => k.kid);
    await rotateSigningKeys(db, keys, admin);
    const { keys: third } = await signingJwks(db, keys);
    const current = (await db("oidc_signing_keys").whereNull("retired_at").orderBy("alg").select("kid")).map((r) => r.kid);
    expect(third.map((k) => k.kid)).toEqual([...current, ...second.slice(0, 2), ...first]);
    expect(third.map((k) => k.alg)).toEqual(["ES256", "RS256", "ES256", "RS256", "ES256", "RS256"]);
  });

  it("each key signs, and its public part, as published, verifies (node:crypto)", async () => {
    const { keys: published } = await signingJwks(db, keys);
    const data = Buffer.from("header.payload");
    for (const jwk of published) {
      const privateKey = createPrivateKey({ key: jwk, format: "jwk" });
      const publicKey = createPublicKey({ key: publicPart(jwk), format: "jwk" });
      const options = jwk.alg === "ES256" ? { dsaEncoding: "ieee-p1363" as const } : {};
      const signature = sign("sha256", data, { key: privateKey, ...options });
      expect(verify("sha256", data, { key: publicKey, ...options }, signature), jwk.alg).toBe(true);
      expect(verify("sha256", Buffer.from("header.other"), { key: publicKey, ...options }, signature)).toBe(false);
    }
  });
});

describe("signJwt", () => {
  it("signs with the current ES256 key (its kid in the header); after a rotation the token still verifies against the published keys", async () => {
    const token = await signJwt(db, keys, { sub: "alice", exp: 1_900_000_000 });
    const before = (await signingJwks(db, keys)).keys;
    const checked = verifyJws(token, before);
    expect(checked).toMatchObject({ header: { alg: "ES256", typ: "JWT", kid: before[0]?.kid }, payload: { sub: "alice" }, valid: true });

    await rotateSigningKeys(db, keys, admin);
    const after = (await signingJwks(db, keys)).keys;
    expect(after[0]?.kid).not.toBe(before[0]?.kid);
    expect(verifyJws(token, after).valid).toBe(true);
    expect(verifyJws(await signJwt(db, keys, { sub: "bob" }), after).header.kid).toBe(after[0]?.kid);
    expect(verifyJws(await signJwt(db, keys, { sub: "bob" }, "RS256"), after)).toMatchObject({ header: { alg: "RS256", kid: after[1]?.kid }, valid: true });
  });
});

describe("rotateSigningKeys", () => {
  it("makes new current keys, retires the old ones (published 24 hours more) and audits signing_keys.rotated", async () => {
    await ensureSigningKeys(db, keys);
    const old = await rows();
    const result = await rotateSigningKeys(db, keys, admin);
    expect(result.retired.map((k) => k.kid).sort()).toEqual(old.map((r) => r.kid).sort());
    expect(result.created.map((k) => k.alg)).toEqual(["ES256", "RS256"]);
    expect(RETIRED_KEY_PUBLISHED_SECONDS).toBe(24 * 3600);
    const hoursAhead = (result.retiredPublishedUntil.getTime() - Date.now()) / 3_600_000;
    expect(hoursAhead).toBeGreaterThan(23.9);
    expect(hoursAhead).toBeLessThanOrEqual(24);

    const after = await rows();
    expect(after).toHaveLength(4);
    for (const row of after) expect(row.retired_at === null).toBe(result.created.some((k) => k.kid === row.kid));

    const [event] = await listAuditEvents(db, { action: "signing_keys.rotated" });
    expect(event).toMatchObject({ actorUsername: "root", targetType: "settings", targetId: "signing-keys", targetLabel: "Signing keys" });
    expect(event?.details).toEqual({
      created: result.created,
      retired: result.retired,
      retiredPublishedUntil: result.retiredPublishedUntil.toISOString(),
    });
    expect(JSON.stringify(event)).not.toContain("v1.");
  });

  it("is refused to anyone but an administrator", async () => {
    await expect(rotateSigningKeys(db, keys, { ...admin, isAdmin: false })).rejects.toThrow("Only administrators can do that.");
    expect(await rows()).toEqual([]);
  });

  it("two rotations at once run one after the other: two current keys in the end, four retired", async () => {
    await ensureSigningKeys(db, keys);
    await Promise.all([rotateSigningKeys(db, keys, admin), rotateSigningKeys(db, keys, admin)]);
    const stored = await rows();
    expect(stored).toHaveLength(6);
    expect(stored.filter((r) => r.retired_at === null).map((r) => r.alg).sort()).toEqual(["ES256", "RS256"]);
  });
});

describe("the verification window", () => {
  it("a key retired 23 hours ago is published; one retired 24 hours ago is not, and is deleted at start-up and at the next rotation", async () => {
    await ensureSigningKeys(db, keys);
    const first = await rotateSigningKeys(db, keys, admin);
    const second = await rotateSigningKeys(db, keys, admin);
    const [oldEc, oldRsa] = first.retired.map((k) => k.kid) as [string, string];
    await retiredAgo(oldEc, 23 * 3600);
    await retiredAgo(oldRsa, RETIRED_KEY_PUBLISHED_SECONDS + 1);
    const versionBefore = await signingKeysVersion(db);

    const published = (await signingJwks(db, keys)).keys.map((k) => k.kid);
    expect(published).toContain(oldEc);
    expect(published).not.toContain(oldRsa);
    expect(published.slice(0, 4)).toEqual([...second.created.map((k) => k.kid), ...second.retired.map((k) => k.kid)]);
    expect(versionBefore).toBe(published.join(" "));
    const listed = await listSigningKeys(db, keys, admin);
    expect(listed.find((k) => k.kid === oldEc)?.status).toBe("retired");
    expect(listed.find((k) => k.kid === oldRsa)?.status).toBe("unpublished");
    expect(listed.slice(0, 2).map((k) => k.status)).toEqual(["current", "current"]);

    // At start-up:
    await ensureSigningKeys(db, keys);
    expect((await rows()).map((r) => r.kid)).not.toContain(oldRsa);
    expect((await rows()).map((r) => r.kid)).toContain(oldEc);

    // At a rotation:
    await retiredAgo(oldEc, RETIRED_KEY_PUBLISHED_SECONDS);
    const third = await rotateSigningKeys(db, keys, admin);
    expect((await rows()).map((r) => r.kid)).not.toContain(oldEc);
    const [event] = await listAuditEvents(db, { action: "signing_keys.rotated" });
    expect(event?.details).toMatchObject({ retired: third.retired, deleted: [oldEc] });
  });

  it("signingKeysVersion changes when any instance rotates, and only then", async () => {
    await ensureSigningKeys(db, keys);
    const before = await signingKeysVersion(db);
    expect(before.split(" ")).toHaveLength(2);
    await ensureSigningKeys(db, keys);
    expect(await signingKeysVersion(db)).toBe(before);
    await rotateSigningKeys(db, keys, admin);
    const after = await signingKeysVersion(db);
    expect(after).not.toBe(before);
    expect(after.split(" ").slice(2)).toEqual(before.split(" "));
  });
});

describe("another APP_SECRET, or altered keys", () => {
  it("start-up, the JWKS, signing and rotation all stop with an error that names APP_SECRET and the way out", async () => {
    await ensureSigningKeys(db, keys);
    const kids = (await rows()).map((r) => r.kid);
    const failure = await ensureSigningKeys(db, otherKeys).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(failure).toBeInstanceOf(SigningKeysUnreadableError);
    expect(failure?.message).toContain("cannot be decrypted with this APP_SECRET");
    expect(failure?.message).toContain("it differs from the APP_SECRET that sealed them");
    expect(failure?.message).toContain("Start Gatehouse with the APP_SECRET they were sealed with");
    expect(failure?.message).toContain("npm run rotate-keys -- --replace-unreadable");
    for (const kid of kids) expect(failure?.message).toContain(kid);
    await expect(signingJwks(db, otherKeys)).rejects.toBeInstanceOf(SigningKeysUnreadableError);
    await expect(signJwt(db, otherKeys, { sub: "x" })).rejects.toBeInstanceOf(SigningKeysUnreadableError);
    await expect(rotateSigningKeys(db, otherKeys, admin)).rejects.toBeInstanceOf(SigningKeysUnreadableError);
    // Nothing was made or changed by the refusals.
    expect((await rows()).map((r) => [r.kid, r.retired_at])).toEqual(kids.map((kid) => [kid, null]));
  });

  it("a retired key that does not open stops the start too: it would still be published", async () => {
    await ensureSigningKeys(db, keys);
    const { retired } = await rotateSigningKeys(db, keys, admin);
    const tampered = retired[0]?.kid as string;
    const row = await db("oidc_signing_keys").where({ kid: tampered }).first();
    const sealed = row.private_jwk_sealed as string;
    const flipped = `${sealed.slice(0, -2)}${sealed.endsWith("A") ? "B" : "A"}${sealed.slice(-1)}`;
    await db("oidc_signing_keys").where({ kid: tampered }).update({ private_jwk_sealed: flipped });
    const failure = await ensureSigningKeys(db, keys).catch((error: Error) => error);
    expect(failure).toBeInstanceOf(SigningKeysUnreadableError);
    expect((failure as SigningKeysUnreadableError).kids).toEqual([tampered]);
    expect((failure as Error).message).toContain("or the stored keys were altered");
  });

  it("replaceUnreadableSigningKeys deletes the keys this secret cannot open, makes new ones, and audits it", async () => {
    await ensureSigningKeys(db, keys);
    await rotateSigningKeys(db, keys, admin);
    const old = (await rows()).map((r) => r.kid).sort();
    const { deleted, created } = await replaceUnreadableSigningKeys(db, otherKeys, admin);
    expect(deleted.sort()).toEqual(old);
    expect(created).toHaveLength(2);
    expect((await rows()).map((r) => r.kid).sort()).toEqual([...created].sort());
    expect((await signingJwks(db, otherKeys)).keys.map((k) => k.kid).sort()).toEqual([...created].sort());
    const [event] = await listAuditEvents(db, { action: "signing_keys.unreadable_deleted" });
    expect(event?.details).toEqual({ deleted: expect.arrayContaining(old) });
    // With every key readable it changes nothing.
    expect(await replaceUnreadableSigningKeys(db, otherKeys, admin)).toEqual({ deleted: [], created: [] });
  });
});
