import express, { type Express, type NextFunction, type Request, type Response } from "express";
import supertest from "supertest";
import { beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { API_TOKEN_REQUIRED, requireApiToken } from "../../src/middleware/api-token-auth.ts";
import { errorHandler } from "../../src/middleware/error-handler.ts";
import { findUserById } from "../../src/repositories/users/index.ts";
import { changeOwnPassword, deleteUser, setUserDisabled, updateUser } from "../../src/services/accounts.ts";
import { completePasswordReset } from "../../src/services/password-reset.ts";
import { revokeApiToken } from "../../src/services/api-tokens.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { readGeneralSettings, saveGeneralSettings } from "../../src/services/general-settings.ts";
import { apiTokenIdOf, createTestApiToken, expireTestApiToken, setApiTokenLastUsed } from "../helpers/api-tokens.ts";
import { useTestDb } from "../helpers/db.ts";
import { testKeys } from "../helpers/mail.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/**
 * requireApiToken on a small Express app of its own, against the real database and service: what a client of
 * the REST API sees for every way a token can be missing, wrong or no longer good, and that a good one acts as
 * its owner as the owner is now.
 */

let db: Db;
useTestDb((created) => {
  db = created;
});

/** What the middleware logged at debug (the reason for a refusal), request by request. */
let debugLog: Record<string, unknown>[];
let app: Express;

beforeEach(() => {
  debugLog = [];
  app = express();
  app.use((req: Request, _res: Response, next: NextFunction) => {
    (req as unknown as { log: unknown }).log = { debug: (fields: Record<string, unknown>) => debugLog.push(fields) };
    next();
  });
  app.use("/api/v1", requireApiToken(db, testKeys));
  app.get("/api/v1/whoami", (req, res) => {
    res.json({ username: req.user?.username, isAdmin: req.user?.isAdmin, tokenId: res.locals.apiTokenId });
  });
  app.use(errorHandler(createLogger("silent")));
});

const CHALLENGE = 'Bearer realm="gatehouse"';
const INVALID = 'Bearer realm="gatehouse", error="invalid_token"';
const REFUSED_BODY = { error: { code: "unauthorized", message: API_TOKEN_REQUIRED } };

function call(authorization?: string, path = "/api/v1/whoami") {
  const request = supertest(app).get(path).set("Accept", "application/json");
  return authorization === undefined ? request : request.set("Authorization", authorization);
}

async function expectRefused(res: supertest.Response, challenge: string) {
  expect(res.status).toBe(401);
  expect(res.headers["www-authenticate"]).toBe(challenge);
  expect(res.body).toEqual(REFUSED_BODY);
}

function lastReason(): unknown {
  return debugLog.at(-1)?.reason;
}

/** The same token with its last character replaced by another valid one. */
function oneCharacterChanged(token: string): string {
  const last = token.at(-1);
  return token.slice(0, -1) + (last === "A" ? "B" : "A");
}

describe("requireApiToken", () => {
  it("no Authorization header: 401 with the Bearer challenge and the one message", async () => {
    await expectRefused(await call(), CHALLENGE);
    expect(lastReason()).toBe("missing");
  });

  it("another scheme (Basic) is not a token: 401 with the plain challenge", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const token = await createTestApiToken(db, uma);
    await expectRefused(await call(`Basic ${Buffer.from(`uma:${uma.password}`).toString("base64")}`), CHALLENGE);
    await expectRefused(await call(`Token ${token}`), CHALLENGE);
    expect(lastReason()).toBe("other_scheme");
  });

  it("a Bearer token that is garbage, empty, doubled or one character off: 401 invalid_token", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const token = await createTestApiToken(db, uma);
    for (const header of ["Bearer garbage", "Bearer", "Bearer ", `Bearer ${token} ${token}`, `Bearer ${token}x`, `Bearer ${token.slice(3)}`]) {
      await expectRefused(await call(header), INVALID);
    }
    await expectRefused(await call(`Bearer ${oneCharacterChanged(token)}`), INVALID);
    expect(lastReason()).toBe("unknown");
    await expectRefused(await call(`Bearer gh_${"A".repeat(43)}`), INVALID);
  });

  it("a valid token: 200 as its owner, with the token's id; the scheme's case does not matter", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const token = await createTestApiToken(db, uma, { name: "ci" });
    const res = await call(`Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ username: "uma", isAdmin: false, tokenId: await apiTokenIdOf(db, token) });
    expect((await call(`bearer ${token}`)).body.username).toBe("uma");
    expect((await call(`BEARER   ${token}  `)).body.username).toBe("uma");
  });

  it("the token counts only in the Authorization header: never from the query string or a cookie", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const token = await createTestApiToken(db, uma);
    await expectRefused(await call(undefined, `/api/v1/whoami?access_token=${token}`), CHALLENGE);
    await expectRefused(await call(undefined, `/api/v1/whoami?token=${token}`), CHALLENGE);
    await expectRefused(await supertest(app).get("/api/v1/whoami").set("Accept", "application/json").set("Cookie", `token=${token}`), CHALLENGE);
  });

  it("a revoked token: the next request is refused, the same way as an unknown one", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const token = await createTestApiToken(db, uma);
    expect((await call(`Bearer ${token}`)).status).toBe(200);
    await revokeApiToken(db, { ...SYSTEM_ACTOR, id: uma.id, username: "uma" }, uma.id, await apiTokenIdOf(db, token));
    await expectRefused(await call(`Bearer ${token}`), INVALID);
    expect(lastReason()).toBe("revoked");
  });

  it("a completed password reset, or a password set by an administrator, revokes the account's tokens (R8)", async () => {
    await insertTestAdmin(db, { username: "ada" });
    const uma = await insertTestUser(db, { username: "uma" });
    const beforeReset = await createTestApiToken(db, uma, { expiresInDays: null });
    await completePasswordReset(db, SYSTEM_ACTOR, { userId: uma.id, kind: "emailed_code", newPassword: "a brand new passphrase 41" });
    await expectRefused(await call(`Bearer ${beforeReset}`), INVALID);
    expect(lastReason()).toBe("revoked");

    const beforeAdminSet = await createTestApiToken(db, uma);
    const current = (await findUserById(db, uma.id))!;
    await updateUser(db, { ...SYSTEM_ACTOR, id: 999, username: "ada" }, uma.id, { version: current.version, details: { ...current }, password: "set by the administrator 7" });
    await expectRefused(await call(`Bearer ${beforeAdminSet}`), INVALID);
    const reasons = (await db("audit_events").where({ action: "api_token.revoked_all", target_id: String(uma.id) }).orderBy("id")).map((e) => e.details.reason);
    expect(reasons).toEqual(["password reset", "password set by an administrator"]);
  });

  it("changing your own password keeps your tokens (they are listed on the Profile to revoke)", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const token = await createTestApiToken(db, uma);
    await changeOwnPassword(db, { id: uma.id, username: uma.username, clientIp: null, requestId: null }, { currentPassword: uma.password, newPassword: "my own new passphrase 88", currentSid: "none" });
    expect((await call(`Bearer ${token}`)).status).toBe(200);
  });

  it("an expired token is refused", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const token = await createTestApiToken(db, uma, { expiresInDays: 7 });
    const never = await createTestApiToken(db, uma, { expiresInDays: null });
    await expireTestApiToken(db, await apiTokenIdOf(db, token));
    await expectRefused(await call(`Bearer ${token}`), INVALID);
    expect(lastReason()).toBe("expired");
    expect((await call(`Bearer ${never}`)).status).toBe(200);
  });

  it("disabling the owner revokes their tokens: they stay refused after the account is enabled again", async () => {
    await insertTestAdmin(db, { username: "ada" });
    const uma = await insertTestUser(db, { username: "uma" });
    const token = await createTestApiToken(db, uma, { expiresInDays: null });
    const disabled = await setUserDisabled(db, SYSTEM_ACTOR, uma.id, uma.version, true);
    await expectRefused(await call(`Bearer ${token}`), INVALID);
    expect(lastReason()).toBe("revoked");
    await setUserDisabled(db, SYSTEM_ACTOR, uma.id, disabled.version, false);
    await expectRefused(await call(`Bearer ${token}`), INVALID);
    const event = await db("audit_events").where({ action: "api_token.revoked_all", target_id: String(uma.id) }).first();
    expect(event.details).toMatchObject({ reason: "account disabled", tokensRevoked: 1 });
  });

  it("an owner marked disabled is refused even with a token not revoked (the owner is checked at every request)", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const token = await createTestApiToken(db, uma);
    await db("users").where({ id: uma.id }).update({ disabled: true });
    await expectRefused(await call(`Bearer ${token}`), INVALID);
    expect(lastReason()).toBe("owner_disabled");
  });

  it("a deleted owner is refused (the token went with the account)", async () => {
    await insertTestAdmin(db, { username: "ada" });
    const uma = await insertTestUser(db, { username: "uma" });
    const token = await createTestApiToken(db, uma);
    await deleteUser(db, SYSTEM_ACTOR, uma.id, uma.version);
    await expectRefused(await call(`Bearer ${token}`), INVALID);
  });

  it("a token acts with its owner's rights as they are now: a demoted administrator is no longer one", async () => {
    await insertTestAdmin(db, { username: "ada" });
    const bea = await insertTestAdmin(db, { username: "bea" });
    const token = await createTestApiToken(db, bea);
    expect((await call(`Bearer ${token}`)).body).toMatchObject({ username: "bea", isAdmin: true });
    const current = await findUserById(db, bea.id);
    if (!current) throw new Error("bea is gone");
    await updateUser(db, SYSTEM_ACTOR, bea.id, {
      version: current.version,
      details: { ...current, isAdmin: false },
      password: undefined,
    });
    const res = await call(`Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ username: "bea", isAdmin: false });
  });

  it("with 2FA required for administrators, an administrator without it gets 403; with it, or a plain user, 200", async () => {
    const ada = await insertTestAdmin(db, { username: "ada" });
    const bea = await insertTestAdmin(db, { username: "bea" });
    const uma = await insertTestUser(db, { username: "uma" });
    const adaToken = await createTestApiToken(db, ada);
    const beaToken = await createTestApiToken(db, bea);
    const umaToken = await createTestApiToken(db, uma);
    await db("users").where({ id: bea.id }).update({ email: "bea@example.test", email_verified: true, two_factor_method: "email" });
    // Not required yet: every token works.
    expect((await call(`Bearer ${adaToken}`)).status).toBe(200);

    const { version } = await readGeneralSettings(db);
    await saveGeneralSettings(db, { ...SYSTEM_ACTOR, id: bea.id, username: "bea" }, true, version, { requireAdminTwoFactor: true });
    const refused = await call(`Bearer ${adaToken}`);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("two_factor_required");
    expect(refused.body.error.message).toMatch(/two-factor authentication/);
    expect((await call(`Bearer ${beaToken}`)).body).toMatchObject({ username: "bea", isAdmin: true });
    expect((await call(`Bearer ${umaToken}`)).body).toMatchObject({ username: "uma", isAdmin: false });
  });

  it("records the last use, at most about once a minute per token", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const token = await createTestApiToken(db, uma);
    const id = await apiTokenIdOf(db, token);
    const lastUsed = async () => (await db("api_tokens").where({ id }).first("last_used_at"))?.last_used_at as Date | null;
    expect(await lastUsed()).toBeNull();
    expect((await call(`Bearer ${token}`)).status).toBe(200);
    const first = await lastUsed();
    expect(first).toBeInstanceOf(Date);

    // Used again within the minute: not written again.
    await setApiTokenLastUsed(db, id, 30);
    const thirtySecondsAgo = await lastUsed();
    expect((await call(`Bearer ${token}`)).status).toBe(200);
    expect(await lastUsed()).toEqual(thirtySecondsAgo);

    // Over a minute later: written again.
    await setApiTokenLastUsed(db, id, 120);
    const twoMinutesAgo = await lastUsed();
    expect((await call(`Bearer ${token}`)).status).toBe(200);
    expect((await lastUsed())?.getTime()).toBeGreaterThan(twoMinutesAgo?.getTime() ?? Number.POSITIVE_INFINITY);
  });

  it("every refusal looks the same: status, headers and body do not tell unknown, revoked, expired or disabled apart", async () => {
    await insertTestAdmin(db, { username: "ada" });
    const uma = await insertTestUser(db, { username: "uma" });
    const revoked = await createTestApiToken(db, uma);
    const expired = await createTestApiToken(db, uma);
    await revokeApiToken(db, SYSTEM_ACTOR, uma.id, await apiTokenIdOf(db, revoked));
    await expireTestApiToken(db, await apiTokenIdOf(db, expired));
    const vic = await insertTestUser(db, { username: "vic" });
    const disabledOwner = await createTestApiToken(db, vic);
    await db("users").where({ id: vic.id }).update({ disabled: true });

    const answers = [];
    for (const token of [`gh_${"z".repeat(43)}`, revoked, expired, disabledOwner]) {
      const res = await call(`Bearer ${token}`);
      answers.push({ status: res.status, challenge: res.headers["www-authenticate"], body: res.text });
    }
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(debugLog.map((l) => l.reason)).toEqual(["unknown", "revoked", "expired", "owner_disabled"]);
    // The token itself is never what the log gets.
    expect(JSON.stringify(debugLog)).not.toContain(revoked.slice(3));
  });
});
