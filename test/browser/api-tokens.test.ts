import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authenticateApiToken } from "../../src/services/api-tokens.ts";
import { createTestApiToken } from "../helpers/api-tokens.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import { testKeys } from "../helpers/mail.ts";
import { type BrowserHarness, checkPage, signIn, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * Personal API tokens on the Profile in a real browser: create one by the form's labels, see it once, revoke it
 * by its button's name; axe finds nothing on the pages along the way (light and dark).
 * Screenshots: test-results/screenshots/api-tokens-*.png.
 */
describe.skipIf(skipBrowserTests)("API tokens in the browser", () => {
  const password = "quiet harbour lantern 58";
  let harness: BrowserHarness;
  let page: Page;
  let token = "";
  let umaId: number;

  beforeAll(async () => {
    harness = await startHarness();
    await harness.reset();
    umaId = (await buildUser(harness.db, { username: "uma", fullName: "Uma Usher", password })).id;
    await buildAdmin(harness.db, { username: "ada", fullName: "Ada Lovelace", password });
    page = await (await harness.newContext()).newPage();
    await signIn(page, "uma", password);
  });

  afterAll(async () => {
    await harness?.close();
  });

  const section = () => page.locator("#api-tokens");
  const tokensTable = () => page.getByRole("table", { name: /your api tokens/i });

  it("the Profile's API tokens section: empty, with the Create token form; a missing name is named in the error summary; axe finds nothing", async () => {
    await page.goto("/profile");
    await expect(page.getByRole("heading", { level: 2, name: /^api tokens$/i }).isVisible()).resolves.toBe(true);
    await expect(section().getByText("You have no API tokens.").isVisible()).resolves.toBe(true);
    await expect(page.getByLabel("Expires").inputValue()).resolves.toBe("90");
    await checkPage(page, "api-tokens-profile-empty");

    await page.getByLabel("Name", { exact: true }).fill("   ");
    await Promise.all([page.waitForURL("**/profile/api-tokens"), page.getByRole("button", { name: /^create token$/i }).click()]);
    const summary = page.getByRole("alert").filter({ hasText: "There is a problem" });
    await expect(summary.textContent()).resolves.toContain("Enter a name for the token");
    await expect(page.getByLabel("Name", { exact: true }).getAttribute("aria-invalid")).resolves.toBe("true");
    await checkPage(page, "api-tokens-profile-error");
  });

  it("Create token shows the new token once, on its own page; axe finds nothing", async () => {
    await page.goto("/profile");
    await page.getByLabel("Name", { exact: true }).fill("deploy bot");
    await page.getByLabel("Expires").selectOption({ label: "30 days" });
    await Promise.all([page.waitForURL("**/profile/api-tokens/new"), page.getByRole("button", { name: /^create token$/i }).click()]);
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("Your new API token");
    token = await page.getByLabel("Token", { exact: true }).inputValue();
    expect(token).toMatch(/^gh_[A-Za-z0-9_-]{43}$/);
    await expect(page.getByRole("status").first().textContent()).resolves.toContain("this page is the only time it is shown");
    await checkPage(page, "api-tokens-created");
    expect((await authenticateApiToken(harness.db, testKeys, token))?.user.username).toBe("uma");

    await Promise.all([page.waitForURL("**/profile#api-tokens"), page.getByRole("link", { name: /i have copied my token/i }).click()]);
    const row = tokensTable().locator("tbody tr");
    expect(await row.count()).toBe(1);
    await expect(row.first().textContent()).resolves.toContain("deploy bot");
    await expect(row.first().textContent()).resolves.toContain(`${token.slice(0, 11)}…`);
    await expect(row.first().textContent()).resolves.toContain("Active");
    expect(await page.content()).not.toContain(token);
    await checkPage(page, "api-tokens-profile-list");
  });

  it("the token page a second time no longer has the token, and says why", async () => {
    await page.goto("/profile/api-tokens/new");
    expect(new URL(page.url()).pathname).toBe("/profile");
    expect(await page.content()).not.toContain(token);
    await expect(page.getByRole("status").textContent()).resolves.toContain("An API token is shown only once");
  });

  it("Revoke, reached by keyboard, ends the token: marked Revoked, no button, refused from then on", async () => {
    await page.goto("/profile");
    const button = page.getByRole("button", { name: /^revoke token deploy bot/i });
    await expect(button.isVisible()).resolves.toBe(true);
    await button.focus();
    await Promise.all([page.waitForURL("**/profile#api-tokens"), page.keyboard.press("Enter")]);
    await expect(page.getByRole("status").textContent()).resolves.toContain(`API token deploy bot (${token.slice(0, 11)}…) revoked.`);
    await expect(tokensTable().locator("tbody tr").first().textContent()).resolves.toContain("Revoked");
    expect(await page.getByRole("button", { name: /^revoke/i }).count()).toBe(0);
    expect(await authenticateApiToken(harness.db, testKeys, token)).toBeUndefined();
    await checkPage(page, "api-tokens-profile-revoked");
  });

  it("an administrator sees the user's active tokens and revokes them all with Revoke API tokens; axe finds nothing", async () => {
    const first = await createTestApiToken(harness.db, { id: umaId, username: "uma" }, { name: "nightly export" });
    await createTestApiToken(harness.db, { id: umaId, username: "uma" }, { name: "monitoring", expiresInDays: null });
    const admin = await (await harness.newContext()).newPage();
    await signIn(admin, "ada", password);
    await admin.goto(`/admin/users/${umaId}`);
    await expect(admin.getByText("uma has 2 active API tokens.").isVisible()).resolves.toBe(true);
    await checkPage(admin, "api-tokens-admin-user");
    await Promise.all([admin.waitForURL(`**/admin/users/${umaId}#api-tokens`), admin.getByRole("button", { name: /^revoke api tokens$/i }).click()]);
    await expect(admin.getByRole("status").textContent()).resolves.toContain("Revoked 2 API tokens of uma.");
    await expect(admin.getByText("uma has no active API tokens.").isVisible()).resolves.toBe(true);
    expect(await authenticateApiToken(harness.db, testKeys, first)).toBeUndefined();
    await checkPage(admin, "api-tokens-admin-user-revoked");
  });
});
