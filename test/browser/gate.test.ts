import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grant, makeSystem } from "../helpers/access.ts";
import { buildUser } from "../helpers/factories.ts";
import { type RunningProxy, skipProxyTests, startNginx, startUpstream } from "../helpers/proxies.ts";
import { type BrowserHarness, expectNoAxeViolations, screenshot, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * A person opens a system's web address in a real Chromium: Debian's nginx in front of the system asks the gate,
 * the browser signs in to Gatehouse and comes back through the handshake, and the system's page opens; a revoked
 * grant turns the next load into Gatehouse's refusal page. Chromium resolves the test hostname to loopback.
 */
describe.skipIf(skipBrowserTests || skipProxyTests)("the gate in a browser, behind nginx", () => {
  let harness: BrowserHarness;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let nginx: RunningProxy;
  let page: Page;
  const password = "violet tractor summer 17";

  beforeAll(async () => {
    harness = await startHarness({ chromiumArgs: ["--host-resolver-rules=MAP nas.example.test 127.0.0.1"] });
    upstream = await startUpstream();
    nginx = await startNginx({ gatehousePort: Number(new URL(harness.baseUrl).port), upstreamPort: upstream.port, signInBase: harness.baseUrl });
  }, 60_000);
  afterAll(async () => {
    await nginx?.stop();
    await upstream?.close();
    await harness?.close();
  });

  it("signs in through Gatehouse and lands on the system's page; a revoked grant shows the refusal at the next load", async () => {
    await harness.reset();
    const site = `http://nas.example.test:${nginx.port}`;
    const nas = await makeSystem(harness.db, { name: "nas", webAddress: site });
    const rita = await buildUser(harness.db, { username: "rita", fullName: "Rita Reader", password });
    await grant(harness.db, { kind: "user", id: rita.id }, { kind: "system", id: nas.id }, "read");
    page = await (await harness.newContext()).newPage();

    await page.goto(`${site}/ui/dashboard`);
    // nginx sent the browser to Gatehouse, which asks for a sign-in first.
    await page.waitForURL((url) => url.origin === harness.baseUrl && url.pathname === "/login");
    await page.getByLabel(/^username$/i).fill("rita");
    await page.getByLabel(/^password$/i).fill(password);
    await page.getByRole("button", { name: /^sign in$/i }).click();

    // Back through the handshake to the address first asked for, now served by the system itself.
    await page.waitForURL(`${site}/ui/dashboard`);
    expect(await page.textContent("body")).toContain("upstream answered");
    expect(upstream.seen.at(-1)?.headers["remote-user"]).toBe("rita");
    expect(upstream.seen.at(-1)?.headers["remote-permission"]).toBe("read");
    const cookies = await page.context().cookies(site);
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite, c.domain])).toEqual([["gatehouse-gate", true, "Lax", "nas.example.test"]]);
    await screenshot(page, "gate-01-system-page");

    await harness.db("user_system_grants").where({ user_id: rita.id, system_id: nas.id }).delete();
    const refused = await page.reload();
    expect(refused?.status()).toBe(403);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Not allowed on nas");
    const said = (await page.textContent("body"))?.replace(/\s+/g, " ") ?? "";
    expect(said).toContain("You tried/ui/dashboard Your permissionnone It needsread ");
    expect(said).toContain("You have no permission on nas. Ask a Gatehouse administrator for read on it");
    await screenshot(page, "gate-02-refused");
    await expectNoAxeViolations(page, "the gate's refusal page");
  });
});
