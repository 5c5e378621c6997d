import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import { sessionCountOf } from "../helpers/sign-in.ts";
import { type BrowserHarness, checkPage, signIn, skipBrowserTests, startHarness } from "./browser.ts";

const FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const SAFARI_IOS =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/**
 * The Sessions section of the Profile and the administrator's End sessions, in a real browser: axe finds
 * nothing on either page with several sessions listed, and the buttons work by their accessible names.
 * Screenshots: test-results/screenshots/sessions-*.png.
 */
describe.skipIf(skipBrowserTests)("session management in the browser", () => {
  const password = "quiet harbour lantern 58";
  let harness: BrowserHarness;
  let userId: number;
  let adminId: number;
  let uma: Page;
  let firefox: Page;
  let iphone: Page;
  let admin: Page;
  const ownContexts: BrowserContext[] = [];

  /** A browser context that presents itself with this User-Agent (the harness's own contexts are headless Chrome). */
  async function pageAs(userAgent: string): Promise<Page> {
    const context = await harness.browser.newContext({ baseURL: harness.baseUrl, userAgent, colorScheme: "light", viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(10_000);
    ownContexts.push(context);
    return context.newPage();
  }

  beforeAll(async () => {
    harness = await startHarness();
    await harness.reset();
    adminId = (await buildAdmin(harness.db, { username: "ada", fullName: "Ada Lovelace", password })).id;
    userId = (await buildUser(harness.db, { username: "uma", fullName: "Uma Usher", password })).id;
    uma = await (await harness.newContext()).newPage();
    await signIn(uma, "uma", password);
    firefox = await pageAs(FIREFOX_LINUX);
    await signIn(firefox, "uma", password);
    iphone = await pageAs(SAFARI_IOS);
    await signIn(iphone, "uma", password);
    admin = await (await harness.newContext()).newPage();
    await signIn(admin, "ada", password);
  });

  afterAll(async () => {
    await Promise.allSettled(ownContexts.map((c) => c.close()));
    await harness?.close();
  });

  const sessionsTable = (page: Page) => page.getByRole("table", { name: /your sessions/i });

  it("/profile lists three sessions, marks this one, names each Sign out button; axe finds nothing", async () => {
    const response = await uma.goto("/profile");
    expect(response?.status()).toBe(200);
    await expect(uma.getByRole("heading", { level: 2, name: /^sessions$/i }).isVisible()).resolves.toBe(true);
    expect(await sessionsTable(uma).locator("tbody tr").count()).toBe(3);
    expect(await sessionsTable(uma).getByText("This session", { exact: true }).count()).toBe(1);
    await expect(uma.getByRole("button", { name: "Sign out the session from Firefox on Linux, 127.0.0.1" }).isVisible()).resolves.toBe(true);
    await expect(uma.getByRole("button", { name: "Sign out the session from Safari on iOS, 127.0.0.1" }).isVisible()).resolves.toBe(true);
    await expect(uma.getByRole("button", { name: /^sign out everywhere$/i }).isVisible()).resolves.toBe(true);
    await checkPage(uma, "sessions-profile");
  });

  it("/admin/users/:id shows the active sessions and End sessions; axe finds nothing", async () => {
    const response = await admin.goto(`/admin/users/${userId}`);
    expect(response?.status()).toBe(200);
    await expect(admin.getByText("uma has 3 active sessions.").isVisible()).resolves.toBe(true);
    await expect(admin.getByRole("button", { name: /^end sessions$/i }).isVisible()).resolves.toBe(true);
    await checkPage(admin, "sessions-admin-user");
  });

  it("Sign out for one session, reached by keyboard: that browser is signed out, the flash says which", async () => {
    await uma.goto("/profile");
    const button = uma.getByRole("button", { name: "Sign out the session from Safari on iOS, 127.0.0.1" });
    await button.focus();
    await Promise.all([uma.waitForURL("**/profile#sessions"), uma.keyboard.press("Enter")]);
    await expect(uma.getByRole("status").textContent()).resolves.toContain("Signed out the session from Safari on iOS, 127.0.0.1.");
    expect(await sessionsTable(uma).locator("tbody tr").count()).toBe(2);
    await iphone.goto("/profile");
    expect(new URL(iphone.url()).pathname).toBe("/login");
  });

  it("clicking Sign out everywhere ends the other session, keeps this one, and says so", async () => {
    await uma.goto("/profile");
    await Promise.all([uma.waitForURL("**/profile#sessions"), uma.getByRole("button", { name: /^sign out everywhere$/i }).click()]);
    await expect(uma.getByRole("status").textContent()).resolves.toContain("Signed out 1 other session. This session stays signed in.");
    expect(await sessionsTable(uma).locator("tbody tr").count()).toBe(1);
    await expect(uma.getByText("This is your only session.").isVisible()).resolves.toBe(true);
    await checkPage(uma, "sessions-profile-after-sign-out-everywhere");

    await firefox.goto("/profile");
    expect(new URL(firefox.url()).pathname).toBe("/login");
    // Still signed in here.
    await uma.reload();
    expect(new URL(uma.url()).pathname).toBe("/profile");
    expect(await sessionCountOf(harness.db, userId)).toBe(1);
  });

  it("the administrator's End sessions signs the user out and reports the number", async () => {
    await admin.goto(`/admin/users/${userId}`);
    await Promise.all([admin.waitForURL(`**/admin/users/${userId}#sessions`), admin.getByRole("button", { name: /^end sessions$/i }).click()]);
    await expect(admin.getByRole("status").textContent()).resolves.toContain("Ended 1 session of uma.");
    await checkPage(admin, "sessions-admin-user-ended");
    await uma.goto("/profile");
    expect(new URL(uma.url()).pathname).toBe("/login");
    expect(adminId).toBeGreaterThan(0);
  });
});
