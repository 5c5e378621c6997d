import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import http from "node:http";
import Provider, { type AdapterPayload, type ClientMetadata } from "oidc-provider";
import supertest from "supertest";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { knexAdapterFactory } from "../../src/auth/oidc/adapter.ts";
import { createDb, type Db } from "../../src/db/index.ts";
import { revokeOidcPayloadsOfAccount } from "../../src/repositories/oidc-payloads.ts";
import { schemaUrl } from "../helpers/app-process.ts";
import { createTestDb, resetDb, usingPostgres } from "../helpers/db.ts";

/**
 * The storage adapter (src/auth/oidc/adapter.ts) under the real oidc-provider: two Provider instances on one
 * database, as two Gatehouse processes behind a load balancer would be (two pools on Postgres; on PGlite, one
 * process's database, they share its connection). The client comes from the adapter's `findClient`, as Gatehouse's
 * own client records will; the "sign-in page" here is a stub that signs account 42 in and grants openid and
 * offline_access.
 */

const backends = [{ name: "PGlite", embedded: true }, ...(usingPostgres ? [{ name: "Postgres", embedded: false }] : [])];

const ISSUER = "http://127.0.0.1";
const REDIRECT_URI = "https://app.example.test/cb";
const CLIENT: ClientMetadata = {
  client_id: "app",
  client_secret: "a-client-secret-long-enough-for-the-provider-0123456789",
  redirect_uris: [REDIRECT_URI],
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
};
// One signing key for both instances, as one configuration would give them.
const SIGNING_KEY = { ...generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" }), kid: "test", use: "sig", alg: "RS256" };

function newProvider(db: Db): Provider {
  return new Provider(ISSUER, {
    adapter: knexAdapterFactory(db, { findClient: async (id): Promise<AdapterPayload | undefined> => (id === CLIENT.client_id ? { ...CLIENT } : undefined) }),
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    jwks: { keys: [SIGNING_KEY] },
    cookies: { keys: ["a-cookie-key-both-instances-share"] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AuthorizationCode: 60, AccessToken: 600, IdToken: 600, RefreshToken: 3600 },
    // Offline access without asking for consent again: the stub page below grants it.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
  });
}

/** The stub sign-in page: signs account 42 in and grants the client openid and offline_access. */
async function signIn(provider: Provider, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const grant = new provider.Grant({ accountId: "42", clientId: String(details.params.client_id) });
  grant.addOIDCScope("openid offline_access");
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId: "42" }, consent: { grantId } }, { mergeWithLastSubmission: false });
}

describe.each(backends)("oidc-provider on the database storage ($name)", ({ embedded }) => {
  let db: Db;
  let other: Db;
  let a: Provider;
  let b: Provider;
  let server: http.Server;
  /** Which instance served each request, in order. */
  let served: string[];

  beforeAll(async () => {
    db = await createTestDb({ embedded });
    other = embedded ? db : createDb({ databaseUrl: await schemaUrl(db), embeddedDir: undefined });
    a = newProvider(db);
    b = newProvider(other);
    const handlers = { a: a.callback(), b: b.callback() };
    // A load balancer that sends each request to the other instance than the one before.
    server = http.createServer((req, res) => {
      const name = served.length % 2 === 0 ? "a" : "b";
      served.push(name);
      if (req.url?.startsWith("/interaction/")) {
        signIn(name === "a" ? a : b, req, res).catch((error: unknown) => {
          res.statusCode = 500;
          res.end(String(error));
        });
        return;
      }
      handlers[name](req, res);
    });
  });
  afterAll(async () => {
    server?.close();
    if (other !== db) await other?.destroy();
    await db?.destroy();
  });
  beforeEach(async () => {
    await resetDb(db);
    served = [];
  });

  const location = (res: { headers: Record<string, string | undefined> }) => res.headers.location ?? "";

  const basic = `Basic ${Buffer.from(`${CLIENT.client_id}:${CLIENT.client_secret}`).toString("base64")}`;

  /** The code flow through the stub sign-in page, every step on the other instance than the step before. */
  async function authorize(agent: ReturnType<typeof supertest.agent>, params: Record<string, string> = {}) {
    const verifier = randomBytes(32).toString("base64url");
    const start = await agent.get("/auth").query({
      client_id: CLIENT.client_id,
      response_type: "code",
      redirect_uri: REDIRECT_URI,
      scope: "openid offline_access",
      prompt: "consent",
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
      ...params,
    });
    expect(start.status, start.text).toBe(303);
    expect(start.headers.location).toMatch(/^\/interaction\//);
    const page = await agent.get(location(start));
    expect(page.status, page.text).toBe(303);
    const resume = await agent.get(new URL(location(page), ISSUER).pathname);
    expect(resume.status, resume.text).toBe(303);
    const callback = new URL(location(resume));
    expect(callback.origin + callback.pathname).toBe(REDIRECT_URI);
    const code = callback.searchParams.get("code");
    expect(code, location(resume)).toBeTruthy();
    return { code: code ?? "", verifier };
  }

  const exchange = (agent: ReturnType<typeof supertest.agent>, code: string, verifier: string) =>
    agent
      .post("/token")
      .set("Authorization", basic)
      .type("form")
      .send({ grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, code_verifier: verifier });

  const refresh = (agent: ReturnType<typeof supertest.agent>, refreshToken: string) =>
    agent.post("/token").set("Authorization", basic).type("form").send({ grant_type: "refresh_token", refresh_token: refreshToken });

  it("serves one sign-in across two instances: interaction, session, code, tokens and a refresh", async () => {
    const agent = supertest.agent(server);
    const { code, verifier } = await authorize(agent);
    const tokens = await exchange(agent, code, verifier);
    expect(tokens.status, tokens.text).toBe(200);
    expect(tokens.body).toMatchObject({ token_type: "Bearer", scope: "openid offline_access" });
    expect(tokens.body.refresh_token).toEqual(expect.any(String));

    const refreshed = await refresh(agent, tokens.body.refresh_token);
    expect(refreshed.status, refreshed.text).toBe(200);
    const userinfo = await agent.get("/me").set("Authorization", `Bearer ${refreshed.body.access_token}`);
    expect(userinfo.status, userinfo.text).toBe(200);
    expect(userinfo.body).toEqual({ sub: "42" });
    expect(new Set(served)).toEqual(new Set(["a", "b"]));

    const models = (await db("oidc_payloads").distinct("model").orderBy("model")).map((r: { model: string }) => r.model);
    // The interaction is deleted once finished; the client is never written (findClient answers it).
    expect(models).toEqual(["AccessToken", "AuthorizationCode", "Grant", "RefreshToken", "Session"]);
  });

  it("refuses a code used twice, on either instance, and revokes the tokens it gave", async () => {
    const agent = supertest.agent(server);
    const { code, verifier } = await authorize(agent);
    const tokens = await exchange(agent, code, verifier);
    expect(tokens.status, tokens.text).toBe(200);

    const again = await exchange(agent, code, verifier);
    expect(again.status).toBe(400);
    expect(again.body.error).toBe("invalid_grant");
    expect((await refresh(agent, tokens.body.refresh_token)).body.error).toBe("invalid_grant");
    expect((await agent.get("/me").set("Authorization", `Bearer ${tokens.body.access_token}`)).status).toBe(401);
  });

  it("refuses a refresh once the account's stored state is revoked (signing out everywhere, disabling)", async () => {
    const agent = supertest.agent(server);
    const { code, verifier } = await authorize(agent);
    const tokens = await exchange(agent, code, verifier);
    expect(tokens.status, tokens.text).toBe(200);

    expect(await revokeOidcPayloadsOfAccount(db, 42)).toBeGreaterThan(0);
    const refused = await refresh(agent, tokens.body.refresh_token);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe("invalid_grant");
    expect((await agent.get("/me").set("Authorization", `Bearer ${tokens.body.access_token}`)).status).toBe(401);
  });

  it("keeps a request parameter with a NUL character (the interaction stores the request's parameters)", async () => {
    const agent = supertest.agent(server);
    const start = await agent.get("/auth").query({
      client_id: CLIENT.client_id,
      response_type: "code",
      redirect_uri: REDIRECT_URI,
      scope: "openid",
      nonce: "n\u0000once",
    });
    expect(start.status, start.text).toBe(303);
    const uid = location(start).split("/").pop() ?? "";
    expect((await b.Interaction.find(uid))?.params.nonce).toBe("n\u0000once");
  });

  it("finds a token that one instance saved through the other, consumed and revoked by grant", async () => {
    const client = await a.Client.find(CLIENT.client_id);
    if (!client) throw new Error("the client from findClient was not found");
    const saved = new a.RefreshToken({ client, accountId: "42", grantId: "g1", scope: "openid", gty: "authorization_code" });
    const value = await saved.save();
    const found = await b.RefreshToken.find(value);
    expect(found).toMatchObject({ accountId: "42", clientId: "app", grantId: "g1", isValid: true });
    await found?.consume();
    const consumed = await a.RefreshToken.find(value);
    expect(consumed?.consumed).toEqual(expect.any(Number));
    expect(consumed?.isValid).toBe(false);

    await b.RefreshToken.revokeByGrantId("g1");
    expect(await a.RefreshToken.find(value)).toBeUndefined();
  });
});
