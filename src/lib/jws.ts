import { createHash, type JsonWebKey, type KeyObject, sign } from "node:crypto";

/** The signature algorithms Gatehouse signs with: ES256 first, RS256 for clients that know nothing else. */
export type SigningAlg = "ES256" | "RS256";

/**
 * The RFC 7638 thumbprint of a key (SHA-256, base64url): only the required public members, in lexical order, so
 * the private and the public form of one key give the same value, and two keys never share one.
 */
export function jwkThumbprint(jwk: JsonWebKey): string {
  let members: Record<string, unknown>;
  if (jwk.kty === "EC") members = { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  else if (jwk.kty === "RSA") members = { e: jwk.e, kty: jwk.kty, n: jwk.n };
  else throw new Error(`No thumbprint for a key of type ${String(jwk.kty)}.`);
  return createHash("sha256").update(JSON.stringify(members), "utf8").digest("base64url");
}

function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

/**
 * A compact JWS (RFC 7515) of `payload`, as a JWT when `typ` says so. ES256 signatures are the raw r‖s pair that
 * JOSE expects (RFC 7518 §3.4), not Node's default DER; RS256 is RSASSA-PKCS1-v1_5 with SHA-256, Node's default.
 */
export function signCompactJws(
  privateKey: KeyObject,
  header: { alg: SigningAlg; kid: string; typ?: string },
  payload: Record<string, unknown>,
): string {
  const input = `${base64urlJson(header)}.${base64urlJson(payload)}`;
  const signature = sign("sha256", Buffer.from(input, "ascii"), header.alg === "ES256" ? { key: privateKey, dsaEncoding: "ieee-p1363" } : privateKey);
  return `${input}.${signature.toString("base64url")}`;
}
