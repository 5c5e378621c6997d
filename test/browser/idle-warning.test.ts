import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeSettings } from "../../src/repositories/settings.ts";
import { DEFAULT_GENERAL_SETTINGS } from "../../src/services/general-settings.ts";
import { buildUser } from "../helpers/factories.ts";
import { sessionExists, setSessionClocks, sidOf } from "../helpers/sign-in.ts";
import { type BrowserHarness, checkPage, signIn, skipBrowserTests, startHarness } from "./browser.ts";

const MINUTE = 60_000;

/**
 * The idle warning of public/js/idle-warning.js with an Idle timeout of 4 minutes: the page's clock is moved
 * with Playwright's clock API, the server's by rewriting the session's clocks (as the same minutes would have
 * passed there).
 */
describe.skipIf(skipBrowserTests)("idle warning", () => {
  let harness: BrowserHarness;
  const password = "quiet harbour lantern 58";

  beforeAll(async () => {
    harness = await startHarness();
  });

  afterAll(async () => {
    await harness?.close();
  });

  async function sessionId(page: Page): Promise<string> {
    const cookie = (await page.context().cookies()).find((c) => c.name === "gatehouse.sid");
    if (!cookie) throw new Error("no session cookie");
    return sidOf(`${cookie.name}=${cookie.value}`);
  }

  async function lastSeenAt(sid: string): Promise<number> {
    const row = await harness.db("sessions").where({ sid }).first("sess");
    const sess = typeof row.sess === "string" ? JSON.parse(row.sess) : row.sess;
    return Number(sess.lastSeenAt);
  }

  const warning = (page: Page) => page.getByRole("alertdialog", { name: "Are you still there?" });
  const message = async (page: Page) => (await page.locator("#idle-warning-message").textContent()) ?? "";

  /**
   * Stops the page's clock (a moment ahead of where it is): from then on it moves only by fastForward. While the
   * clock runs, a loaded machine can take longer than the moment between reading it and pausing it ("Cannot
   * fast-forward to the past"): then read it again with a longer lead.
   */
  async function pausePageClock(page: Page): Promise<void> {
    for (const lead of [200, 1000, 3000]) {
      try {
        await page.clock.pauseAt((await page.evaluate(() => Date.now())) + lead);
        return;
      } catch (error) {
        if (!String(error).includes("fast-forward to the past") || lead === 3000) throw error;
      }
    }
  }

  it("warns before the sign-out, Stay signed in keeps the session, and without it the page ends on sign-in", async () => {
    await harness.reset();
    await buildUser(harness.db, { username: "ida", fullName: "Ida Idle", password });
    await writeSettings(harness.db, "general", 0, { ...DEFAULT_GENERAL_SETTINGS, idleMinutes: 4 });

    const page = await (await harness.newContext()).newPage();
    await page.clock.install();
    await signIn(page, "ida", password);
    await page.goto("/profile");
    // From here the page's time moves only when the test moves it.
    await pausePageClock(page);
    const sid = await sessionId(page);
    expect(await page.locator("body").getAttribute("data-idle-timeout-seconds")).toBe("240");
    expect(await warning(page).isVisible()).toBe(false);

    // A limit under 6 minutes warns halfway: nothing after one minute, the warning after two.
    await page.clock.fastForward(MINUTE);
    expect(await warning(page).isVisible()).toBe(false);
    await page.clock.fastForward(MINUTE + 1000);
    await warning(page).waitFor({ state: "visible" });
    const seen = [await message(page)];
    expect(seen[0]).toBe("You will be signed out in 2 minutes because of inactivity.");
    expect(await page.locator("#idle-warning-message").getAttribute("aria-live")).toBe("polite");
    expect(await page.locator(":focus").textContent()).toBe("Stay signed in");
    // axe waits on the page's timers, so the clock runs (in real time: seconds, of the two minutes left) while it checks.
    await page.clock.resume();
    await checkPage(page, "idle-warning");
    await pausePageClock(page);

    // The countdown goes on while nobody answers, minute by minute.
    for (let step = 0; step < 30 && !seen.at(-1)?.includes("less than a minute"); step++) {
      await page.clock.fastForward(5000);
      const text = await message(page);
      if (text !== seen.at(-1)) seen.push(text);
    }
    expect(seen).toEqual([
      "You will be signed out in 2 minutes because of inactivity.",
      "You will be signed out in 1 minute because of inactivity.",
      "You will be signed out in less than a minute because of inactivity.",
    ]);
    expect(await warning(page).isVisible()).toBe(true);

    // The same minutes on the server; then "Stay signed in" restarts its idle clock.
    await setSessionClocks(harness.db, sid, { lastSeenAt: Date.now() - 3 * MINUTE });
    const before = await lastSeenAt(sid);
    const [keepalive] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === "/session/keepalive"),
      page.getByRole("button", { name: "Stay signed in" }).click(),
    ]);
    expect(keepalive.status()).toBe(204);
    expect(keepalive.request().method()).toBe("POST");
    await warning(page).waitFor({ state: "hidden" });
    expect(await lastSeenAt(sid)).toBeGreaterThan(before + 2 * MINUTE);
    expect(await sessionExists(harness.db, sid)).toBe(true);
    expect(new URL(page.url()).pathname).toBe("/profile");

    // The page's timer started again: the warning comes back two minutes later, and Escape keeps the session too.
    await page.clock.fastForward(MINUTE);
    expect(await warning(page).isVisible()).toBe(false);
    await page.clock.fastForward(MINUTE + 1000);
    await warning(page).waitFor({ state: "visible" });
    const [escaped] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === "/session/keepalive"),
      page.keyboard.press("Escape"),
    ]);
    expect(escaped.status()).toBe(204);
    await warning(page).waitFor({ state: "hidden" });

    // This time nobody answers: when the 4 minutes are up (here and on the server), the page goes to sign-in.
    await page.clock.fastForward(2 * MINUTE + 1000);
    await warning(page).waitFor({ state: "visible" });
    await setSessionClocks(harness.db, sid, { lastSeenAt: Date.now() - 5 * MINUTE });
    await Promise.all([page.waitForURL((url) => url.pathname === "/login"), page.clock.fastForward(2 * MINUTE)]);
    const url = new URL(page.url());
    expect(url.searchParams.get("expired")).toBe("1");
    expect(url.searchParams.get("returnTo")).toBe("/profile");
    expect(await page.getByText("Your session expired").isVisible()).toBe(true);
    expect(await sessionExists(harness.db, sid)).toBe(false);

    // Signing in again leads back to the page.
    await page.getByLabel(/^username$/i).fill("ida");
    await page.getByLabel(/^password$/i).fill(password);
    await Promise.all([page.waitForURL((u) => u.pathname === "/profile"), page.getByRole("button", { name: /^sign in$/i }).click()]);
  }, 120_000);

  it("with an Idle timeout of 0 there is no warning at all", async () => {
    await harness.reset();
    await buildUser(harness.db, { username: "ida", password });
    await writeSettings(harness.db, "general", 0, { ...DEFAULT_GENERAL_SETTINGS, idleMinutes: 0 });
    const page = await (await harness.newContext()).newPage();
    await page.clock.install();
    await signIn(page, "ida", password);
    await page.goto("/profile");
    expect(await page.locator("body").getAttribute("data-idle-timeout-seconds")).toBeNull();
    await page.clock.fastForward(60 * MINUTE);
    expect(await page.locator("dialog").count()).toBe(0);
    expect(new URL(page.url()).pathname).toBe("/profile");
  });
});
