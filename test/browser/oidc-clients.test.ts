import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RANDOM_TOKEN } from "../../src/lib/secret-box.ts";
import { makeSystem } from "../helpers/access.ts";
import { buildAdmin } from "../helpers/factories.ts";
import { type BrowserHarness, checkPage, signIn, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * Sign in with Gatehouse on a system's administration page in a real browser, by labels and button names: a bad
 * redirect URI is named, enabling shows the Client ID and the Client secret once, rotating and disabling go through
 * their confirmation pages. Axe finds nothing on any of them (light and dark).
 * Screenshots: test-results/screenshots/oidc-client-*.png.
 */
describe.skipIf(skipBrowserTests)("Sign in with Gatehouse in the browser", () => {
  const password = "amber lighthouse morning 93";
  let harness: BrowserHarness;
  let page: Page;
  let systemPath = "";

  beforeAll(async () => {
    harness = await startHarness();
    await harness.reset();
    await buildAdmin(harness.db, { username: "ada", password });
    systemPath = `/admin/systems/${(await makeSystem(harness.db, { name: "grafana" })).id}`;
    page = await (await harness.newContext()).newPage();
    await signIn(page, "ada", password);
  });

  afterAll(async () => {
    await harness?.close();
  });

  const section = () => page.locator("#sign-in");

  it("off: the section offers Redirect URIs and Enable sign-in; a bad URI is named and kept", async () => {
    await page.goto(systemPath);
    await expect(section().getByRole("heading", { level: 2 }).textContent()).resolves.toBe("Sign in with Gatehouse");
    await checkPage(page, "oidc-client-off");

    await page.getByLabel("Redirect URIs").fill("http://grafana.example.com/login/generic_oauth");
    await Promise.all([page.waitForURL(`**${systemPath}/oidc-client`), page.getByRole("button", { name: /^enable sign-in$/i }).click()]);
    const summary = page.getByRole("alert").filter({ hasText: "There is a problem" });
    await expect(summary.textContent()).resolves.toContain("Redirect URIs: ");
    await expect(page.getByLabel("Redirect URIs").getAttribute("aria-invalid")).resolves.toBe("true");
    await expect(page.getByLabel("Redirect URIs").inputValue()).resolves.toBe("http://grafana.example.com/login/generic_oauth");
    await checkPage(page, "oidc-client-error");
  });

  it("Enable sign-in shows the Client ID and the Client secret once; the page then shows the client without it", async () => {
    await page.getByLabel("Redirect URIs").fill("https://grafana.example.com/login/generic_oauth");
    await Promise.all([page.waitForURL(`**${systemPath}/oidc-client`), page.getByRole("button", { name: /^enable sign-in$/i }).click()]);
    const clientId = await page.getByLabel("Client ID").inputValue();
    const secret = await page.getByLabel("Client secret").inputValue();
    expect(clientId).toMatch(/^gh-/);
    expect(secret).toMatch(RANDOM_TOKEN);
    await expect(page.getByLabel("Client secret").getAttribute("readonly")).resolves.toBe("");
    await checkPage(page, "oidc-client-enabled");

    await page.getByRole("link", { name: "I have copied the secret" }).click();
    await page.waitForURL(`**${systemPath}#sign-in`);
    await expect(section().getByLabel("Client ID").inputValue()).resolves.toBe(clientId);
    expect(await page.content()).not.toContain(secret);
    await checkPage(page, "oidc-client-on");
  });

  it("Rotate secret and Disable sign-in each ask first", async () => {
    await section().getByRole("button", { name: "Rotate secret" }).click();
    await page.waitForURL(`**${systemPath}/oidc-client/rotate*`);
    await checkPage(page, "oidc-client-rotate");
    await Promise.all([page.waitForLoadState("load"), page.getByRole("button", { name: "Rotate secret" }).click()]);
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("New client secret for grafana");
    expect(await page.getByLabel("Client secret").inputValue()).toMatch(RANDOM_TOKEN);

    await page.goto(systemPath);
    await section().getByRole("button", { name: "Disable sign-in" }).click();
    await page.waitForURL(`**${systemPath}/oidc-client/disable*`);
    await checkPage(page, "oidc-client-disable");
    await Promise.all([page.waitForURL(`**${systemPath}#sign-in`), page.getByRole("button", { name: "Disable sign-in" }).click()]);
    await expect(page.getByRole("status").first().textContent()).resolves.toContain("Sign in with Gatehouse disabled for grafana");
    await expect(section().getByRole("button", { name: /^enable sign-in$/i }).isVisible()).resolves.toBe(true);
  });
});
