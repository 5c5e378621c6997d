import type { Page, Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enqueue } from "../../src/repositories/outbox.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import { configureSmtp } from "../helpers/mail.ts";
import { type BrowserHarness, checkPage, expectNoAxeViolations, screenshot, signIn, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * Axe finds zero violations on every page of the foundation, in the light and the dark colour scheme;
 * each page is saved as a full-page screenshot (test-results/screenshots/a11y-*.png) for review.
 */
describe.skipIf(skipBrowserTests)("accessibility of every page", () => {
  let harness: BrowserHarness;

  beforeAll(async () => {
    harness = await startHarness();
  });

  afterAll(async () => {
    await harness?.close();
  });

  const heading = (page: Page) => page.getByRole("heading", { level: 1 }).textContent();

  it("axe itself reports what it finds (self-check of the harness)", async () => {
    const page = await (await harness.newContext()).newPage();
    await page.setContent('<!doctype html><html lang="en"><head><title>t</title></head><body><main><h1>t</h1><img src="data:,"></main></body></html>');
    const failure = await expectNoAxeViolations(page, "a broken page").then(
      () => undefined,
      (error: Error) => error.message,
    );
    expect(failure).toContain("image-alt");
    expect(failure).toContain('["img"]');
    await page.close();
  });

  describe("before the first account exists", () => {
    let page: Page;

    beforeAll(async () => {
      await harness.reset();
      page = await (await harness.newContext()).newPage();
    });

    it("/setup", async () => {
      const response = await page.goto("/setup");
      expect(response?.status()).toBe(200);
      expect(await heading(page)).toMatch(/set up gatehouse/i);
      await checkPage(page, "a11y-setup");
    });

    it("/setup with errors", async () => {
      await page.goto("/setup");
      await page.getByLabel(/^username$/i).fill("");
      await page.getByLabel(/^password$/i).fill("too short");
      await page.getByLabel(/^confirm password$/i).fill("too short");
      await page.getByRole("button", { name: /create administrator/i }).click();
      await page.getByRole("alert").waitFor();
      expect(await page.getByLabel(/^username$/i).getAttribute("aria-invalid")).toBe("true");
      await checkPage(page, "a11y-setup-errors");
    });
  });

  describe("with accounts", () => {
    const password = "quiet harbour lantern 58";
    let anonymous: Page;
    let admin: Page;
    let user: Page;
    let otherId: number;

    beforeAll(async () => {
      await harness.reset();
      await buildAdmin(harness.db, { username: "ada", fullName: "Ada Lovelace", email: "ada@example.com", password });
      await buildUser(harness.db, { username: "uma", fullName: "Uma Usher", email: "uma@example.com", password });
      const other = await buildUser(harness.db, {
        username: "grace",
        fullName: "Grace Hopper",
        title: "Storage lead",
        email: "grace@example.com",
        phone: "+1 555 0100",
      });
      otherId = other.id;
      await buildUser(harness.db, { username: "linus", fullName: "Linus Torvalds", email: "linus@example.org" });
      await buildAdmin(harness.db, { username: "margaret", fullName: "Margaret Hamilton" });

      anonymous = await (await harness.newContext()).newPage();
      admin = await (await harness.newContext()).newPage();
      await signIn(admin, "ada", password);
      user = await (await harness.newContext()).newPage();
      await signIn(user, "uma", password);
    });

    /** Opens a page, checks its status and heading, then runs axe and takes screenshots. */
    async function visit(page: Page, url: string, status: number, title: RegExp, name: string): Promise<Response | null> {
      const response = await page.goto(url);
      expect(response?.status(), `status of ${url}`).toBe(status);
      expect(await heading(page)).toMatch(title);
      await checkPage(page, name);
      return response;
    }

    it("/login", async () => {
      await visit(anonymous, "/login", 200, /^sign in$/i, "a11y-login");
    });

    it("/login showing an error", async () => {
      await anonymous.goto("/login");
      await anonymous.getByLabel(/^username$/i).fill("ada");
      await anonymous.getByLabel(/^password$/i).fill("not the password at all");
      await anonymous.getByRole("button", { name: /^sign in$/i }).click();
      await anonymous.getByRole("alert").waitFor();
      expect(await anonymous.getByRole("alert").textContent()).toContain("Invalid username or password.");
      expect(await anonymous.getByLabel(/^username$/i).inputValue()).toBe("ada");
      await checkPage(anonymous, "a11y-login-error");
    });

    it("/forgot-password", async () => {
      await anonymous.goto("/login");
      await anonymous.getByRole("link", { name: /forgot password/i }).click();
      await anonymous.waitForURL("**/forgot-password");
      expect(await heading(anonymous)).toMatch(/forgot password/i);
      await checkPage(anonymous, "a11y-forgot-password");
    });

    it("/ (home)", async () => {
      await visit(admin, "/", 200, /welcome, ada lovelace/i, "a11y-home");
    });

    it("/profile", async () => {
      await visit(admin, "/profile", 200, /^profile$/i, "a11y-profile");
    });

    it("/admin/users with some users", async () => {
      await visit(admin, "/admin/users", 200, /^users$/i, "a11y-users");
      expect(await admin.getByRole("table").locator("tbody tr").count()).toBe(5);
    });

    it("/admin/users with a search that matches nothing", async () => {
      await admin.goto("/admin/users");
      await admin.getByLabel(/^search$/i).fill("nobody-by-this-name");
      await admin.getByRole("button", { name: /^search$/i }).click();
      await admin.waitForURL(/[?&]q=nobody-by-this-name/);
      expect(await admin.getByRole("table").count()).toBe(0);
      expect(await admin.getByLabel(/^search$/i).inputValue()).toBe("nobody-by-this-name");
      await checkPage(admin, "a11y-users-search-empty");
    });

    it("/admin/users/new", async () => {
      await visit(admin, "/admin/users/new", 200, /^new user$/i, "a11y-user-new");
    });

    it("/admin/users/new with errors", async () => {
      await admin.goto("/admin/users/new");
      await admin.getByLabel(/^username$/i).fill("ada"); // taken
      await admin.getByLabel(/^email$/i).fill("not-an-email");
      await admin.getByLabel(/^password$/i).fill("short");
      await admin.getByLabel(/^confirm password$/i).fill("short");
      await admin.getByRole("button", { name: /^create user$/i }).click();
      await admin.getByRole("alert").waitFor();
      expect(await admin.getByLabel(/^email$/i).getAttribute("aria-invalid")).toBe("true");
      await checkPage(admin, "a11y-user-new-errors");
    });

    it("/admin/users/:id", async () => {
      await visit(admin, `/admin/users/${otherId}`, 200, /^user grace$/i, "a11y-user-show");
    });

    it("/admin/users/:id with errors", async () => {
      await admin.goto(`/admin/users/${otherId}`);
      await admin.getByLabel(/^email$/i).fill("grace@");
      await admin.getByRole("button", { name: /^save changes$/i }).click();
      await admin.getByRole("alert").waitFor();
      expect(await admin.getByLabel(/^email$/i).getAttribute("aria-invalid")).toBe("true");
      await checkPage(admin, "a11y-user-show-errors");
    });

    it("/admin/users/:id/delete", async () => {
      await admin.goto(`/admin/users/${otherId}`);
      await admin.getByRole("button", { name: /^delete$/i }).click();
      await admin.waitForURL(`**/admin/users/${otherId}/delete`);
      expect(await heading(admin)).toMatch(/^delete user grace\?$/i);
      await checkPage(admin, "a11y-user-delete");
    });

    it("/admin/settings/smtp (Security None, an outbox entry, then a validation error) and /admin/settings/general", async () => {
      await configureSmtp(harness.db, { port: 2525 }, { authUser: "mailer", authPass: "stored secret" });
      await enqueue(harness.db, { kind: "test", to: "grace@example.com", subject: "Gatehouse test email", text: "x", html: "<p>x</p>" });
      await visit(admin, "/admin/settings/smtp", 200, /^alert services$/i, "a11y-settings-smtp");
      expect(await admin.getByText(/passwords and codes cross the network unencrypted/i).isVisible()).toBe(true);
      await admin.getByLabel(/^mailserver port$/i).fill("70000");
      await admin.getByLabel(/^from$/i).fill("Gate <house> <alerts@example.com>");
      await admin.getByRole("button", { name: /^save changes$/i }).click();
      await admin.getByRole("alert").waitFor();
      expect(await admin.getByLabel(/^mailserver port$/i).getAttribute("aria-invalid")).toBe("true");
      await checkPage(admin, "a11y-settings-smtp-errors");
      await admin.goto("/admin/settings/smtp");
      await admin.getByRole("button", { name: /^clear configuration$/i }).click();
      await admin.waitForURL("**/admin/settings/smtp/clear");
      expect(await heading(admin)).toMatch(/^clear the mail server configuration\?$/i);
      await checkPage(admin, "a11y-settings-smtp-clear");
      await visit(admin, "/admin/settings/general", 200, /^general settings$/i, "a11y-settings-general");
      await admin.getByLabel(/^require two-factor authentication for administrators$/i).check();
      await admin.getByRole("button", { name: /^save changes$/i }).click();
      await admin.getByRole("alert").waitFor();
      await checkPage(admin, "a11y-settings-general-errors");
    });

    it("/admin/settings/signing-keys, its confirmation page, and the list after a rotation", async () => {
      await visit(admin, "/admin/settings/signing-keys", 200, /^signing keys$/i, "a11y-settings-signing-keys");
      await admin.getByRole("button", { name: /^rotate signing keys$/i }).click();
      await admin.waitForURL("**/admin/settings/signing-keys/rotate");
      expect(await heading(admin)).toMatch(/^rotate the signing keys\?$/i);
      await checkPage(admin, "a11y-settings-signing-keys-rotate");
      await admin.getByRole("button", { name: /^rotate signing keys$/i }).click();
      await admin.waitForURL("**/admin/settings/signing-keys");
      expect(await admin.getByRole("status").textContent()).toContain("Signing keys rotated");
      expect(await admin.getByRole("table").locator("tbody tr").count()).toBe(4);
      await checkPage(admin, "a11y-settings-signing-keys-rotated");
    });

    it("/api/v1/docs (the API documentation)", async () => {
      await visit(admin, "/api/v1/docs", 200, /^api documentation$/i, "a11y-api-docs");
      await admin.locator("details#createUser summary").click();
      await admin.getByRole("table", { name: /json body of post \/api\/v1\/users/i }).waitFor();
      await checkPage(admin, "a11y-api-docs-operation-open");
    });

    it("the 403 page", async () => {
      await visit(user, "/admin/users", 403, /^forbidden$/i, "a11y-403");
    });

    it("the layout holds at 360 px wide (no sideways scrolling)", async () => {
      const context = await harness.newContext();
      const narrow = await context.newPage();
      await narrow.setViewportSize({ width: 360, height: 740 });
      await signIn(narrow, "ada", password);
      for (const [url, name] of [
        ["/", "narrow-home"],
        ["/admin/users", "narrow-users"],
        ["/admin/users/new", "narrow-user-new"],
        [`/admin/users/${otherId}`, "narrow-user-show"],
        ["/profile", "narrow-profile"],
        ["/admin/settings/smtp", "narrow-settings-smtp"],
        ["/admin/settings/general", "narrow-settings-general"],
        ["/admin/settings/signing-keys", "narrow-settings-signing-keys"],
      ] as const) {
        await narrow.goto(url);
        await screenshot(narrow, name);
        const width = await narrow.evaluate<number>("document.documentElement.scrollWidth");
        expect(width, `page width of ${url} at 360 px`).toBeLessThanOrEqual(360);
      }
      await context.close();
    });

    it("the 404 page, signed in and signed out", async () => {
      await visit(admin, "/no-such-page", 404, /^page not found$/i, "a11y-404");
      await visit(admin, "/admin/users/999999", 404, /^page not found$/i, "a11y-404-user");
      await visit(anonymous, "/no-such-page", 404, /^page not found$/i, "a11y-404-anonymous");
    });
  });
});
