import { createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { jwkThumbprint, signCompactJws } from "../../src/lib/jws.ts";

/** The RSA key of RFC 7638 §3.1, and the thumbprint the RFC gives for it. */
const RFC_7638_KEY = {
  kty: "RSA",
  n:
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
  e: "AQAB",
  alg: "RS256",
  kid: "2011-04-29",
};

function parts(token: string): { header: Record<string, unknown>; payload: Record<string, unknown>; input: string; signature: Buffer } {
  const [header, payload, signature] = token.split(".");
  if (!header || !payload || !signature) throw new Error(`not a compact JWS: ${token}`);
  return {
    header: JSON.parse(Buffer.from(header, "base64url").toString("utf8")),
    payload: JSON.parse(Buffer.from(payload, "base64url").toString("utf8")),
    input: `${header}.${payload}`,
    signature: Buffer.from(signature, "base64url"),
  };
}

describe("jwkThumbprint (RFC 7638)", () => {
  it("gives the RFC's value for its example key, whatever optional members the key carries", () => {
    expect(jwkThumbprint(RFC_7638_KEY)).toBe("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  });

  it("is the same for the private and the public form of a key, and differs between keys", () => {
    const a = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const b = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const thumbprint = jwkThumbprint(a.privateKey.export({ format: "jwk" }));
    expect(thumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(jwkThumbprint(a.publicKey.export({ format: "jwk" }))).toBe(thumbprint);
    expect(jwkThumbprint(b.publicKey.export({ format: "jwk" }))).not.toBe(thumbprint);
  });

  it("refuses a key type it does not know", () => {
    expect(() => jwkThumbprint({ kty: "oct", k: "c2VjcmV0" })).toThrow("No thumbprint for a key of type oct.");
  });
});

describe("signCompactJws", () => {
  it("ES256: a 64-byte r‖s signature over header.payload that the public key verifies", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const token = signCompactJws(privateKey, { alg: "ES256", kid: "k1", typ: "JWT" }, { sub: "alice", exp: 1_900_000_000 });
    const { header, payload, input, signature } = parts(token);
    expect(header).toEqual({ alg: "ES256", kid: "k1", typ: "JWT" });
    expect(payload).toEqual({ sub: "alice", exp: 1_900_000_000 });
    expect(signature).toHaveLength(64);
    expect(verify("sha256", Buffer.from(input), { key: publicKey, dsaEncoding: "ieee-p1363" }, signature)).toBe(true);
    const tampered = `${input.slice(0, -2)}xx`;
    expect(verify("sha256", Buffer.from(tampered), { key: publicKey, dsaEncoding: "ieee-p1363" }, signature)).toBe(false);
  });

  it("RS256: an RSASSA-PKCS1-v1_5 signature that the public JWK verifies", () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const token = signCompactJws(privateKey, { alg: "RS256", kid: "k2" }, { aud: "x" });
    const { header, input, signature } = parts(token);
    expect(header).toEqual({ alg: "RS256", kid: "k2" });
    const publicJwk = publicKey.export({ format: "jwk" });
    expect(verify("sha256", Buffer.from(input), createPublicKey({ key: publicJwk, format: "jwk" }), signature)).toBe(true);
  });
});
