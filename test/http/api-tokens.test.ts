import type { Express } from "express";
import supertest from "supertest";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { findUserById } from "../../src/repositories/users/index.ts";
import { authenticateApiToken, MAX_ACTIVE_API_TOKENS } from "../../src/services/api-tokens.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { REAUTH_AFTER_MS } from "../../src/services/email-verification.ts";
import { readGeneralSettings, saveGeneralSettings } from "../../src/services/general-settings.ts";
import { addLdapServer, readLdapOptions, saveLdapOptions } from "../../src/services/ldap-settings.ts";
import { flashText, postJson, rowCount } from "../helpers/access.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { apiTokenIdOf, createTestApiToken, expireTestApiToken } from "../helpers/api-tokens.ts";
import { createTestApp } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { errorSummary, fieldError, inputTag, inputValue, isInvalid, labelText, pageText } from "../helpers/html.ts";
import { FIXTURE_USERS, settingsFor, skipLdapTests, TestDirectory } from "../helpers/ldap.ts";
import { testKeys } from "../helpers/mail.ts";
import { agentSessionCookie, attemptSignIn, auditEvents, failureRow, setSessionClocks, sidOf } from "../helpers/sign-in.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/**
 * Personal API tokens on the Profile (issue 7): made there and shown once, stored only as a keyed hash, named
 * with the usual field rules, re-authenticated after 15 minutes, revoked one by one (only one's own), capped,
 * audited without secrets, and revoked all at once or deleted with the account by an administrator.
 */

let db: Db;
useTestDb((created) => {
  db = created;
});

let app: Express;
beforeEach(() => {
  app = createTestApp(db);
});

const TOKEN_SHAPE = /^gh_[A-Za-z0-9_-]{43}$/;
const DAY_SECONDS = 86_400;

interface TokenRow {
  id: number;
  name: string;
  prefix: string;
  tokenHash: string;
  lifetimeSeconds: number | null;
  revoked: boolean;
  lastUsed: boolean;
}

async function tokenRows(userId: number): Promise<TokenRow[]> {
  const rows = await db("api_tokens")
    .where({ user_id: userId })
    .orderBy("id")
    .select(
      "id",
      "name",
      "prefix",
      "token_hash",
      db.raw("extract(epoch from expires_at - created_at)::float8 AS lifetime"),
      db.raw("revoked_at IS NOT NULL AS revoked"),
      db.raw("last_used_at IS NOT NULL AS last_used"),
    );
  return rows.map((r: Record<string, unknown>) => ({
    id: Number(r.id),
    name: String(r.name),
    prefix: String(r.prefix),
    tokenHash: String(r.token_hash),
    lifetimeSeconds: r.lifetime === null ? null : Math.round(Number(r.lifetime)),
    revoked: Boolean(r.revoked),
    lastUsed: Boolean(r.last_used),
  }));
}

/** Every value of every row of every table, as text: where a secret would show if it were stored anywhere. */
async function everythingStored(): Promise<string> {
  const result = await db.raw(
    `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT LIKE 'knex_migrations%'`,
  );
  const parts: string[] = [];
  for (const { tablename } of result.rows as { tablename: string }[]) {
    const rows = await db.raw(`SELECT to_jsonb(t)::text AS row FROM "${tablename}" t`);
    for (const row of rows.rows as { row: string }[]) parts.push(row.row);
  }
  return parts.join("\n");
}

/** The token the "new token" page shows, and the page. */
async function showNewToken(agent: TestAgent) {
  const page = await agent.get("/profile/api-tokens/new");
  return { page, token: /<input id="api-token"[^>]*\bvalue="([^"]*)"/.exec(page.text)?.[1] };
}

/** Creates a token through the Profile's form and returns it as the page shows it once. */
async function createOnProfile(agent: TestAgent, fields: Record<string, string> = {}) {
  await agent.refreshToken("/profile");
  const res = await agent.post("/profile/api-tokens", { name: "backup script", expiresInDays: "90", ...fields });
  expect(res.status).toBe(303);
  expect(res.headers.location).toBe("/profile/api-tokens/new");
  const { page, token } = await showNewToken(agent);
  expect(page.status).toBe(200);
  if (!token) throw new Error("the page showed no token");
  return token;
}

/** The API tokens table of /profile: one row per token, its cells as text. */
function tokenTable(html: string): string[][] {
  const section = /<section aria-labelledby="api-tokens-heading"[\s\S]*?<\/section>/.exec(html)?.[0] ?? "";
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(section)?.[1] ?? "";
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...(row[1] ?? "").matchAll(/<t[dh][^>]*>([\s\S]*?)<\/t[dh]>/g)].map((cell) => pageText(cell[1] ?? "")),
  );
}

/** The Revoke buttons of the section: the token id in each form's action and the button's accessible name. */
function revokeButtons(html: string): { id: number; name: string }[] {
  return [...html.matchAll(/action="\/profile\/api-tokens\/(\d+)\/revoke"[\s\S]*?aria-label="([^"]*)"/g)].map((m) => ({
    id: Number(m[1]),
    name: pageText(m[2] ?? ""),
  }));
}

async function signedInAgo(agent: TestAgent, ms: number): Promise<void> {
  await setSessionClocks(db, sidOf(agentSessionCookie(agent)), { authAt: Date.now() - ms });
}

describe("the API tokens section of /profile", () => {
  it("shows an empty state and the Create token form: Name, Expires (90 days by default), no password on a fresh sign-in", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const agent = await signedInAgent(app, uma);
    const res = await agent.get("/profile");
    expect(res.status).toBe(200);
    expect(res.text).toContain('<h2 id="api-tokens-heading">API tokens</h2>');
    const text = pageText(res.text);
    expect(text).toContain("You have no API tokens.");
    expect(text).toContain("Authorization: Bearer <token>");
    expect(labelText(res.text, "tok-name")).toBe("Name");
    expect(labelText(res.text, "tok-expiresInDays")).toBe("Expires");
    const options = [...res.text.matchAll(/<option value="([^"]+)"( selected)?>([^<]+)<\/option>/g)]
      .filter((m) => ["7", "30", "90", "365", "never"].includes(m[1] ?? ""))
      .map((m) => `${m[3]}${m[2] ? " (selected)" : ""}`);
    expect(options).toEqual(["7 days", "30 days", "90 days (selected)", "1 year", "Never"]);
    expect(inputTag(res.text, "currentPassword", "tok-currentPassword")).toBeUndefined();
    expect(text).toContain("Create token");
  });

  it("creates a token and shows it once: the next view of that page no longer has it, and says so", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const agent = await signedInAgent(app, uma);
    await agent.refreshToken("/profile");
    const created = await agent.post("/profile/api-tokens", { name: "  backup script  ", expiresInDays: "30" });
    expect(created.status).toBe(303);
    expect(created.headers.location).toBe("/profile/api-tokens/new");
    // Never in the URL.
    expect(created.headers.location).not.toMatch(/gh_/);

    const { page, token } = await showNewToken(agent);
    expect(page.status).toBe(200);
    expect(page.text).toContain("<h1>Your new API token</h1>");
    expect(token).toMatch(TOKEN_SHAPE);
    const text = pageText(page.text);
    expect(text).toContain("Copy this token now: this page is the only time it is shown.");
    expect(text).toContain("backup script");
    expect(text).toContain(`${token?.slice(0, 11)}…`);

    const again = await agent.get("/profile/api-tokens/new");
    expect(again.status).toBe(303);
    expect(again.headers.location).toBe("/profile#api-tokens");
    expect(again.text).not.toContain(token);
    const profile = await agent.get("/profile");
    expect(profile.text).not.toContain(token);
    expect(flashText(profile.text)).toContain("An API token is shown only once");

    // The list: name (trimmed), how it starts, created, expires, last used, status, and a Revoke button.
    const rows = tokenTable(profile.text);
    expect(rows).toHaveLength(1);
    const [name, prefix, createdAt, expires, lastUsed, status] = rows[0] ?? [];
    expect(name).toBe("backup script");
    expect(prefix).toBe(`${token?.slice(0, 11)}…`);
    expect(createdAt).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    expect(expires).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    expect(lastUsed).toBe("Never");
    expect(status).toBe("Active");
    expect(revokeButtons(profile.text).map((b) => b.name)).toEqual([`Revoke token backup script (${token?.slice(0, 11)}…)`]);

    // It works as a bearer token for uma.
    const owner = await authenticateApiToken(db, testKeys, token ?? "");
    expect(owner?.user.username).toBe("uma");
  });

  it("stores only a keyed hash: no column of any table holds the token, before or after it is shown", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const agent = await signedInAgent(app, uma);
    await agent.refreshToken("/profile");
    expect((await agent.post("/profile/api-tokens", { name: "ci", expiresInDays: "7" })).status).toBe(303);
    // Waiting in the session for the page: sealed.
    const waiting = await everythingStored();
    const { token } = await showNewToken(agent);
    if (!token) throw new Error("no token shown");
    const secret = token.slice(3);
    expect(waiting).not.toContain(secret);
    const stored = await everythingStored();
    expect(stored).not.toContain(secret);
    expect(stored).not.toContain(secret.slice(0, 20));
    const [row] = await tokenRows(uma.id);
    expect(row?.prefix).toBe(secret.slice(0, 8));
    expect(row?.tokenHash).not.toContain(secret);
    expect(row?.tokenHash.length).toBeGreaterThanOrEqual(43);
  });

  it("each Expires choice sets the lifetime; Never leaves it open; a made-up choice is a 422 naming Expires", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const agent = await signedInAgent(app, uma);
    for (const choice of ["7", "30", "90", "365", "never"]) await createOnProfile(agent, { name: `token ${choice}`, expiresInDays: choice });
    const rows = await tokenRows(uma.id);
    expect(rows.map((r) => [r.name, r.lifetimeSeconds])).toEqual([
      ["token 7", 7 * DAY_SECONDS],
      ["token 30", 30 * DAY_SECONDS],
      ["token 90", 90 * DAY_SECONDS],
      ["token 365", 365 * DAY_SECONDS],
      ["token never", null],
    ]);
    const profile = await agent.get("/profile");
    const never = tokenTable(profile.text).find((r) => r[0] === "token never");
    expect(never?.[3]).toBe("Never");

    for (const bad of ["5", "forever", ""]) {
      const res = await agent.post("/profile/api-tokens", { name: "odd expiry", expiresInDays: bad });
      expect(res.status).toBe(422);
      expect(fieldError(res.text, "tok-expiresInDays")).toBe("Expires: choose 7 days, 30 days, 90 days, 1 year or Never.");
      expect(inputValue(res.text, "name", "tok-name")).toBe("odd expiry");
    }
    const missing = await agent.post("/profile/api-tokens", { name: "no expiry field" });
    expect(missing.status).toBe(422);
    expect(fieldError(missing.text, "tok-expiresInDays")).toMatch(/^Expires/);
    expect(await tokenRows(uma.id)).toHaveLength(5);
  });

  it("a bad name is a 422 naming the field, with the typed name kept and nothing created", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const agent = await signedInAgent(app, uma);
    await agent.refreshToken("/profile");
    const cases: [string, string][] = [
      ["", "Enter a name for the token, such as what will use it."],
      ["   ", "Enter a name for the token, such as what will use it."],
      ["🙂".repeat(65), "Name must be at most 64 characters; this one has 65."],
      ["a".repeat(65), "Name must be at most 64 characters; this one has 65."],
      ["bell\u0007ringer", "Name must be on one line."],
      ["two\nlines", "Name must be on one line."],
      ["evil\u202Etxt.exe", "Name cannot contain direction-changing characters."],
      ["nul\u0000byte", "Name contains a character that cannot be stored."],
    ];
    for (const [name, message] of cases) {
      const res = await agent.post("/profile/api-tokens", { name, expiresInDays: "30" });
      expect(res.status, JSON.stringify(name)).toBe(422);
      expect(fieldError(res.text, "tok-name")).toBe(message);
      expect(isInvalid(res.text, "name", "tok-name")).toBe(true);
      expect(errorSummary(res.text)?.links).toEqual(["tok-name"]);
      // The typed name comes back as typed (the browser shows it again), and the chosen expiry with it.
      expect(inputValue(res.text, "name", "tok-name")).toBe(name);
      expect(res.text).toMatch(/<option value="30" selected>/);
    }
    // A lone surrogate can only come as JSON; it is refused the same way.
    const surrogate = await postJson(agent, "/profile/api-tokens", { name: "half \uD800 pair", expiresInDays: "30" });
    expect(surrogate.status).toBe(422);
    expect(fieldError(surrogate.text, "tok-name")).toBe("Name contains a character that cannot be stored.");
    expect(await tokenRows(uma.id)).toHaveLength(0);

    // 64 code points (emoji count as one each) is fine.
    await createOnProfile(agent, { name: "🙂".repeat(64) });
    expect((await tokenRows(uma.id))[0]?.name).toBe("🙂".repeat(64));
  });

  it("fields no form sends (userId, an array) are refused and create nothing", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const bob = await insertTestUser(db, { username: "bob" });
    const agent = await signedInAgent(app, uma);
    await agent.refreshToken("/profile");
    const extra = await agent.post("/profile/api-tokens", { name: "for bob", expiresInDays: "30", userId: String(bob.id) });
    expect(extra.status).toBe(400);
    const array = await agent.post("/profile/api-tokens", { name: ["a", "b"], expiresInDays: "30" });
    expect(array.status).toBe(400);
    expect(await rowCount(db, "api_tokens")).toBe(0);
  });

  it("more than 15 minutes after signing in, creating a token asks for the password again (ASVS 7.5.1)", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const agent = await signedInAgent(app, uma);
    await signedInAgo(agent, REAUTH_AFTER_MS - 60_000);
    expect(inputTag((await agent.get("/profile")).text, "currentPassword", "tok-currentPassword")).toBeUndefined();
    await createOnProfile(agent, { name: "within 15 minutes" });

    await signedInAgo(agent, REAUTH_AFTER_MS + 60_000);
    const profile = await agent.get("/profile");
    expect(labelText(profile.text, "tok-currentPassword")).toBe("Your password");
    await agent.refreshToken("/profile");
    const missing = await agent.post("/profile/api-tokens", { name: "late token", expiresInDays: "7" });
    expect(missing.status).toBe(422);
    expect(fieldError(missing.text, "tok-currentPassword")).toBe("Enter your password: you signed in more than 15 minutes ago.");
    expect(inputValue(missing.text, "name", "tok-name")).toBe("late token");
    const wrong = await agent.post("/profile/api-tokens", { name: "late token", expiresInDays: "7", currentPassword: "not the password at all" });
    expect(wrong.status).toBe(422);
    expect(fieldError(wrong.text, "tok-currentPassword")).toBe("Password is not correct.");
    // The password is never echoed back.
    expect(wrong.text).not.toContain("not the password at all");
    expect((await tokenRows(uma.id)).map((r) => r.name)).toEqual(["within 15 minutes"]);

    const token = await createOnProfile(agent, { name: "late token", expiresInDays: "7", currentPassword: uma.password });
    expect(token).toMatch(TOKEN_SHAPE);
    expect((await tokenRows(uma.id)).map((r) => r.name)).toEqual(["within 15 minutes", "late token"]);
  });

  it("Revoke ends one's own token: it is refused from then on, marked Revoked, and has no button any more", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const agent = await signedInAgent(app, uma);
    const keep = await createOnProfile(agent, { name: "keep me" });
    const revoke = await createOnProfile(agent, { name: "old laptop" });
    const revokeId = await apiTokenIdOf(db, revoke);
    const profile = await agent.get("/profile");
    const button = revokeButtons(profile.text).find((b) => b.id === revokeId);
    expect(button?.name).toBe(`Revoke token old laptop (${revoke.slice(0, 11)}…)`);
    expect(button?.name.startsWith("Revoke")).toBe(true);

    await agent.refreshToken("/profile");
    const res = await agent.post(`/profile/api-tokens/${revokeId}/revoke`);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/profile#api-tokens");
    const after = await agent.get("/profile");
    expect(flashText(after.text)).toBe(`API token old laptop (${revoke.slice(0, 11)}…) revoked. Requests with it are refused from now on.`);
    const rows = tokenTable(after.text);
    expect(rows.map((r) => [r[0], r[5]])).toEqual([
      ["old laptop", "Revoked"],
      ["keep me", "Active"],
    ]);
    expect(revokeButtons(after.text).map((b) => b.id)).toEqual([await apiTokenIdOf(db, keep)]);
    expect(await authenticateApiToken(db, testKeys, revoke)).toBeUndefined();
    expect((await authenticateApiToken(db, testKeys, keep))?.user.id).toBe(uma.id);

    // Again (a second tab): the same answer, nothing more recorded.
    const twice = await agent.post(`/profile/api-tokens/${revokeId}/revoke`);
    expect(twice.status).toBe(303);
    expect(await auditEvents(db, "api_token.revoked")).toHaveLength(1);
  });

  it("revoking another user's token, an unknown id or a malformed one is a 404 and changes nothing", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const bob = await insertTestUser(db, { username: "bob" });
    const bobsToken = await createTestApiToken(db, bob, { name: "bob's deploy" });
    const bobsId = await apiTokenIdOf(db, bobsToken);
    const agent = await signedInAgent(app, uma);
    await agent.refreshToken("/profile");
    for (const id of [String(bobsId), "999999", "abc", "0", "-1", "1.5", "99999999999999999999"]) {
      const res = await agent.post(`/profile/api-tokens/${id}/revoke`);
      expect(res.status, id).toBe(404);
      expect(res.text).not.toContain("bob's deploy");
    }
    expect((await tokenRows(bob.id))[0]?.revoked).toBe(false);
    expect((await authenticateApiToken(db, testKeys, bobsToken))?.user.username).toBe("bob");
    expect(await auditEvents(db, "api_token.revoked")).toHaveLength(0);
    // And bob's tokens are not in uma's list.
    expect(pageText((await agent.get("/profile")).text)).not.toContain("bob's deploy");
  });

  it(`an account has at most ${MAX_ACTIVE_API_TOKENS} active tokens; the form says so, keeps the name, and expired or revoked ones do not count`, async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const tokens: string[] = [];
    for (let i = 0; i < MAX_ACTIVE_API_TOKENS; i++) tokens.push(await createTestApiToken(db, uma, { name: `token ${i + 1}` }));
    const agent = await signedInAgent(app, uma);
    await agent.refreshToken("/profile");
    const refused = await agent.post("/profile/api-tokens", { name: "one too many", expiresInDays: "30" });
    expect(refused.status).toBe(409);
    expect(errorSummary(refused.text)?.text).toContain(
      `You already have ${MAX_ACTIVE_API_TOKENS} active API tokens, the most an account can have. Revoke one you no longer use, then create the new one.`,
    );
    expect(inputValue(refused.text, "name", "tok-name")).toBe("one too many");
    expect(await rowCount(db, "api_tokens", { user_id: uma.id })).toBe(MAX_ACTIVE_API_TOKENS);

    // One expires, one is revoked: two places free up.
    await expireTestApiToken(db, await apiTokenIdOf(db, tokens[0] ?? ""));
    const revokeId = await apiTokenIdOf(db, tokens[1] ?? "");
    expect((await agent.post(`/profile/api-tokens/${revokeId}/revoke`)).status).toBe(303);
    await createOnProfile(agent, { name: "fits again" });
    await createOnProfile(agent, { name: "and one more" });
    const full = await agent.post("/profile/api-tokens", { name: "full again", expiresInDays: "30" });
    expect(full.status).toBe(409);
    const profile = await agent.get("/profile");
    expect(pageText(profile.text)).toContain(`Your API tokens (${MAX_ACTIVE_API_TOKENS} active of at most ${MAX_ACTIVE_API_TOKENS})`);
    const statuses = tokenTable(profile.text).map((r) => r[5]);
    expect(statuses.filter((s) => s === "Expired")).toHaveLength(1);
    expect(statuses.filter((s) => s === "Revoked")).toHaveLength(1);
  });

  it("audits api_token.created and api_token.revoked with id, name, prefix and expiry, never the token or its hash", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const agent = await signedInAgent(app, uma);
    const token = await createOnProfile(agent, { name: "audited", expiresInDays: "never" });
    const id = await apiTokenIdOf(db, token);
    await agent.refreshToken("/profile");
    expect((await agent.post(`/profile/api-tokens/${id}/revoke`)).status).toBe(303);

    const [created] = await auditEvents(db, "api_token.created");
    expect(created?.actorUsername).toBe("uma");
    expect(created?.targetType).toBe("user");
    expect(created?.targetId).toBe(String(uma.id));
    expect(created?.details).toEqual({ tokenId: id, name: "audited", prefix: token.slice(0, 11), expiresAt: null });
    const [revoked] = await auditEvents(db, "api_token.revoked");
    expect(revoked?.actorUsername).toBe("uma");
    expect(revoked?.details).toEqual({ tokenId: id, name: "audited", prefix: token.slice(0, 11), expiresAt: null });

    const [row] = await tokenRows(uma.id);
    const allEvents = JSON.stringify(await auditEvents(db));
    expect(allEvents).not.toContain(token.slice(3));
    expect(allEvents).not.toContain(row?.tokenHash ?? "no hash");
  });

  it("a cross-site POST is refused (403): no token made, none revoked", async () => {
    const uma = await insertTestUser(db, { username: "uma" });
    const agent = await signedInAgent(app, uma);
    const token = await createOnProfile(agent, { name: "precious" });
    const id = await apiTokenIdOf(db, token);
    // No CSRF token at all.
    const forged = await agent.http.post("/profile/api-tokens").set("Accept", "text/html").type("form").send({ name: "attacker's", expiresInDays: "never" });
    expect(forged.status).toBe(403);
    // A valid CSRF token, but sent from another site.
    const csrf = await agent.refreshToken("/profile");
    const crossSite = await agent.http
      .post(`/profile/api-tokens/${id}/revoke`)
      .set("Accept", "text/html")
      .set("Origin", "https://evil.example")
      .type("form")
      .send({ _csrf: csrf });
    expect(crossSite.status).toBe(403);
    const crossCreate = await agent.http
      .post("/profile/api-tokens")
      .set("Accept", "text/html")
      .set("Sec-Fetch-Site", "cross-site")
      .type("form")
      .send({ _csrf: csrf, name: "attacker's", expiresInDays: "never" });
    expect(crossCreate.status).toBe(403);
    expect((await tokenRows(uma.id)).map((r) => [r.name, r.revoked])).toEqual([["precious", false]]);
  });

  it("an administrator who must turn on 2FA is told that their tokens are refused until then", async () => {
    const ada = await insertTestAdmin(db, { username: "ada" });
    const bea = await insertTestAdmin(db, { username: "bea" });
    await db("users").where({ id: bea.id }).update({ email: "bea@example.test", email_verified: true, two_factor_method: "email" });
    const { version } = await readGeneralSettings(db);
    await saveGeneralSettings(db, { ...SYSTEM_ACTOR, id: bea.id, username: "bea" }, true, version, { requireAdminTwoFactor: true });
    const agent = await signedInAgent(app, ada);
    const profile = await agent.get("/profile");
    expect(profile.status).toBe(200);
    expect(pageText(profile.text)).toContain("Your tokens are refused until you turn on two-factor authentication. Administrators must use it.");
  });

  it("someone signed out cannot reach the section: the form and the page send them to sign in", async () => {
    const anonymous = new TestAgent(app);
    await insertTestUser(db, { username: "uma" });
    const page = await anonymous.get("/profile/api-tokens/new");
    expect(page.status).toBe(303);
    expect(page.headers.location).toMatch(/^\/login/);
    const json = await supertest(app).get("/profile/api-tokens/new").set("Accept", "application/json");
    expect(json.status).toBe(401);
  });
});

describe("administrators and API tokens", () => {
  it("the user page shows how many active tokens a user has; Revoke API tokens ends them all and is audited", async () => {
    const admin = await insertTestAdmin(db, { username: "ada" });
    const uma = await insertTestUser(db, { username: "uma" });
    const first = await createTestApiToken(db, uma, { name: "one" });
    const second = await createTestApiToken(db, uma, { name: "two", expiresInDays: null });
    const gone = await createTestApiToken(db, uma, { name: "expired already" });
    await expireTestApiToken(db, await apiTokenIdOf(db, gone));
    const agent = await signedInAgent(app, admin);

    const page = await agent.get(`/admin/users/${uma.id}`);
    expect(page.status).toBe(200);
    expect(pageText(page.text)).toContain("uma has 2 active API tokens.");
    expect(page.text).toMatch(/<button[^>]*>Revoke API tokens<\/button>/);

    await agent.refreshToken(`/admin/users/${uma.id}`);
    const res = await agent.post(`/admin/users/${uma.id}/api-tokens/revoke`);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/admin/users/${uma.id}#api-tokens`);
    const after = await agent.get(`/admin/users/${uma.id}`);
    expect(flashText(after.text)).toBe("Revoked 2 API tokens of uma.");
    expect(pageText(after.text)).toContain("uma has no active API tokens.");
    expect(after.text).not.toMatch(/>Revoke API tokens</);
    for (const token of [first, second]) expect(await authenticateApiToken(db, testKeys, token)).toBeUndefined();

    const [event] = await auditEvents(db, "api_token.revoked_all");
    expect(event?.actorUsername).toBe("ada");
    expect(event?.targetId).toBe(String(uma.id));
    expect(event?.details.tokensRevoked).toBe(2);
    expect(((event?.details.tokens ?? []) as { name: string }[]).map((t) => t.name).sort()).toEqual(["one", "two"]);
    expect(JSON.stringify(event)).not.toContain(first.slice(3));
  });

  it("a user who is not an administrator cannot revoke someone's tokens (403)", async () => {
    await insertTestAdmin(db, { username: "ada" });
    const uma = await insertTestUser(db, { username: "uma" });
    const bob = await insertTestUser(db, { username: "bob" });
    const token = await createTestApiToken(db, bob);
    const agent = await signedInAgent(app, uma);
    await agent.refreshToken("/profile");
    expect((await agent.post(`/admin/users/${bob.id}/api-tokens/revoke`)).status).toBe(403);
    expect((await authenticateApiToken(db, testKeys, token))?.user.username).toBe("bob");
  });

  it("deleting a user deletes their tokens", async () => {
    const admin = await insertTestAdmin(db, { username: "ada" });
    const uma = await insertTestUser(db, { username: "uma" });
    const token = await createTestApiToken(db, uma);
    const agent = await signedInAgent(app, admin);
    await agent.refreshToken(`/admin/users/${uma.id}/delete`);
    const user = await findUserById(db, uma.id);
    const res = await agent.post(`/admin/users/${uma.id}/delete`, { version: String(user?.version) });
    expect(res.status).toBe(303);
    expect(await rowCount(db, "api_tokens")).toBe(0);
    expect(await authenticateApiToken(db, testKeys, token)).toBeUndefined();
  });
});

describe.skipIf(skipLdapTests)("an LDAP account's API tokens", () => {
  let directory: TestDirectory;
  beforeAll(async () => {
    directory = await TestDirectory.start();
  });
  afterAll(async () => {
    await directory?.close();
  });

  it("after 15 minutes, creating a token takes the directory password, and only the right one", async () => {
    await insertTestAdmin(db, { username: "root" });
    await addLdapServer(db, SYSTEM_ACTOR, testKeys, settingsFor(directory));
    const { version, value } = await readLdapOptions(db);
    await saveLdapOptions(db, SYSTEM_ACTOR, version, { ...value, allowUserCreation: true });
    const agent = new TestAgent(app);
    expect((await attemptSignIn(agent, "alice", FIXTURE_USERS.alice.password)).status).toBe(303);
    await signedInAgo(agent, REAUTH_AFTER_MS + 60_000);
    const profile = await agent.get("/profile");
    expect(pageText(profile.text)).toContain("Your directory (LDAP) password: needed because you signed in more than 15 minutes ago.");
    await agent.refreshToken("/profile");
    const wrong = await agent.post("/profile/api-tokens", { name: "alice's script", expiresInDays: "30", currentPassword: "not alice's password" });
    expect(wrong.status).toBe(422);
    expect(fieldError(wrong.text, "tok-currentPassword")).toBe("Password is not correct.");
    expect((await failureRow(db, "account", "alice"))?.failures).toBe(1);
    const token = await createOnProfile(agent, { name: "alice's script", expiresInDays: "30", currentPassword: FIXTURE_USERS.alice.password });
    expect((await authenticateApiToken(db, testKeys, token))?.user.username).toBe("alice");
  });
});

describe("the owner is told of a new token", () => {
  it("a token made for an account with a verified address queues a notice to it, naming the token but never holding it", async () => {
    const vera = await insertTestUser(db, { username: "vera", email: "vera@example.com" });
    await db("users").where({ id: vera.id }).update({ email_verified: true });
    const token = await createTestApiToken(db, vera, { name: "nightly backup" });
    const notices = await db("outbox").where({ kind: "api_token_created" });
    expect(notices).toHaveLength(1);
    expect(notices[0].to_address).toBe("vera@example.com");
    expect(JSON.stringify(notices[0])).toContain("nightly backup");
    expect(JSON.stringify(notices[0])).not.toContain(token.slice(11));
    const unverified = await insertTestUser(db, { username: "noel", email: "noel@example.com" });
    await createTestApiToken(db, unverified);
    expect(await db("outbox").where({ kind: "api_token_created" })).toHaveLength(1);
  });
});
