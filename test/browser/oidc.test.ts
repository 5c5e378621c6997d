import http from "node:http";
import type { AddressInfo } from "node:net";
import * as client from "openid-client";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { enableOidcClient } from "../../src/services/oidc-clients.ts";
import { grant, makeSystem } from "../helpers/access.ts";
import { buildUser } from "../helpers/factories.ts";
import { type BrowserHarness, expectNoAxeViolations, screenshot, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * A system that signs people in with Gatehouse, in a real Chromium: a small relying party (openid-client, on a
 * loopback port) sends the browser to Gatehouse, the person signs in on the console's own form, and the browser comes
 * back to the system with a code, which the system exchanges for the person's claims and shows.
 */
describe.skipIf(skipBrowserTests)("Sign in with Gatehouse in a browser", () => {
  let harness: BrowserHarness;
  let rp: http.Server;
  let rpOrigin = "";
  let config: client.Configuration | undefined;
  const pending = new Map<string, string>();
  const password = "amber kettle harbour 42";

  beforeAll(async () => {
    harness = await startHarness();
    rp = http.createServer((req, res) => {
      void answer(req, res).catch((error: unknown) => res.writeHead(500, { "Content-Type": "text/plain" }).end(String(error)));
    });
    await new Promise<void>((resolve) => rp.listen(0, "127.0.0.1", resolve));
    rpOrigin = `http://127.0.0.1:${(rp.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(async () => {
    rp?.closeAllConnections();
    await new Promise((resolve) => rp?.close(resolve));
    await harness?.close();
  });

  /** The system: /start sends the browser to Gatehouse; /callback shows the claims it got, or the error. */
  async function answer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", rpOrigin);
    if (!config) throw new Error("no client yet");
    if (url.pathname === "/start") {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      pending.set(state, verifier);
      const target = client.buildAuthorizationUrl(config, {
        redirect_uri: `${rpOrigin}/callback`,
        scope: "openid profile email groups",
        state,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: "S256",
      });
      res.writeHead(302, { Location: target.href }).end();
      return;
    }
    const error = url.searchParams.get("error");
    const state = url.searchParams.get("state") ?? "";
    const html = (body: string): void => {
      res.writeHead(200, { "Content-Type": "text/html" }).end(`<!doctype html><title>system</title><main>${body}</main>`);
    };
    if (error) {
      html(`<h1>Refused</h1><p id="error">${error}</p>`);
      return;
    }
    if (!url.searchParams.get("code")) {
      html(`<h1>Signed out</h1>`);
      return;
    }
    const tokens = await client.authorizationCodeGrant(config, url, { pkceCodeVerifier: pending.get(state) ?? "", expectedState: state });
    const claims: Record<string, unknown> = tokens.claims() ?? {};
    html(`<h1>Signed in</h1><p id="who">${claims.preferred_username}</p><p id="permission">${claims.gatehouse_permission}</p>`);
  }

  async function systemSignInFor(name: string) {
    const system = await makeSystem(harness.db, { name });
    const { client: made, clientSecret } = await enableOidcClient(harness.db, SYSTEM_ACTOR, system.id, { redirectUris: [`${rpOrigin}/callback`] });
    config = await client.discovery(new URL(harness.baseUrl), made.clientId, undefined, client.ClientSecretPost(clientSecret), {
      execute: [client.allowInsecureRequests],
    });
    return system;
  }

  async function signInAt(page: Page, username: string): Promise<void> {
    await page.goto(`${rpOrigin}/start`);
    await page.waitForURL((url) => url.origin === harness.baseUrl && url.pathname === "/login");
    await page.getByLabel(/^username$/i).fill(username);
    await page.getByLabel(/^password$/i).fill(password);
    await page.getByRole("button", { name: /^sign in$/i }).click();
    await page.waitForURL((url) => url.origin === rpOrigin && url.pathname === "/callback");
  }

  it("signs a reader in on Gatehouse's own form and hands the system who they are and read", async () => {
    await harness.reset();
    const grafana = await systemSignInFor("grafana");
    const rita = await buildUser(harness.db, { username: "rita", password });
    await grant(harness.db, { kind: "user", id: rita.id }, { kind: "system", id: grafana.id }, "read");
    const page = await (await harness.newContext()).newPage();

    await signInAt(page, "rita");
    expect(await page.locator("#who").textContent()).toBe("rita");
    expect(await page.locator("#permission").textContent()).toBe("read");
    await screenshot(page, "oidc-01-signed-in");

    // Signed in to Gatehouse now: the next sign-in to the system needs no page at all.
    await page.goto(`${rpOrigin}/start`);
    await page.waitForURL((url) => url.origin === rpOrigin && url.pathname === "/callback");
    expect(await page.locator("#who").textContent()).toBe("rita");

    // The system's Sign out asks on Gatehouse's page; Sign out leads back to the system, signed out of Gatehouse.
    const logout = new URLSearchParams({ client_id: String(config?.clientMetadata().client_id), post_logout_redirect_uri: `${rpOrigin}/callback`, state: "bye" });
    await page.goto(`${harness.baseUrl}/oidc/session/end?${logout}`);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Sign out of Gatehouse?");
    await expectNoAxeViolations(page, "the sign-out page");
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await page.waitForURL((url) => url.origin === rpOrigin && url.searchParams.get("state") === "bye");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Signed out");
    await page.goto(`${harness.baseUrl}/profile`);
    await page.waitForURL((url) => url.pathname === "/login");
  });

  it("someone without access comes back to the system refused; a bad redirect URI gets Gatehouse's own page", async () => {
    await harness.reset();
    await systemSignInFor("proxmox");
    await buildUser(harness.db, { username: "sam", password });
    const page = await (await harness.newContext()).newPage();

    await signInAt(page, "sam");
    expect(await page.locator("#error").textContent()).toBe("access_denied");

    const wrong = new URLSearchParams({
      client_id: String(config?.clientMetadata().client_id),
      response_type: "code",
      scope: "openid",
      redirect_uri: "https://evil.example/callback",
      code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
      code_challenge_method: "S256",
    });
    const refused = await page.goto(`${harness.baseUrl}/oidc/auth?${wrong}`);
    expect(refused?.status()).toBe(400);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Sign-in could not continue");
    await screenshot(page, "oidc-02-bad-redirect");
    await expectNoAxeViolations(page, "the OpenID Connect error page");
  });
});
