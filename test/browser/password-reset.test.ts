import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FORGOT_PASSWORD_ANSWER, issueTemporaryPassword } from "../../src/services/password-reset.ts";
import type { User } from "../../src/types/user.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import { configureSmtp, type ReceivedMail, TestMailServer } from "../helpers/mail.ts";
import { type BrowserHarness, checkPage, signIn, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * Forgot password and break-glass end to end in a real browser (docs/domain.md, "Passwords and reset"), against the real app and a real
 * SMTP server in this process, which Alert Services points at. The reset mail is sent in the background right
 * after the request; the test waits for it to arrive. Fields are found by label, buttons and links by their
 * text. Axe runs on every page of the flow (light and dark; screenshots as test-results/screenshots/reset-*.png).
 */
describe.skipIf(skipBrowserTests)("password reset in the browser", () => {
  let harness: BrowserHarness;
  let mail: TestMailServer;
  const password = "quiet harbour lantern 58";
  const newPassword = "copper kettle on the stove 17";
  const CHANGED_FLASH = "Your password has been changed and every session of your account signed out. Sign in with your new password.";

  beforeAll(async () => {
    harness = await startHarness();
    mail = await TestMailServer.start();
    await configureSmtp(harness.db, mail);
    await buildAdmin(harness.db, { username: "root", password });
  });

  afterAll(async () => {
    await harness?.close();
    await mail?.stop();
  });

  // Every browser context reaches the app from 127.0.0.1, and forgot-password requests are limited per address:
  // each test starts a new hour for that address by moving the window's start back.
  beforeEach(async () => {
    await harness
      .db("login_failures")
      .whereIn("scope", ["code_send_ip", "ip"])
      .update({ window_started_at: harness.db.raw("window_started_at - interval '2 hours'") });
  });

  async function newPage(): Promise<Page> {
    const page = await (await harness.newContext()).newPage();
    await page.emulateMedia({ reducedMotion: "reduce" });
    return page;
  }

  const heading = (page: Page) => page.getByRole("heading", { level: 1 });
  const normalise = (text: string | null) => (text ?? "").replace(/\s+/g, " ").trim();
  const pathOf = (page: Page) => new URL(page.url()).pathname;

  /** Clicks a form's button and waits for the page it leads to; the POST must answer `status`. */
  async function submit(page: Page, button: Locator, status = 303): Promise<void> {
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === "POST" && r.request().resourceType() === "document"),
      page.waitForEvent("load"),
      button.click(),
    ]);
    if (response.status() !== status) {
      const problem = await page.locator(".error-summary, .flash-error").allTextContents();
      throw new Error(`POST ${response.url()} answered ${response.status()}, not ${status}: ${normalise(problem.join(" | "))}`);
    }
  }

  /**
   * Axe on the page as it is now (light and dark). A finding is collected, not thrown at once, so the rest of the
   * flow is still checked; the test asserts at its end that nothing was found.
   */
  async function axe(page: Page, name: string, found: string[]): Promise<void> {
    await checkPage(page, name).catch((error: Error) => {
      found.push(error.message);
    });
  }

  async function flashes(page: Page): Promise<string> {
    return normalise((await page.getByRole("status").allTextContents()).join(" "));
  }

  function mailTo(address: string, subject: RegExp, since: number): Promise<ReceivedMail> {
    return mail.waitFor(
      (m) => mail.messages.indexOf(m) >= since && m.envelopeTo.some((to) => to.toLowerCase() === address.toLowerCase()) && subject.test(m.subject),
    );
  }

  async function userWithVerifiedEmail(username: string, email: string | null): Promise<User> {
    const user = await buildUser(harness.db, { username, fullName: `${username} Example`, email, password });
    if (email) await harness.db("users").where({ id: user.id }).update({ email_verified: true });
    return user;
  }

  /** On Choose a new password: types the password twice and sets it; lands on sign-in with the success message. */
  async function setNewPassword(page: Page, value: string): Promise<void> {
    await page.getByLabel("New password", { exact: true }).fill(value);
    await page.getByLabel("Confirm new password", { exact: true }).fill(value);
    await submit(page, page.getByRole("button", { name: "Set new password" }));
    expect(pathOf(page)).toBe("/login");
    expect(await flashes(page)).toContain(CHANGED_FLASH);
    expect(await page.getByRole("button", { name: "Sign out" }).count()).toBe(0);
  }

  it("Forgot password → the mail → its link fills the sign-in form → Sign in → Choose a new password → sign in with it", async () => {
    const address = "rosa.reset@example.com";
    await userWithVerifiedEmail("rosa", address);
    const page = await newPage();
    const axeFindings: string[] = [];
    const seen: string[] = [];
    page.on("request", (request) => {
      seen.push(request.url(), request.headers().referer ?? "");
    });

    await page.goto("/login");
    await page.getByRole("link", { name: "Forgot password" }).click();
    await page.waitForURL((url) => url.pathname === "/forgot-password");
    expect(await heading(page).textContent()).toBe("Forgot password");
    await axe(page, "reset-01-forgot-password", axeFindings);

    // Nothing filled in: errors at the fields, no answer.
    await submit(page, page.getByRole("button", { name: "Send reset code" }), 422);
    await page.getByRole("alert").waitFor();
    expect(await page.getByLabel("Username", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    expect(await page.getByLabel("Email", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    await axe(page, "reset-02-forgot-password-errors", axeFindings);

    const since = mail.messages.length;
    await page.getByLabel("Username", { exact: true }).fill("rosa");
    await page.getByLabel("Email", { exact: true }).fill(address);
    await submit(page, page.getByRole("button", { name: "Send reset code" }), 200);
    expect(await flashes(page)).toContain(FORGOT_PASSWORD_ANSWER);
    await axe(page, "reset-03-forgot-password-answer", axeFindings);

    const message = await mailTo(address, /^\[AUTH\] Gatehouse Password Reset$/, since);
    const match = /(https?:\/\/\S+\/login#\S+)/.exec(message.text);
    if (!match?.[1]) throw new Error(`no reset link in: ${message.text}`);
    const link = new URL(match[1]);
    expect(link.origin).toBe(harness.baseUrl);
    const code = new URLSearchParams(link.hash.slice(1)).get("reset") ?? "";
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(message.text).toContain(code);

    // Open the link: the page's script fills in both fields from the fragment, then drops it from the address bar.
    await page.goto(`${link.pathname}${link.search}${link.hash}`);
    expect(pathOf(page)).toBe("/login");
    await page.getByText("Your reset code is filled in. Press Sign in, then choose a new password.").waitFor();
    expect(await page.getByLabel("Username", { exact: true }).inputValue()).toBe("rosa");
    expect(await page.getByLabel("Password", { exact: true }).inputValue()).toBe(code);
    expect(page.url()).toBe(`${harness.baseUrl}/login`);
    expect(normalise(await page.locator(":focus").textContent())).toBe("Sign in");
    await axe(page, "reset-04-login-from-link", axeFindings);

    await submit(page, page.getByRole("button", { name: "Sign in" }));
    expect(pathOf(page)).toBe("/login/new-password");
    expect(await heading(page).textContent()).toBe("Choose a new password");
    expect(normalise(await page.locator("main").textContent())).toContain("You signed in with a reset code, which works only once.");
    expect(await page.getByRole("button", { name: "Sign out" }).count()).toBe(0);
    await axe(page, "reset-05-new-password", axeFindings);

    // Nothing else is reachable meanwhile.
    await page.goto("/profile");
    expect(pathOf(page)).toBe("/login/new-password");

    // Too short, and then two different passwords: the reasons at the fields.
    await page.getByLabel("New password", { exact: true }).fill("short one");
    await page.getByLabel("Confirm new password", { exact: true }).fill("short one");
    await submit(page, page.getByRole("button", { name: "Set new password" }), 422);
    expect(await page.getByLabel("New password", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    expect(normalise(await page.getByRole("alert").textContent())).toContain("Password must be at least 12 characters; this one has 9.");
    await axe(page, "reset-06-new-password-errors", axeFindings);
    await page.getByLabel("New password", { exact: true }).fill(newPassword);
    await page.getByLabel("Confirm new password", { exact: true }).fill(`${newPassword}?`);
    await submit(page, page.getByRole("button", { name: "Set new password" }), 422);
    expect(await page.getByLabel("Confirm new password", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    await axe(page, "reset-07-new-password-mismatch", axeFindings);

    await setNewPassword(page, newPassword);
    const notice = await mailTo(address, /your password was changed/, since);
    expect(notice.text).toContain('"rosa"');

    await signIn(page, "rosa", newPassword);
    expect(pathOf(page)).toBe("/");
    expect(await page.getByRole("button", { name: "Sign out" }).isVisible()).toBe(true);

    // The code was never in a URL the browser sent, nor in a Referer.
    expect(seen.length).toBeGreaterThan(10);
    for (const url of seen) expect(url).not.toContain(code);

    // Axe found nothing on any page of the flow.
    expect(axeFindings.join("\n\n")).toBe("");
  }, 240_000);

  it("a temporary password (break-glass) signs in once, leads to Choose a new password, then the new password signs in", async () => {
    const tamsin = await userWithVerifiedEmail("tamsin", null);
    const { password: temporary } = await issueTemporaryPassword(
      harness.db,
      { id: null, username: "root", clientIp: null, requestId: null, isAdmin: true },
      tamsin.id,
    );
    const page = await newPage();
    await page.goto("/login");
    await page.getByLabel("Username", { exact: true }).fill("tamsin");
    await page.getByLabel("Password", { exact: true }).fill(temporary);
    await submit(page, page.getByRole("button", { name: "Sign in" }));
    expect(pathOf(page)).toBe("/login/new-password");
    expect(normalise(await page.locator("main").textContent())).toContain("You signed in with a temporary password, which works only once.");
    await checkPage(page, "reset-08-new-password-temporary");
    await setNewPassword(page, newPassword);

    // Used once: the temporary password no longer signs in.
    await page.getByLabel("Username", { exact: true }).fill("tamsin");
    await page.getByLabel("Password", { exact: true }).fill(temporary);
    await submit(page, page.getByRole("button", { name: "Sign in" }), 401);
    expect(normalise(await page.getByRole("alert").textContent())).toContain("Invalid username or password.");

    await signIn(page, "tamsin", newPassword);
    expect(pathOf(page)).toBe("/");
  }, 120_000);
});
