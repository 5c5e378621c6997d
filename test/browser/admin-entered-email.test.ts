import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BrowserHarness, checkPage, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * A fresh install has no mail server: the first administrator's first task, creating a user with an email
 * address, saves it unverified and says so (docs/domain.md, "Email and verification"). Fields by label, buttons
 * and links by their text; axe on each page, light and dark.
 */
describe.skipIf(skipBrowserTests)("an address entered by an administrator on a fresh install", () => {
  let harness: BrowserHarness;
  let page: Page;

  beforeAll(async () => {
    harness = await startHarness();
  });

  afterAll(async () => {
    await harness?.close();
  });

  const text = async (locator: ReturnType<Page["locator"]>) => ((await locator.textContent()) ?? "").replace(/\s+/g, " ").trim();

  it("the administrator creates a user with an email without mail configured: saved, and the list and the page show it unverified", async () => {
    const password = "quiet harbour lantern 58";
    page = await (await harness.newContext()).newPage();

    await page.goto("/");
    await page.waitForURL("**/setup");
    await page.getByLabel(/^username$/i).fill("root.admin");
    await page.getByLabel(/^password$/i).fill(password);
    await page.getByLabel(/^confirm password$/i).fill(password);
    await page.getByRole("button", { name: /create administrator/i }).click();
    // Setup signs the administrator in.
    await page.waitForURL((url) => url.pathname === "/");

    await page.goto("/admin/users/new");
    await page.getByLabel(/^username$/i).fill("bob");
    await page.getByLabel(/^full name$/i).fill("Bob Builder");
    await page.getByLabel(/^email$/i).fill("bob@example.com");
    await page.getByLabel(/^password$/i).fill("violet tractor summer 17");
    await page.getByLabel(/^confirm password$/i).fill("violet tractor summer 17");
    await page.getByRole("button", { name: /^create user$/i }).click();

    // The user's page: created, the address kept unverified, why no code went out and where to set up mail.
    await page.waitForURL(/\/admin\/users\/\d+$/);
    const status = await text(page.getByRole("status"));
    expect(status).toContain("User bob created.");
    expect(status).toContain(
      "bob@example.com is saved unverified. No confirmation code was sent: email is not configured. Set up the mail server under Settings › Alert Services",
    );
    const emailStatus = page.locator("dl.facts dt", { hasText: /^Email status$/ }).locator("xpath=following-sibling::dd[1]");
    expect(await text(emailStatus)).toMatch(/^Unverified/);
    const sendCode = page.getByRole("button", { name: "Send confirmation code" });
    expect(await sendCode.isVisible()).toBe(true);
    expect(await page.getByRole("link", { name: "Settings › Alert Services" }).getAttribute("href")).toBe("/admin/settings/smtp");
    await checkPage(page, "admin-email-01-user-unverified");

    // Pressing it without mail says so, names where to fix it, and changes nothing.
    await sendCode.click();
    await page.waitForURL(/\/admin\/users\/\d+#email-confirmation$/);
    expect(await text(page.getByRole("status"))).toContain(
      "No confirmation code was sent: email is not configured. Set up the mail server under Settings › Alert Services",
    );
    expect(await text(emailStatus)).toMatch(/^Unverified/);

    // The list: the address with the word "unverified" next to it, not a colour alone.
    await page.goto("/admin/users");
    const bobRow = page.getByRole("row").filter({ has: page.getByRole("link", { name: "bob", exact: true }) });
    const emailCell = bobRow.getByRole("cell").nth(2);
    expect(await text(emailCell)).toBe("bob@example.com unverified");
    const rootRow = page.getByRole("row").filter({ has: page.getByRole("link", { name: "root.admin", exact: true }) });
    expect(await text(rootRow.getByRole("cell").nth(2))).toBe("");
    await checkPage(page, "admin-email-02-list-unverified");
  });
});
