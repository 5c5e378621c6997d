import { generate } from "otplib";
import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { openSecret } from "../../src/lib/secret-box.ts";
import { requestOwnEmailChange } from "../../src/services/email-verification.ts";
import { SECOND_FACTOR_MESSAGES, enableEmailTwoFactor } from "../../src/services/two-factor.ts";
import type { User } from "../../src/types/user.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import { type ReceivedMail, TestMailServer, codeIn, configureSmtp, testKeys } from "../helpers/mail.ts";
import { type BrowserHarness, checkPage, screenshot, signIn, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * Email verification and two-factor authentication end to end in a real browser, against the real app (the
 * harness builds it with the same app secret as `testKeys`) and a real SMTP server in this process, which
 * Alert Services points at. Codes are sent by the request that asks for them, so they have arrived by the time
 * the next page has loaded. Fields are found by label, buttons and links by their text.
 * Then axe on every new page (light and dark, screenshots as test-results/screenshots/2fa-*.png) and the
 * layout at 360 px.
 */
describe.skipIf(skipBrowserTests)("two-factor authentication in the browser", () => {
  let harness: BrowserHarness;
  let mail: TestMailServer;
  const password = "quiet harbour lantern 58";

  beforeAll(async () => {
    harness = await startHarness();
    mail = await TestMailServer.start();
    await configureSmtp(harness.db, mail);
  });

  afterAll(async () => {
    await harness?.close();
    await mail?.stop();
  });

  // Every browser context reaches the app from 127.0.0.1, and at most 5 codes an hour go out per client
  // address (docs/security.md E4). Each test starts a new hour for that address by moving the window's start back.
  beforeEach(async () => {
    await harness.db("login_failures")
      .where({ scope: "code_send_ip" })
      .update({ window_started_at: harness.db.raw("window_started_at - interval '2 hours'") });
  });

  // Helpers ---------------------------------------------------------------------------------------------------

  /** A page in a context of its own (its own cookies); reduced motion so that colours are final for axe. */
  async function newPage(width?: number): Promise<Page> {
    const page = await (await harness.newContext()).newPage();
    if (width) await page.setViewportSize({ width, height: 740 });
    await page.emulateMedia({ reducedMotion: "reduce" });
    return page;
  }

  const heading = (page: Page) => page.getByRole("heading", { level: 1 });
  const normalise = (text: string | null) => (text ?? "").replace(/\s+/g, " ").trim();
  const pathOf = (page: Page) => new URL(page.url()).pathname;

  /**
   * Clicks a form's button and waits for the page it leads to: the POST answers `status` (303 for a success that
   * redirects, 422 for a form shown again with its errors), then the resulting document's load event.
   */
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

  /** The flash messages the page shows after a redirect (role="status"). */
  async function flashes(page: Page): Promise<string> {
    return normalise((await page.getByRole("status").allTextContents()).join(" "));
  }

  /** The newest message to `address` whose subject matches, among those that arrived after `since` messages. */
  function mailTo(address: string, subject: RegExp, since: number): Promise<ReceivedMail> {
    return mail.waitFor(
      (m) => mail.messages.indexOf(m) >= since && m.envelopeTo.some((to) => to.toLowerCase() === address.toLowerCase()) && subject.test(m.subject),
    );
  }

  /** The value of one fact (dt/dd) on the Profile or a user page. */
  async function fact(page: Page, name: string): Promise<string> {
    return normalise(await page.locator("dl.facts dt", { hasText: new RegExp(`^${name}$`) }).locator("xpath=following-sibling::dd[1]").textContent());
  }

  const currentStep = () => Math.floor(Date.now() / 1000 / 30);
  const totpAt = (secret: string, step: number) => generate({ secret, epoch: step * 30 });

  async function userRow(db: Db, id: number) {
    return db("users")
      .where({ id })
      .first<{ email: string | null; email_verified: boolean; pending_email: string | null; two_factor_method: string | null; totp_secret: string | null; totp_last_step: string | number | null }>();
  }

  /** A local account whose email address is already verified (as after the Profile's confirmation step). */
  async function userWithVerifiedEmail(username: string, fullName: string, email: string, admin = false): Promise<User> {
    const user = await (admin ? buildAdmin : buildUser)(harness.db, { username, fullName, email, password });
    await harness.db("users").where({ id: user.id }).update({ email_verified: true });
    return user;
  }

  const ownActor = (user: User) => ({ id: user.id, username: user.username, clientIp: null, requestId: null });

  /** A local account with "Email code" two-factor authentication already on. */
  async function userWithEmailTwoFactor(username: string, fullName: string, email: string): Promise<User> {
    const user = await userWithVerifiedEmail(username, fullName, email);
    await enableEmailTwoFactor(harness.db, testKeys, ownActor(user));
    return user;
  }

  /** Profile → Email → Save changes → the code from the message → Confirmation code → Confirm. */
  async function verifyEmailOnProfile(page: Page, address: string): Promise<void> {
    if (pathOf(page) !== "/profile") await page.goto("/profile");
    expect(await heading(page).textContent()).toBe("Profile");
    const since = mail.messages.length;
    await page.getByLabel("Email", { exact: true }).fill(address);
    await submit(page, page.getByRole("button", { name: "Save changes" }));
    expect(await flashes(page)).toContain(`A confirmation code was sent to ${address}. Enter it in Confirmation code.`);
    expect(await page.getByRole("heading", { name: "Confirm your email" }).isVisible()).toBe(true);

    const message = await mailTo(address, /verification code/i, since);
    await page.getByLabel("Confirmation code", { exact: true }).fill(codeIn(message));
    await submit(page, page.getByRole("button", { name: "Confirm", exact: true }));
    expect(await flashes(page)).toContain(`Email address ${address} verified.`);
    expect(await fact(page, "Email")).toBe(`${address} (verified)`);
    expect(await page.getByRole("heading", { name: "Confirm your email" }).count()).toBe(0);
  }

  /** On the recovery-codes page: the ten codes shown, all different and of the documented shape. */
  async function readRecoveryCodes(page: Page): Promise<string[]> {
    expect(pathOf(page)).toBe("/profile/2fa/recovery-codes");
    expect(await heading(page).textContent()).toBe("Your recovery codes");
    const codes = (await page.locator(".recovery-codes code").allTextContents()).map((c) => c.trim());
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[a-z0-9]{5}-[a-z0-9]{5}$/);
    return codes;
  }

  async function signOut(page: Page): Promise<void> {
    await submit(page, page.getByRole("button", { name: "Sign out" }));
    expect(pathOf(page)).toBe("/login");
  }

  /** On the authenticator enrolment page: the key as the page shows it, without the spaces between groups. */
  async function secretOnPage(page: Page): Promise<string> {
    const secret = normalise(await page.locator("figcaption code").textContent()).replace(/ /g, "");
    expect(secret).toMatch(/^[A-Z2-7]{32}$/); // 20 random bytes in base32
    return secret;
  }

  // 1. Email code -------------------------------------------------------------------------------------------

  it("Email code, as a user does it: verify the address on the Profile, turn 2FA on, save the recovery codes, sign out, sign in with the emailed code (E5, T3)", async () => {
    const address = "erin.email@example.com";
    const erin = await buildUser(harness.db, { username: "erin", fullName: "Erin Email", password });
    const page = await newPage();
    await signIn(page, "erin", password);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Erin Email" }).click();
    await page.waitForURL((url) => url.pathname === "/profile");
    expect(await fact(page, "Two-factor authentication")).toBe("Off");
    await screenshot(page, "2fa-flow-email-01-profile");

    await verifyEmailOnProfile(page, address);
    await screenshot(page, "2fa-flow-email-02-email-verified");

    // Two-factor authentication: Email code → Enable 2FA.
    const section = page.getByRole("region", { name: "Two-factor authentication" });
    await section.getByRole("radio", { name: /^Email code/ }).check();
    await submit(page, section.getByRole("button", { name: "Enable 2FA" }));
    const codes = await readRecoveryCodes(page);
    await screenshot(page, "2fa-flow-email-03-recovery-codes");
    expect((await userRow(harness.db, erin.id))?.two_factor_method).toBe("email");

    await page.getByRole("link", { name: "I have saved my codes" }).click();
    await page.waitForURL((url) => url.pathname === "/profile");
    expect(await fact(page, "Two-factor authentication")).toBe("On: Email code");
    expect(normalise(await section.textContent())).toContain("10 of 10 recovery codes are unused.");
    // The codes are shown once only.
    await page.goto("/profile/2fa/recovery-codes");
    expect(pathOf(page)).toBe("/profile");
    expect(await page.locator(".recovery-codes").count()).toBe(0);
    expect(normalise(await page.content())).not.toContain(codes[0]);

    await signOut(page);

    // Sign in: the password step leads to the code page, and the code arrives by email.
    const since = mail.messages.length;
    await signIn(page, "erin", password);
    expect(pathOf(page)).toBe("/login/code");
    expect(await heading(page).textContent()).toBe("Enter your code");
    expect(normalise(await page.locator("main").textContent())).toContain("We emailed a 6-digit code to e…l@example.com.");
    const message = await mailTo(address, /sign-in code/i, since);
    await screenshot(page, "2fa-flow-email-04-code-page");

    // Until the code is entered the account is not signed in: any other page leads back here (T3).
    await page.goto("/profile");
    expect(pathOf(page)).toBe("/login/code");
    expect(await page.getByRole("button", { name: "Sign out" }).count()).toBe(0);

    await page.getByLabel("Code", { exact: true }).fill(codeIn(message));
    await submit(page, page.getByRole("button", { name: "Verify" }));
    expect(pathOf(page)).toBe("/");
    expect(await heading(page).textContent()).toBe("Welcome, Erin Email");
    expect(await page.getByRole("button", { name: "Sign out" }).isVisible()).toBe(true);
    await screenshot(page, "2fa-flow-email-05-signed-in");
  }, 180_000);

  // 2. Authenticator app --------------------------------------------------------------------------------------

  it("Authenticator app: the QR code and key, confirm with one code, sign in to the page asked for; the code used at enrolment is refused as a replay (T1, T7)", async () => {
    const address = "tom.totp@example.com";
    const tom = await buildUser(harness.db, { username: "tom", fullName: "Tom Totp", password });
    const page = await newPage();
    await signIn(page, "tom", password);
    await verifyEmailOnProfile(page, address);

    const section = page.getByRole("region", { name: "Two-factor authentication" });
    await section.getByRole("radio", { name: /^Authenticator app/ }).check();
    await submit(page, section.getByRole("button", { name: "Enable 2FA" }));
    expect(pathOf(page)).toBe("/profile/2fa/authenticator");
    expect(await heading(page).textContent()).toBe("Set up your authenticator app");
    const qr = page.getByRole("img", { name: "QR code to add Gatehouse to your authenticator app" });
    expect(await qr.isVisible()).toBe(true);
    expect(await qr.getAttribute("src")).toMatch(/^data:image\/png;base64,/);
    expect(await qr.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(0);
    const secret = await secretOnPage(page);
    await screenshot(page, "2fa-flow-totp-01-enrolment");
    // Nothing is on the account until a code confirms the app (T7).
    expect((await userRow(harness.db, tom.id))?.two_factor_method).toBeNull();

    const enrolmentStep = currentStep();
    await page.getByLabel("Code", { exact: true }).fill(await totpAt(secret, enrolmentStep));
    await submit(page, page.getByRole("button", { name: "Enable 2FA" }));
    await readRecoveryCodes(page);
    const row = await userRow(harness.db, tom.id);
    expect(row?.two_factor_method).toBe("totp");
    // The key the page showed is the one the account now holds, sealed.
    expect(openSecret(testKeys.storage, row?.totp_secret ?? "")).toBe(secret);
    expect(Number(row?.totp_last_step)).toBe(enrolmentStep);

    await page.getByRole("link", { name: "I have saved my codes" }).click();
    await page.waitForURL((url) => url.pathname === "/profile");
    expect(await fact(page, "Two-factor authentication")).toBe("On: Authenticator app");
    await signOut(page);

    // Ask for the Profile while signed out: sign in, then the code.
    await page.goto("/profile");
    expect(pathOf(page)).toBe("/login");
    await page.getByLabel("Username", { exact: true }).fill("tom");
    await page.getByLabel("Password", { exact: true }).fill(password);
    await submit(page, page.getByRole("button", { name: "Sign in" }));
    expect(pathOf(page)).toBe("/login/code");
    expect(normalise(await page.locator("main").textContent())).toContain("Open your authenticator app and type the 6-digit code it shows for Gatehouse.");
    expect(await page.getByRole("button", { name: "Send a new code" }).count()).toBe(0);

    // The code of the step used at enrolment is refused. Should a 30-second step have begun since then, the
    // stored step is moved on to the current one, as if the app had been set up in it (no waiting on the clock).
    const usedStep = Math.max(enrolmentStep, currentStep());
    await harness.db("users").where({ id: tom.id }).update({ totp_last_step: usedStep });
    const since = mail.messages.length;
    await page.getByLabel("Code", { exact: true }).fill(await totpAt(secret, usedStep));
    await submit(page, page.getByRole("button", { name: "Verify" }), 422);
    expect(pathOf(page)).toBe("/login/code");
    expect(normalise(await page.getByRole("alert").textContent())).toContain(SECOND_FACTOR_MESSAGES.replay);
    await screenshot(page, "2fa-flow-totp-02-replay-refused");
    // The owner is told (T1).
    const notice = await mailTo(address, /authenticator code used twice/i, since);
    expect(notice.text).toContain('An authenticator code of the account "tom" was entered again after it had already been used.');

    // The code of the next step signs in, and the page asked for opens.
    await page.getByLabel("Code", { exact: true }).fill(await totpAt(secret, usedStep + 1));
    await submit(page, page.getByRole("button", { name: "Verify" }));
    expect(pathOf(page)).toBe("/profile");
    expect(await heading(page).textContent()).toBe("Profile");
    expect(await fact(page, "Username")).toBe("tom");
    await screenshot(page, "2fa-flow-totp-03-signed-in");
  }, 180_000);

  // 3. A wrong code -------------------------------------------------------------------------------------------

  it("a wrong code on the code page: error summary linked to the field, the field marked invalid, focus on the summary; the right code still works (T6)", async () => {
    const address = "wendy.wrong@example.com";
    await userWithEmailTwoFactor("wendy", "Wendy Wrong", address);
    const page = await newPage();
    const since = mail.messages.length;
    await signIn(page, "wendy", password);
    expect(pathOf(page)).toBe("/login/code");
    const right = codeIn(await mailTo(address, /sign-in code/i, since));
    const wrong = right.slice(0, 5) + String((Number(right[5]) + 1) % 10);

    await page.getByLabel("Code", { exact: true }).fill(wrong);
    await submit(page, page.getByRole("button", { name: "Verify" }), 422);
    expect(pathOf(page)).toBe("/login/code");

    const summary = page.getByRole("alert");
    expect(normalise(await summary.textContent())).toContain("There is a problem");
    const link = summary.getByRole("link", { name: SECOND_FACTOR_MESSAGES.invalid });
    expect(await link.getAttribute("href")).toBe("#code");
    // The app's script focuses the summary, as on every form with errors.
    expect(await page.locator("[role=alert]:focus").count()).toBe(1);

    const field = page.getByLabel("Code", { exact: true });
    expect(await field.getAttribute("aria-invalid")).toBe("true");
    expect(await field.getAttribute("aria-describedby")).toContain("code-error");
    expect(normalise(await page.locator("#code-error").textContent())).toBe(SECOND_FACTOR_MESSAGES.invalid);
    expect(await field.inputValue()).toBe("");
    await screenshot(page, "2fa-wrong-code");

    // Following the summary's link moves focus to the field.
    await link.click();
    expect(await page.locator("#code:focus").count()).toBe(1);

    // Not signed in by a wrong code; the right one still works.
    expect(await page.getByRole("button", { name: "Sign out" }).count()).toBe(0);
    await field.fill(right);
    await submit(page, page.getByRole("button", { name: "Verify" }));
    expect(pathOf(page)).toBe("/");
    expect(await heading(page).textContent()).toBe("Welcome, Wendy Wrong");
  }, 180_000);

  // 4. Axe on every new page ------------------------------------------------------------------------------------

  describe("axe finds nothing on the new pages", () => {
    let adminPage: Page;
    let patId: number;

    beforeAll(async () => {
      await buildAdmin(harness.db, { username: "ada", fullName: "Ada Admin", password });
      // pat: Email code on, and a new address waiting for its code.
      const pat = await userWithEmailTwoFactor("pat", "Pat Pending", "pat@example.com");
      patId = pat.id;
      await requestOwnEmailChange(harness.db, testKeys, ownActor(pat), {
        email: "pat.new@example.com",
        password: "",
        authAt: Date.now(),
        clientIp: "192.0.2.10",
      });
      adminPage = await newPage();
      await signIn(adminPage, "ada", password);
    });

    it("/login/code, fresh and with an error", async () => {
      await userWithEmailTwoFactor("ella", "Ella Code", "ella@example.com");
      const page = await newPage();
      await signIn(page, "ella", password);
      expect(pathOf(page)).toBe("/login/code");
      expect(await heading(page).textContent()).toBe("Enter your code");
      await checkPage(page, "2fa-a11y-login-code");

      await page.getByLabel("Code", { exact: true }).fill("12345");
      await submit(page, page.getByRole("button", { name: "Verify" }), 422);
      await page.getByRole("alert").waitFor();
      expect(await page.getByLabel("Code", { exact: true }).getAttribute("aria-invalid")).toBe("true");
      await checkPage(page, "2fa-a11y-login-code-error");
    }, 180_000);

    it("/login/code when the code could not be sent", async () => {
      await userWithEmailTwoFactor("dora", "Dora Down", "dora@example.com");
      const page = await newPage();
      await mail.stop();
      try {
        await signIn(page, "dora", password);
      } finally {
        await mail.restart();
      }
      expect(pathOf(page)).toBe("/login/code");
      expect(await flashes(page)).toBe("The code could not be sent right now. Gatehouse keeps trying; if nothing arrives, use a recovery code or ask an administrator.");
      await checkPage(page, "2fa-a11y-login-code-not-sent");
    }, 180_000);

    it("/profile with the email confirmation field showing, with a wrong code, and the 2FA form with an error", async () => {
      await buildUser(harness.db, { username: "uma", fullName: "Uma Unverified", password });
      const page = await newPage();
      await signIn(page, "uma", password);
      await page.goto("/profile");
      await page.getByLabel("Email", { exact: true }).fill("uma@example.com");
      await submit(page, page.getByRole("button", { name: "Save changes" }));
      expect(await page.getByLabel("Confirmation code", { exact: true }).isVisible()).toBe(true);
      await checkPage(page, "2fa-a11y-profile-email-confirmation");

      await page.getByLabel("Confirmation code", { exact: true }).fill("abc");
      await submit(page, page.getByRole("button", { name: "Confirm", exact: true }), 422);
      expect(await page.getByLabel("Confirmation code", { exact: true }).getAttribute("aria-invalid")).toBe("true");
      await checkPage(page, "2fa-a11y-profile-email-confirmation-error");

      // Turning 2FA on before the address is verified is refused, next to the choice of method.
      const section = page.getByRole("region", { name: "Two-factor authentication" });
      await submit(page, section.getByRole("button", { name: "Enable 2FA" }), 422);
      expect(normalise(await section.getByRole("alert").textContent())).toContain("Verify your email address first");
      await checkPage(page, "2fa-a11y-profile-2fa-error");
    }, 180_000);

    it("/profile/2fa/authenticator (fresh and with an error), /profile/2fa/recovery-codes, the disable form (open and with an error), /login/code for an authenticator", async () => {
      const tess = await userWithVerifiedEmail("tess", "Tess Totp", "tess@example.com");
      const page = await newPage();
      await signIn(page, "tess", password);
      await page.goto("/profile");
      const section = page.getByRole("region", { name: "Two-factor authentication" });
      await section.getByRole("radio", { name: /^Authenticator app/ }).check();
      await submit(page, section.getByRole("button", { name: "Enable 2FA" }));
      expect(pathOf(page)).toBe("/profile/2fa/authenticator");
      await checkPage(page, "2fa-a11y-authenticator");

      const secret = await secretOnPage(page);
      await page.getByLabel("Code", { exact: true }).fill("abcdef");
      await submit(page, page.getByRole("button", { name: "Enable 2FA" }), 422);
      expect(await page.getByLabel("Code", { exact: true }).getAttribute("aria-invalid")).toBe("true");
      await checkPage(page, "2fa-a11y-authenticator-error");

      const step = currentStep();
      await page.getByLabel("Code", { exact: true }).fill(await totpAt(secret, step));
      await submit(page, page.getByRole("button", { name: "Enable 2FA" }));
      await readRecoveryCodes(page);
      await checkPage(page, "2fa-a11y-recovery-codes");

      // The disable form: password and authenticator code (T8).
      await page.getByRole("link", { name: "I have saved my codes" }).click();
      await page.waitForURL((url) => url.pathname === "/profile");
      const disable = page.locator("details", { has: page.locator("summary", { hasText: "Turn off two-factor authentication" }) });
      await disable.locator("summary").click();
      expect(await disable.getByLabel("Your password", { exact: true }).isVisible()).toBe(true);
      expect(await disable.getByLabel("Code from your authenticator app", { exact: true }).isVisible()).toBe(true);
      await checkPage(page, "2fa-a11y-disable-form");

      await disable.getByLabel("Your password", { exact: true }).fill("not the password at all");
      await submit(page, disable.getByRole("button", { name: "Turn off 2FA" }), 422);
      expect(await disable.getAttribute("open")).not.toBeNull();
      expect(await disable.getByLabel("Your password", { exact: true }).getAttribute("aria-invalid")).toBe("true");
      expect(await fact(page, "Two-factor authentication")).toBe("On: Authenticator app");
      await checkPage(page, "2fa-a11y-disable-form-error");
      expect((await userRow(harness.db, tess.id))?.two_factor_method).toBe("totp");

      await signOut(page);
      await signIn(page, "tess", password);
      expect(pathOf(page)).toBe("/login/code");
      await checkPage(page, "2fa-a11y-login-code-authenticator");
    }, 180_000);

    it("the administrator's user page with Turn off 2FA and the email confirmation section (fresh, with an error, after turning 2FA off)", async () => {
      await adminPage.goto(`/admin/users/${patId}`);
      expect(await heading(adminPage).textContent()).toBe("User pat");
      const confirmation = adminPage.getByRole("region", { name: "Email confirmation" });
      expect(normalise(await confirmation.textContent())).toContain("pat.new@example.com");
      const twoFactor = adminPage.getByRole("region", { name: "Two-factor authentication" });
      expect(await twoFactor.getByRole("button", { name: "Turn off 2FA" }).isVisible()).toBe(true);
      await checkPage(adminPage, "2fa-a11y-admin-user");

      await confirmation.getByLabel("Confirmation code", { exact: true }).fill("12");
      await submit(adminPage, confirmation.getByRole("button", { name: "Confirm", exact: true }), 422);
      expect(await adminPage.getByLabel("Confirmation code", { exact: true }).getAttribute("aria-invalid")).toBe("true");
      await checkPage(adminPage, "2fa-a11y-admin-user-confirmation-error");

      await submit(adminPage, adminPage.getByRole("region", { name: "Two-factor authentication" }).getByRole("button", { name: "Turn off 2FA" }));
      expect(await flashes(adminPage)).toContain("Two-factor authentication is off for pat; their sessions were ended.");
      expect(await adminPage.getByRole("region", { name: "Two-factor authentication" }).count()).toBe(0);
      expect((await userRow(harness.db, patId))?.two_factor_method).toBeNull();
      await checkPage(adminPage, "2fa-a11y-admin-user-2fa-off");
    }, 180_000);
  });

  // 5. 360 px wide ----------------------------------------------------------------------------------------------

  it("at 360 px wide the enrolment, recovery-codes and code pages do not scroll sideways", async () => {
    await userWithVerifiedEmail("nina", "Nina Narrow", "nina@example.com");
    const page = await newPage(360);
    const noSidewaysScroll = async (name: string) => {
      await screenshot(page, name);
      const width = await page.evaluate<number>("document.documentElement.scrollWidth");
      expect(width, `page width of ${pathOf(page)} at 360 px`).toBeLessThanOrEqual(360);
    };
    await signIn(page, "nina", password);
    await page.goto("/profile");
    const section = page.getByRole("region", { name: "Two-factor authentication" });
    await section.getByRole("radio", { name: /^Authenticator app/ }).check();
    await submit(page, section.getByRole("button", { name: "Enable 2FA" }));
    expect(pathOf(page)).toBe("/profile/2fa/authenticator");
    await noSidewaysScroll("2fa-narrow-authenticator");

    const secret = await secretOnPage(page);
    const step = currentStep();
    await page.getByLabel("Code", { exact: true }).fill(await totpAt(secret, step));
    await submit(page, page.getByRole("button", { name: "Enable 2FA" }));
    await readRecoveryCodes(page);
    await noSidewaysScroll("2fa-narrow-recovery-codes");

    await page.goto("/profile");
    await signOut(page);
    await signIn(page, "nina", password);
    expect(pathOf(page)).toBe("/login/code");
    await noSidewaysScroll("2fa-narrow-login-code");

    await page.getByLabel("Code", { exact: true }).fill("000");
    await submit(page, page.getByRole("button", { name: "Verify" }), 422);
    await page.getByRole("alert").waitFor();
    await noSidewaysScroll("2fa-narrow-login-code-error");
  }, 180_000);
});
