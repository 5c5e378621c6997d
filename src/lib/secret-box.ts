import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Secrets kept at rest (the SMTP password, authenticator secrets): AES-256-GCM with a key derived from the app
 * secret for that purpose. The stored form is `v1.<iv>.<tag>.<ciphertext>`, all base64url.
 */
export function sealSecret(key: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return ["v1", iv, cipher.getAuthTag(), ciphertext].map((part) => (typeof part === "string" ? part : part.toString("base64url"))).join(".");
}

/** Throws when the value was not sealed with this key (a changed APP_SECRET, say). */
export function openSecret(key: Buffer, sealed: string): string {
  const [version, iv, tag, ciphertext] = sealed.split(".");
  if (version !== "v1" || !iv || !tag || ciphertext === undefined) throw new Error("Stored secret has an unknown format.");
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
  decipher.setAuthTag(Buffer.from(tag, "base64url"));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, "base64url")), decipher.final()]).toString("utf8");
}

/** One-time codes are stored as a keyed hash: a copy of the table alone does not let anyone try them offline. */
export function hashCode(key: Buffer, code: string): string {
  return createHmac("sha256", key).update(code, "utf8").digest("base64url");
}

export function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** A single-use token handed to a browser (reset codes, the gate's handshake codes and cookies): 32 random bytes, base64url. */
export function newRandomToken(): string {
  return randomBytes(32).toString("base64url");
}

/** What newRandomToken makes: 43 base64url characters. Anything else is refused before a lookup. */
export const RANDOM_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** Only a SHA-256 of such a token is stored: it is a long random string, so a fast hash is enough. */
export function digestOfToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("base64url");
}
