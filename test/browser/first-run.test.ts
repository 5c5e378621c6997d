import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAdmin } from "../helpers/factories.ts";
import { type BrowserHarness, COLOUR_RULES, expectNoAxeViolations, screenshot, signIn, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * The foundation, end to end in a real browser: first run → setup (signed in) → create a user → sign out →
 * that user signs in and has no administration. Fields are found by label, buttons and links by their text.
 */
describe.skipIf(skipBrowserTests)("the foundation in the browser", () => {
  let harness: BrowserHarness;
  let page: Page;

  beforeAll(async () => {
    harness = await startHarness();
  });

  afterAll(async () => {
    await harness?.close();
  });

  const heading = () => page.getByRole("heading", { level: 1 });
  const mainNav = () => page.getByRole("navigation", { name: "Main" });
  const status = () => page.getByRole("status");
  const adminPassword = "quiet harbour lantern 58";

  it("first run: sets up the first administrator, who creates a user without administration rights", async () => {
    const userPassword = "violet tractor summer 17";
    const bobsOwnPassword = "copper kettle on the stove 17";
    page = await (await harness.newContext()).newPage();

    // A fresh database: every page leads to /setup.
    await page.goto("/");
    await page.waitForURL("**/setup");
    expect(await heading().textContent()).toMatch(/set up gatehouse/i);
    await screenshot(page, "flow-01-setup");

    await page.getByLabel(/^username$/i).fill("root.admin");
    await page.getByLabel(/^password$/i).fill(adminPassword);
    await page.getByLabel(/^confirm password$/i).fill(adminPassword);
    await page.getByRole("button", { name: /create administrator/i }).click();

    // Signed in at once: the console's home, with a success message (no second typing of the password).
    await page.waitForURL((url) => url.pathname === "/");
    expect(await status().textContent()).toMatch(/administrator root\.admin created\. you are signed in/i);
    expect(await heading().textContent()).toMatch(/welcome, root\.admin/i);
    await screenshot(page, "flow-02-home-after-setup");
    await expectNoAxeViolations(page, "home after setup, with its message");

    // Setup is closed for good now.
    await page.goto("/setup");
    await page.waitForURL((url) => url.pathname === "/");
    await screenshot(page, "flow-03-home-admin");

    // Users, through the header navigation.
    await mainNav().getByRole("link", { name: /^users$/i }).click();
    await page.waitForURL((url) => url.pathname === "/admin/users");
    expect(await heading().textContent()).toMatch(/^users$/i);
    await screenshot(page, "flow-04-users");

    await page.getByRole("link", { name: /^new user$/i }).click();
    await page.waitForURL("**/admin/users/new");
    expect(await heading().textContent()).toMatch(/new user/i);

    await page.getByLabel(/^username$/i).fill("bob");
    await page.getByLabel(/^full name$/i).fill("Bob Builder");
    await page.getByLabel(/^title$/i).fill("Builder");
    await page.getByLabel(/^password$/i).fill(userPassword);
    await page.getByLabel(/^confirm password$/i).fill(userPassword);
    await screenshot(page, "flow-05-new-user-filled");
    await page.getByRole("button", { name: /^create user$/i }).click();

    // The new user's page.
    await page.waitForURL(/\/admin\/users\/\d+$/);
    expect(await heading().textContent()).toMatch(/user bob/i);
    expect(await status().textContent()).toMatch(/user bob created/i);
    expect(await page.getByLabel(/^full name$/i).inputValue()).toBe("Bob Builder");
    expect(await page.getByLabel(/^title$/i).inputValue()).toBe("Builder");
    expect(await page.getByRole("switch", { name: /administrator/i }).isChecked()).toBe(false);
    await screenshot(page, "flow-06-user-bob");

    // Sign out (a POST form in the header).
    await page.getByRole("button", { name: /^sign out$/i }).click();
    await page.waitForURL("**/login");
    expect(await mainNav().getByRole("button", { name: /sign out/i }).count()).toBe(0);

    // Sign in as the new user: the password the administrator set is temporary, so bob chooses his own first
    // (test/browser/administrator-set-password.test.ts follows that page closely).
    await page.getByLabel(/^username$/i).fill("BOB"); // sign-in ignores case
    await page.getByLabel(/^password$/i).fill(userPassword);
    await page.getByRole("button", { name: /^sign in$/i }).click();
    await page.waitForURL((url) => url.pathname === "/login/new-password");
    await page.getByLabel("New password", { exact: true }).fill(bobsOwnPassword);
    await page.getByLabel("Confirm new password", { exact: true }).fill(bobsOwnPassword);
    await page.getByRole("button", { name: "Set new password" }).click();
    await page.waitForURL((url) => url.pathname === "/login");

    // Then with his own: no administration.
    await page.getByLabel(/^username$/i).fill("bob");
    await page.getByLabel(/^password$/i).fill(bobsOwnPassword);
    await page.getByRole("button", { name: /^sign in$/i }).click();
    await page.waitForURL((url) => url.pathname === "/");
    expect(await heading().textContent()).toMatch(/welcome, bob builder/i);
    expect(await mainNav().getByRole("link", { name: /^users$/i }).count()).toBe(0);
    expect(await page.getByRole("link", { name: /^users$/i }).count()).toBe(0);
    await screenshot(page, "flow-07-home-user");

    const response = await page.goto("/admin/users");
    expect(response?.status()).toBe(403);
    expect(await heading().textContent()).toMatch(/forbidden/i);
    expect(await page.getByRole("table").count()).toBe(0);
    await screenshot(page, "flow-08-users-forbidden");
  });

  it("the New user form shows an error summary, marks the bad fields, keeps typed values and empties the passwords", async () => {
    await harness.reset();
    await buildAdmin(harness.db, { username: "ada", fullName: "Ada Admin", password: adminPassword });
    page = await (await harness.newContext()).newPage();
    await signIn(page, "ada", adminPassword);
    await page.goto("/admin/users/new");
    await page.getByLabel(/^username$/i).fill("carol");
    await page.getByLabel(/^full name$/i).fill("Carol <b>Example</b>");
    await page.getByLabel(/^title$/i).fill("Storage lead");
    await page.getByLabel(/^email$/i).fill("not-an-email");
    await page.getByLabel(/^password$/i).fill("short");
    await page.getByLabel(/^confirm password$/i).fill("short");
    await page.getByRole("button", { name: /^create user$/i }).click();
    await page.waitForURL((url) => url.pathname === "/admin/users");

    const summary = page.getByRole("alert");
    expect(await summary.textContent()).toMatch(/there is a problem/i);
    expect(await summary.textContent()).toContain("Enter an email address like name@example.com.");
    // The summary links to the field, and the script focuses the summary for screen readers.
    expect(await summary.getByRole("link", { name: /email address/i }).getAttribute("href")).toBe("#email");
    expect(await page.locator("[role=alert]:focus").count()).toBe(1);

    const email = page.getByLabel(/^email$/i);
    expect(await email.getAttribute("aria-invalid")).toBe("true");
    expect(await email.getAttribute("aria-describedby")).toContain("email-error");
    expect(await page.locator("#email-error").textContent()).toContain("Enter an email address like name@example.com.");

    // Every typed value is kept (and escaped, not interpreted), except the passwords.
    expect(await page.getByLabel(/^username$/i).inputValue()).toBe("carol");
    expect(await page.getByLabel(/^full name$/i).inputValue()).toBe("Carol <b>Example</b>");
    expect(await page.getByLabel(/^title$/i).inputValue()).toBe("Storage lead");
    expect(await email.inputValue()).toBe("not-an-email");
    expect(await page.getByLabel(/^password$/i).inputValue()).toBe("");
    expect(await page.getByLabel(/^confirm password$/i).inputValue()).toBe("");
    await screenshot(page, "form-01-new-user-bad-email");

    // Following the summary's link moves focus to the field.
    await summary.getByRole("link", { name: /email address/i }).click();
    expect(await page.locator("#email:focus").count()).toBe(1);

    // Clear the email (a fresh install has no mail server to confirm it with); the too-short password is named next.
    await email.fill("");
    await page.getByLabel(/^password$/i).fill("short");
    await page.getByLabel(/^confirm password$/i).fill("short");
    await page.getByRole("button", { name: /^create user$/i }).click();
    await page.waitForURL((url) => url.pathname === "/admin/users");
    expect(await page.getByRole("alert").textContent()).toMatch(/password must be at least 12 characters/i);
    const password = page.getByLabel(/^password$/i);
    expect(await password.getAttribute("aria-invalid")).toBe("true");
    expect(await password.getAttribute("aria-describedby")).toContain("password-error");
    expect(await password.inputValue()).toBe("");
    expect(await page.getByLabel(/^email$/i).getAttribute("aria-invalid")).toBeNull();
    expect(await page.getByLabel(/^email$/i).inputValue()).toBe("");
    expect(await page.getByLabel(/^full name$/i).inputValue()).toBe("Carol <b>Example</b>");
    await screenshot(page, "form-02-new-user-short-password");

    // Mismatched confirmation names the Confirm password field.
    await page.getByLabel(/^password$/i).fill("violet tractor summer 17");
    await page.getByLabel(/^confirm password$/i).fill("violet tractor summer 71");
    await page.getByRole("button", { name: /^create user$/i }).click();
    await page.waitForURL((url) => url.pathname === "/admin/users");
    expect(await page.getByRole("alert").textContent()).toMatch(/does not match/i);
    expect(await page.getByLabel(/^confirm password$/i).getAttribute("aria-invalid")).toBe("true");

    // Finally it goes through.
    await page.getByLabel(/^password$/i).fill("violet tractor summer 17");
    await page.getByLabel(/^confirm password$/i).fill("violet tractor summer 17");
    await page.getByRole("button", { name: /^create user$/i }).click();
    await page.waitForURL(/\/admin\/users\/\d+$/);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toMatch(/user carol/i);
    expect(await page.getByRole("alert").count()).toBe(0);
  });

  it("works by keyboard alone: the skip link, then signing in without the mouse", async () => {
    await harness.reset();
    await buildAdmin(harness.db, { username: "ada", fullName: "Ada Admin", password: adminPassword });
    const keyboard = await (await harness.newContext()).newPage();
    await keyboard.goto("/login");
    await keyboard.keyboard.press("Tab");
    expect(await keyboard.locator("a.skip-link:focus").count()).toBe(1);
    expect(await keyboard.locator("a.skip-link").textContent()).toMatch(/skip to main content/i);
    // Shown on focus, on a solid surface (it covers the brand link under it; axe cannot judge overlapping text).
    const skipLinkBackground = await keyboard.evaluate<string>("getComputedStyle(document.activeElement).backgroundColor");
    expect(skipLinkBackground).not.toMatch(/^(transparent|rgba\(0, 0, 0, 0\))$/);
    await screenshot(keyboard, "keyboard-01-skip-link");
    await expectNoAxeViolations(keyboard, "skip link focused", COLOUR_RULES);
    await keyboard.emulateMedia({ colorScheme: "dark" });
    await screenshot(keyboard, "keyboard-01-skip-link-dark");
    await expectNoAxeViolations(keyboard, "skip link focused, dark", COLOUR_RULES);
    await keyboard.emulateMedia({ colorScheme: "light" });
    expect(await keyboard.locator("a.skip-link:focus").count()).toBe(1);
    await keyboard.keyboard.press("Enter");
    expect(await keyboard.locator("main:focus").count()).toBe(1);

    await keyboard.keyboard.press("Tab");
    expect(await keyboard.locator("#username:focus").count()).toBe(1);
    await keyboard.keyboard.type("ada");
    await keyboard.keyboard.press("Tab");
    expect(await keyboard.locator("#password:focus").count()).toBe(1);
    await keyboard.keyboard.type(adminPassword);
    await screenshot(keyboard, "keyboard-02-password-focused");
    await keyboard.keyboard.press("Enter");
    await keyboard.waitForURL((url) => url.pathname === "/");
    expect(await keyboard.getByRole("heading", { level: 1 }).textContent()).toMatch(/welcome, ada admin/i);
  });
});
