import { hkdfSync, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * APP_SECRET when given; otherwise the one generated into DATA_DIR on first start (and reused after).
 * `generated` tells the caller to say so in the log.
 */
export async function resolveAppSecret(given: string | undefined, dataDir: string): Promise<{ secret: string; generated: string | null }> {
  if (given) return { secret: given, generated: null };
  const file = path.resolve(dataDir, "app-secret");
  try {
    const existing = (await readFile(file, "utf8")).trim();
    if (existing.length >= 32) return { secret: existing, generated: null };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(path.dirname(file), { recursive: true });
  const secret = randomBytes(32).toString("base64url");
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: "wx" }).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== "EEXIST") throw error;
  });
  await chmod(file, 0o600);
  const stored = (await readFile(file, "utf8")).trim();
  return { secret: stored, generated: file };
}

/** One key per purpose, so the session cookie key never doubles as the encryption key for stored secrets. */
export function deriveKey(appSecret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync("sha256", appSecret, "gatehouse", purpose, 32));
}

/**
 * The keys services use: one to hash one-time codes, one to encrypt secrets kept in the database, one to hash
 * personal API tokens (a copy of the table alone is not enough to try tokens offline), and one to encrypt the
 * OpenID Connect provider's private signing keys (services/signing-keys.ts).
 */
export interface SecretKeys {
  codes: Buffer;
  storage: Buffer;
  apiTokens: Buffer;
  signingKeys: Buffer;
}

export function deriveSecretKeys(appSecret: string): SecretKeys {
  return {
    codes: deriveKey(appSecret, "one-time-codes"),
    storage: deriveKey(appSecret, "stored-secrets"),
    apiTokens: deriveKey(appSecret, "api-tokens"),
    signingKeys: deriveKey(appSecret, "oidc-signing-keys"),
  };
}
