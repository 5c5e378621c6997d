import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Express } from "express";
import { createRemoteJWKSet, jwtVerify } from "jose";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { disableOidcClient, enableOidcClient } from "../../src/services/oidc-clients.ts";
import type { OidcLogoutNotices } from "../../src/services/oidc-logout.ts";
import { accessEvents, grant, makeSystem, makeTeam } from "../helpers/access.ts";
import { signedInAgent, type TestAgent } from "../helpers/agent.ts";
import { createTestApp, createTestAppParts } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { buildUser } from "../helpers/factories.ts";

let db: Db;
useTestDb((created) => {
  db = created;
});

/**
 * "Sign in with Gatehouse" with a real relying party (openid-client) against Gatehouse listening on a port: the
 * browser's part is a console agent (its session cookie), the system's part is openid-client talking to the
 * provider's endpoints over HTTP, as a system would.
 */
describe("Sign in with Gatehouse (OpenID Connect)", () => {
  let server: http.Server;
  let base = "";
  let app: Express;
  let logoutNotices: OidcLogoutNotices;
  const redirectUri = "http://127.0.0.1:9/callback";

  beforeAll(async () => {
    server = http.createServer((req, res) => app(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const parts = createTestAppParts(db, { BASE_URL: base });
    app = parts.app;
    logoutNotices = parts.oidcLogoutNotices;
    logoutNotices.start();
  });
  afterAll(async () => {
    await logoutNotices?.stop();
    await new Promise((resolve) => server?.close(resolve));
  });

  async function systemWithClient(name: string, backchannelLogoutUri: string | null = null) {
    const system = await makeSystem(db, { name });
    const { client: made, clientSecret } = await enableOidcClient(db, SYSTEM_ACTOR, system.id, { redirectUris: [redirectUri], backchannelLogoutUri });
    const config = await client.discovery(new URL(base), made.clientId, undefined, client.ClientSecretBasic(clientSecret), {
      execute: [client.allowInsecureRequests],
    });
    return { system, clientId: made.clientId, clientSecret, config };
  }

  /** The browser's part: the authorization request with PKCE, the console's session, and back to the system. */
  async function authorize(agent: TestAgent, config: client.Configuration, scope = "openid profile email groups") {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope,
      state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
    });
    let next = `${url.pathname}${url.search}`;
    for (let hop = 0; hop < 6; hop++) {
      const res = await agent.http.get(next).redirects(0);
      const location = res.headers.location ?? /^0; url=(.+)$/.exec(String(res.headers.refresh ?? ""))?.[1];
      if (!location) throw new Error(`${next} answered ${res.status} with nowhere to go: ${res.text.slice(0, 300)}`);
      const target = new URL(location, base);
      if (target.href.startsWith(redirectUri)) return { callback: target, verifier, state };
      next = `${target.pathname}${target.search}`;
    }
    throw new Error("too many hops");
  }

  it("publishes discovery at BASE_URL with the code flow, PKCE S256, the scopes and the permission claim", async () => {
    const res = await fetch(`${base}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const discovery = (await res.json()) as Record<string, unknown>;
    expect(discovery.issuer).toBe(base);
    expect(discovery.authorization_endpoint).toBe(`${base}/oidc/auth`);
    expect(discovery.response_types_supported).toEqual(["code"]);
    expect(discovery.code_challenge_methods_supported).toEqual(["S256"]);
    expect(discovery.scopes_supported).toEqual(expect.arrayContaining(["openid", "profile", "email", "groups"]));
    expect(discovery.claims_supported).toEqual(expect.arrayContaining(["gatehouse_permission", "groups", "preferred_username", "email_verified"]));
    expect(discovery.token_endpoint_auth_methods_supported).toEqual(["client_secret_basic", "client_secret_post"]);
    expect(discovery.id_token_signing_alg_values_supported).not.toContain("none");
  });

  it("signs a reader in: the ID token verifies against the JWKS and says who they are and read; userinfo agrees", async () => {
    const { config, clientId } = await systemWithClient("grafana");
    const reader = await buildUser(db, { username: "rita", fullName: "Rita Reader", email: "rita@example.test" });
    await db("users").where({ id: reader.id }).update({ email_verified: true });
    const team = await makeTeam(db, "storage", [reader]);
    const { system } = { system: await db("systems").where({ name: "grafana" }).first("id") };
    await grant(db, { kind: "team", id: team.id }, { kind: "system", id: Number(system.id) }, "read");

    const agent = await signedInAgent(app, reader);
    const { callback, verifier, state } = await authorize(agent, config);
    expect(callback.searchParams.get("error")).toBeNull();
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.expires_in).toBe(600);

    const { payload, protectedHeader } = await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(`${base}/oidc/jwks`)), {
      issuer: base,
      audience: clientId,
    });
    expect(protectedHeader.alg).toBe("RS256");
    expect(payload).toMatchObject({
      sub: String(reader.id),
      preferred_username: "rita",
      name: "Rita Reader",
      email: "rita@example.test",
      email_verified: true,
      groups: ["storage"],
      gatehouse_permission: "read",
    });
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, String(reader.id));
    expect(userinfo).toMatchObject({ sub: String(reader.id), preferred_username: "rita", groups: ["storage"], gatehouse_permission: "read" });

    const [event] = await accessEvents(db, "oidc.signed_in");
    expect(event).toMatchObject({ actorId: reader.id, targetLabel: "grafana" });
  });

  it("a writer gets read/write; an unverified address is not a claim; sub survives a rename", async () => {
    const { config, system } = await systemWithClient("proxmox");
    const writer = await buildUser(db, { username: "walt", email: "walt@example.test" });
    await grant(db, { kind: "user", id: writer.id }, { kind: "system", id: system.id }, "read/write");
    const agent = await signedInAgent(app, writer);
    const { callback, verifier, state } = await authorize(agent, config);
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    const claims = tokens.claims()!;
    expect(claims.gatehouse_permission).toBe("read/write");
    expect(claims.email).toBeUndefined();

    await db("users").where({ id: writer.id }).update({ username: "walter", username_key: "walter" });
    const again = await client.fetchUserInfo(config, tokens.access_token, String(writer.id));
    expect(again).toMatchObject({ sub: String(writer.id), preferred_username: "walter" });
  });

  it("someone without access comes back with access_denied and no code, and the refusal is audited", async () => {
    const { config } = await systemWithClient("portainer");
    const stranger = await buildUser(db, { username: "sam" });
    const agent = await signedInAgent(app, stranger);
    const { callback, state } = await authorize(agent, config);
    expect(callback.searchParams.get("error")).toBe("access_denied");
    expect(callback.searchParams.get("code")).toBeNull();
    expect(callback.searchParams.get("state")).toBe(state);
    const [event] = await accessEvents(db, "oidc.refused");
    expect(event).toMatchObject({ actorId: stranger.id, targetLabel: "portainer" });
    expect(event?.details).toMatchObject({ reason: "no_access" });
  });

  it("a refresh works while the grant lasts and is refused once it is gone; userinfo refuses at once", async () => {
    const { config, system } = await systemWithClient("gitea");
    const person = await buildUser(db, { username: "rhea" });
    await grant(db, { kind: "user", id: person.id }, { kind: "system", id: system.id }, "read");
    const agent = await signedInAgent(app, person);
    const { callback, verifier, state } = await authorize(agent, config);
    const first = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    const refreshed = await client.refreshTokenGrant(config, first.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();

    await db("user_system_grants").where({ user_id: person.id, system_id: system.id }).delete();
    await expect(client.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    await expect(client.fetchUserInfo(config, refreshed.access_token, String(person.id))).rejects.toBeTruthy();
    const [event] = await accessEvents(db, "oidc.refresh_refused");
    expect(event).toMatchObject({ actorId: person.id, targetLabel: "gitea" });
  });

  it("a second instance on the same database answers userinfo with a token from the first", async () => {
    const { config, system } = await systemWithClient("nas");
    const person = await buildUser(db, { username: "nina" });
    await grant(db, { kind: "user", id: person.id }, { kind: "system", id: system.id }, "read/write");
    const agent = await signedInAgent(app, person);
    const { callback, verifier, state } = await authorize(agent, config);
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });

    const other = createTestApp(db, { BASE_URL: base });
    const second = http.createServer((req, res) => other(req, res));
    await new Promise<void>((resolve) => second.listen(0, "127.0.0.1", resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(second.address() as AddressInfo).port}/oidc/me`, {
        headers: { Authorization: `Bearer ${tokens.access_token}` },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ sub: String(person.id), gatehouse_permission: "read/write" });
    } finally {
      await new Promise((resolve) => second.close(resolve));
    }
  });

  it("signing out everywhere ends what the systems hold: their refresh is refused and their access token stops", async () => {
    const { config, system } = await systemWithClient("everywhere");
    const person = await buildUser(db);
    await grant(db, { kind: "user", id: person.id }, { kind: "system", id: system.id }, "read");
    const agent = await signedInAgent(app, person);
    const { callback, verifier, state } = await authorize(agent, config);
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect((await client.fetchUserInfo(config, tokens.access_token, String(person.id))).sub).toBe(String(person.id));

    await agent.refreshToken("/profile/sessions");
    const ended = await agent.post("/profile/sessions/sign-out-everywhere");
    expect(ended.status).toBe(303);
    await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    await expect(client.fetchUserInfo(config, tokens.access_token, String(person.id))).rejects.toBeTruthy();
  });

  it("disabling a system's sign-in revokes what its client holds", async () => {
    const { config, system } = await systemWithClient("switched-off");
    const person = await buildUser(db);
    await grant(db, { kind: "user", id: person.id }, { kind: "system", id: system.id }, "read");
    const agent = await signedInAgent(app, person);
    const { callback, verifier, state } = await authorize(agent, config);
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    await disableOidcClient(db, SYSTEM_ACTOR, system.id);
    const left = await db("oidc_payloads").where({ client_id: config.clientMetadata().client_id }).count<{ n: string }[]>("* as n");
    expect(Number(left[0]?.n)).toBe(0);
    await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toBeTruthy();
  });

  it("a system's sign-out asks on Gatehouse's page; Sign out goes back to the system and ends the console's session and the tokens", async () => {
    const { config, system, clientId } = await systemWithClient("logout");
    const person = await buildUser(db);
    await grant(db, { kind: "user", id: person.id }, { kind: "system", id: system.id }, "read");
    const agent = await signedInAgent(app, person);
    const { callback, verifier, state } = await authorize(agent, config);
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });

    const query = new URLSearchParams({ client_id: clientId, post_logout_redirect_uri: redirectUri, state: "bye" });
    const page = await agent.http.get(`/oidc/session/end?${query}`).redirects(0);
    expect(page.status).toBe(200);
    expect(page.text).toContain("Sign out of Gatehouse?");
    expect(page.text).toContain("logout asks to sign you out.");
    // The form may lead on to the system's registered address, and nowhere else.
    expect(page.headers["content-security-policy"]).toContain("form-action 'self' http://127.0.0.1:9;");
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.text)?.[1] ?? "";

    const done = await agent.http.post("/oidc/session/end/confirm").type("form").send({ xsrf, logout: "yes" }).redirects(0);
    expect(done.status).toBe(303);
    expect(done.headers.location).toBe(`${redirectUri}?state=bye`);
    const console = await agent.http.get("/profile").set("Accept", "text/html").redirects(0);
    expect(console.status).toBe(303);
    expect(console.headers.location).toMatch(/^\/login/);
    await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
  });

  describe("back-channel logout", () => {
    const LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout";
    /** A system's back-channel logout address: it keeps what is posted to it and answers `status`. */
    async function logoutReceiver(status = 200) {
      const received: string[] = [];
      const receiver = { received, status, uri: "", close: () => new Promise((resolve) => listener.close(resolve)) };
      const listener = http.createServer((req, res) => {
        let body = "";
        req.on("data", (chunk: Buffer) => {
          body += chunk.toString("utf8");
        });
        req.on("end", () => {
          if (req.method === "POST" && req.headers["content-type"] === "application/x-www-form-urlencoded")
            received.push(new URLSearchParams(body).get("logout_token") ?? "");
          res.writeHead(receiver.status).end();
        });
      });
      await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
      receiver.uri = `http://127.0.0.1:${(listener.address() as AddressInfo).port}/logout`;
      return receiver;
    }

    /** Until `count` tokens have arrived (the sender runs every few seconds; runSoon asks it now). */
    async function tokensArrived(receiver: { received: string[] }, count: number): Promise<string[]> {
      for (let waited = 0; receiver.received.length < count && waited < 15_000; waited += 50) {
        logoutNotices.runSoon();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await logoutNotices.idle();
      return receiver.received;
    }

    /** A person signed in to a system with a back-channel address, and to one without; their tokens and ID tokens' sid. */
    async function signedInToTwo(name: string, receiverUri: string) {
      const withAddress = await systemWithClient(`${name}-a`, receiverUri);
      const without = await systemWithClient(`${name}-b`);
      const person = await buildUser(db);
      const agent = await signedInAgent(app, person);
      const sessions = [];
      for (const target of [withAddress, without]) {
        await grant(db, { kind: "user", id: person.id }, { kind: "system", id: target.system.id }, "read");
        const { callback, verifier, state } = await authorize(agent, target.config);
        sessions.push(await client.authorizationCodeGrant(target.config, callback, { pkceCodeVerifier: verifier, expectedState: state }));
      }
      const [first, second] = sessions;
      return { person, agent, withAddress, without, tokens: first!, otherTokens: second! };
    }

    async function verifiedLogoutToken(token: string, clientId: string) {
      const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(`${base}/oidc/jwks`)), {
        issuer: base,
        audience: clientId,
        typ: "logout+jwt",
      });
      expect(payload.events).toEqual({ [LOGOUT_EVENT]: {} });
      expect(payload).not.toHaveProperty("nonce");
      expect(typeof payload.jti).toBe("string");
      return { payload, protectedHeader };
    }

    it("the console's Sign out sends a signed logout token to the system with an address (a loopback one: private addresses are allowed), with the sid of its ID token; none to the other; both end", async () => {
      const receiver = await logoutReceiver();
      try {
        const { person, agent, withAddress, without, tokens, otherTokens } = await signedInToTwo("console-out", receiver.uri);
        const sid = tokens.claims()?.sid;
        expect(typeof sid).toBe("string");
        expect(otherTokens.claims()?.sid).toBeUndefined();

        expect((await agent.post("/logout")).status).toBe(303);
        const [token, ...more] = await tokensArrived(receiver, 1);
        expect(more).toEqual([]);
        const { payload } = await verifiedLogoutToken(token!, withAddress.clientId);
        expect(payload).toMatchObject({ sub: String(person.id), sid });
        expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBeLessThanOrEqual(120);
        await expect(client.refreshTokenGrant(withAddress.config, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
        await expect(client.refreshTokenGrant(without.config, otherTokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
        expect(Number((await db("oidc_logout_notices").count<{ n: string }[]>("* as n"))[0]?.n)).toBe(0);
      } finally {
        await receiver.close();
      }
    });

    it("disabling the person sends it too (the same path for signing out everywhere, a password change, deletion)", async () => {
      const receiver = await logoutReceiver(204);
      try {
        const { person, withAddress, tokens } = await signedInToTwo("disabled", receiver.uri);
        await db("users").where({ id: person.id }).update({ disabled: true });
        const [token] = await tokensArrived(receiver, 1);
        const { payload } = await verifiedLogoutToken(token!, withAddress.clientId);
        expect(payload).toMatchObject({ sub: String(person.id), sid: tokens.claims()?.sid });
      } finally {
        await receiver.close();
      }
    });

    it("the system's own sign-out (RP-initiated) sends one token, not two", async () => {
      const receiver = await logoutReceiver();
      try {
        const { agent, withAddress } = await signedInToTwo("rp-out", receiver.uri);
        const query = new URLSearchParams({ client_id: withAddress.clientId, post_logout_redirect_uri: redirectUri });
        const page = await agent.http.get(`/oidc/session/end?${query}`).redirects(0);
        const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.text)?.[1] ?? "";
        expect((await agent.http.post("/oidc/session/end/confirm").type("form").send({ xsrf, logout: "yes" }).redirects(0)).status).toBe(303);
        expect(receiver.received).toHaveLength(1);
        await verifiedLogoutToken(receiver.received[0]!, withAddress.clientId);
        // The console's session ended with it; that queues nothing more.
        logoutNotices.runSoon();
        await logoutNotices.idle();
        expect(receiver.received).toHaveLength(1);
      } finally {
        await receiver.close();
      }
    });

    it("a system that answers with an error is tried again later, and the reason is kept", async () => {
      const receiver = await logoutReceiver(500);
      try {
        const { agent, withAddress } = await signedInToTwo("failing", receiver.uri);
        await agent.post("/logout");
        await tokensArrived(receiver, 1);
        const [waiting] = await db("oidc_logout_notices").select("attempts", "last_error", db.raw("next_attempt_at > now() AS later"));
        expect(waiting).toMatchObject({ attempts: 1, later: true });
        expect(waiting.last_error).toContain("got: 500");

        receiver.status = 200;
        await db("oidc_logout_notices").update({ next_attempt_at: db.fn.now() });
        const [, token] = await tokensArrived(receiver, 2);
        await verifiedLogoutToken(token!, withAddress.clientId);
        expect(Number((await db("oidc_logout_notices").count<{ n: string }[]>("* as n"))[0]?.n)).toBe(0);
      } finally {
        await receiver.close();
      }
    });
  });

  describe("attacks", () => {
    it("a redirect URI that is not registered exactly is refused on Gatehouse's own page, never redirected to", async () => {
      const { clientId } = await systemWithClient("exact");
      const person = await buildUser(db);
      const agent = await signedInAgent(app, person);
      for (const uri of [`${redirectUri}/more`, `${redirectUri}?x=1`, "http://127.0.0.1:9/callbac", "https://evil.example/callback"]) {
        const query = new URLSearchParams({
          client_id: clientId,
          response_type: "code",
          scope: "openid",
          redirect_uri: uri,
          code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
          code_challenge_method: "S256",
        });
        const res = await agent.http.get(`/oidc/auth?${query}`).redirects(0);
        expect(res.status).toBe(400);
        expect(res.headers.location).toBeUndefined();
        expect(res.text).toContain("Sign-in could not continue");
      }
    });

    it("without PKCE, or with a plain challenge, no code is issued", async () => {
      const { clientId } = await systemWithClient("pkce");
      const person = await buildUser(db);
      const agent = await signedInAgent(app, person);
      for (const extra of [{}, { code_challenge: "x".repeat(43), code_challenge_method: "plain" }] as Record<string, string>[]) {
        const query = new URLSearchParams({ client_id: clientId, response_type: "code", scope: "openid", redirect_uri: redirectUri, ...extra });
        const res = await agent.http.get(`/oidc/auth?${query}`).redirects(0);
        const location = new URL(String(res.headers.location));
        expect(location.searchParams.get("error")).toBe("invalid_request");
        expect(location.searchParams.get("code")).toBeNull();
      }
    });

    it("a code works once: a second use is refused and revokes what the first gave; a wrong verifier gets nothing", async () => {
      const { config, system } = await systemWithClient("once");
      const person = await buildUser(db);
      await grant(db, { kind: "user", id: person.id }, { kind: "system", id: system.id }, "read");
      const agent = await signedInAgent(app, person);

      const wrong = await authorize(agent, config);
      await expect(
        client.authorizationCodeGrant(config, wrong.callback, { pkceCodeVerifier: client.randomPKCECodeVerifier(), expectedState: wrong.state }),
      ).rejects.toMatchObject({ error: "invalid_grant" });

      const { callback, verifier, state } = await authorize(agent, config);
      const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
      await expect(client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state })).rejects.toMatchObject({
        error: "invalid_grant",
      });
      await expect(client.fetchUserInfo(config, tokens.access_token, String(person.id))).rejects.toBeTruthy();
    });

    it("a code from one system's client is refused at another's; a wrong client secret is invalid_client", async () => {
      const first = await systemWithClient("first");
      const second = await systemWithClient("second");
      const person = await buildUser(db);
      await grant(db, { kind: "user", id: person.id }, { kind: "system", id: first.system.id }, "read");
      await grant(db, { kind: "user", id: person.id }, { kind: "system", id: second.system.id }, "read");
      const agent = await signedInAgent(app, person);
      const { callback, verifier, state } = await authorize(agent, first.config);
      await expect(client.authorizationCodeGrant(second.config, callback, { pkceCodeVerifier: verifier, expectedState: state })).rejects.toMatchObject({
        error: "invalid_grant",
      });

      const guessed = await client.discovery(new URL(base), first.clientId, undefined, client.ClientSecretPost("not-the-secret"), {
        execute: [client.allowInsecureRequests],
      });
      const again = await authorize(agent, first.config);
      await expect(client.authorizationCodeGrant(guessed, again.callback, { pkceCodeVerifier: again.verifier, expectedState: again.state })).rejects.toMatchObject({
        error: "invalid_client",
      });
    });

    it("client secrets guessed from one address are throttled like passwords: after 10 wrong ones, even the right one waits", async () => {
      const { clientId, clientSecret } = await systemWithClient("guessed");
      const token = (secret: string) =>
        fetch(`${base}/oidc/token`, {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: "x", client_id: clientId, client_secret: secret }),
        });
      const guess = async (i: number) => {
        const wrong = await token(`guess-${i}`);
        expect([wrong.status, ((await wrong.json()) as { error: string }).error]).toEqual([401, "invalid_client"]);
      };
      for (let i = 0; i < 9; i++) await guess(i);
      // A busy system's right secret, many requests at once, is never held back, nor counted as a guess.
      const busy = await Promise.all(Array.from({ length: 16 }, () => token(clientSecret)));
      expect(busy.map((res) => res.status)).toEqual(Array(16).fill(400));
      await guess(9);
      const held = await token(clientSecret);
      expect(held.status).toBe(429);
      expect(((await held.json()) as { error_description: string }).error_description).toContain("Too many wrong client secrets");
    });

    it("an expired code is refused; a refresh token taken to another system's client is refused", async () => {
      const first = await systemWithClient("expired-first");
      const second = await systemWithClient("expired-second");
      const person = await buildUser(db);
      await grant(db, { kind: "user", id: person.id }, { kind: "system", id: first.system.id }, "read");
      await grant(db, { kind: "user", id: person.id }, { kind: "system", id: second.system.id }, "read");
      const agent = await signedInAgent(app, person);

      const late = await authorize(agent, first.config);
      await db("oidc_payloads").where({ model: "AuthorizationCode", client_id: first.clientId }).update({ expires_at: db.raw("now() - interval '1 second'") });
      await expect(client.authorizationCodeGrant(first.config, late.callback, { pkceCodeVerifier: late.verifier, expectedState: late.state })).rejects.toMatchObject({
        error: "invalid_grant",
      });

      const { callback, verifier, state } = await authorize(agent, first.config);
      const tokens = await client.authorizationCodeGrant(first.config, callback, { pkceCodeVerifier: verifier, expectedState: state });
      await expect(client.refreshTokenGrant(second.config, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    });

    it("an unsigned request object (alg none) gets no code: request objects are not supported", async () => {
      const { clientId } = await systemWithClient("unsigned");
      const person = await buildUser(db);
      const agent = await signedInAgent(app, person);
      const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
      const request = `${part({ alg: "none", typ: "oauth-authz-req+jwt" })}.${part({
        iss: clientId,
        aud: base,
        client_id: clientId,
        response_type: "code",
        scope: "openid",
        redirect_uri: redirectUri,
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method: "S256",
      })}.`;
      const query = new URLSearchParams({ client_id: clientId, response_type: "code", scope: "openid", redirect_uri: redirectUri, request });
      const res = await agent.http.get(`/oidc/auth?${query}`).redirects(0);
      const location = res.headers.location ? new URL(String(res.headers.location), base) : undefined;
      expect(location?.searchParams.get("code") ?? null).toBeNull();
      // Request objects are not taken at all (signed or not): the system is told so, with no code.
      expect(location?.searchParams.get("error")).toBe("request_not_supported");
    });

    it("a disabled account's tokens stop at once and its next sign-in is refused", async () => {
      const { config, system } = await systemWithClient("disable");
      const person = await buildUser(db);
      await grant(db, { kind: "user", id: person.id }, { kind: "system", id: system.id }, "read");
      const agent = await signedInAgent(app, person);
      const { callback, verifier, state } = await authorize(agent, config);
      const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
      await db("users").where({ id: person.id }).update({ disabled: true });
      await expect(client.fetchUserInfo(config, tokens.access_token, String(person.id))).rejects.toBeTruthy();
      await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    });
  });
});
