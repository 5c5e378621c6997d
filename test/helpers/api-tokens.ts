import type { Db } from "../../src/db/index.ts";
import { deriveSecretKeys } from "../../src/lib/app-secret.ts";
import { hashCode } from "../../src/lib/secret-box.ts";
import { createApiToken, DEFAULT_API_TOKEN_EXPIRY } from "../../src/services/api-tokens.ts";
import { TEST_APP_SECRET } from "./app.ts";

/** The keys createTestApp's app derives, so a token made here is accepted by that app. */
const keys = deriveSecretKeys(TEST_APP_SECRET);

let counter = 0;

/**
 * A personal API token of `user`, made through the real service (and audited as the user's own creation), as
 * createTestApp's app accepts it. Returns the token itself: `gh_` and 43 characters.
 * `expiresInDays`: left out, the Profile's default (90 days); null, never.
 */
export async function createTestApiToken(
  db: Db,
  user: { id: number; username: string },
  options: { name?: string; expiresInDays?: number | null } = {},
): Promise<string> {
  counter += 1;
  const actor = { id: user.id, username: user.username, clientIp: null, requestId: null };
  const { token } = await createApiToken(db, keys, actor, user.id, {
    name: options.name ?? `test token ${counter}`,
    expiresInDays: options.expiresInDays === undefined ? Number(DEFAULT_API_TOKEN_EXPIRY) : options.expiresInDays,
  });
  return token;
}

/** The stored id of the token (found by its keyed hash, as the app finds it). */
export async function apiTokenIdOf(db: Db, token: string): Promise<number> {
  const row = await db("api_tokens")
    .select("id")
    .where({ token_hash: hashCode(keys.apiTokens, token) })
    .first<{ id: string | number } | undefined>();
  if (!row) throw new Error("no such API token");
  return Number(row.id);
}

/** Moves a token's expiry into the past (by the database's clock), as if its lifetime had run out. */
export async function expireTestApiToken(db: Db, tokenId: number): Promise<void> {
  await db("api_tokens").where({ id: tokenId }).update({ expires_at: db.raw("now() - interval '1 second'") });
}

/** Moves a token's last use back, as if it had been used that many seconds ago. */
export async function setApiTokenLastUsed(db: Db, tokenId: number, secondsAgo: number): Promise<void> {
  await db("api_tokens")
    .where({ id: tokenId })
    .update({ last_used_at: db.raw("now() - make_interval(secs => ?)", [secondsAgo]) });
}
