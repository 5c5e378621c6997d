import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertAuditEvents } from "../helpers/audit-log.ts";
import { buildAdmin } from "../helpers/factories.ts";
import { type BrowserHarness, checkPage, screenshot, signIn, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * The Logs screen in a real browser: an administrator opens it from the top bar, filters by fields found by their
 * labels, pages, opens one event, and changes the retention. Axe finds nothing on any of these pages, in light and
 * dark. Screenshots: test-results/screenshots/logs-*.png.
 */
describe.skipIf(skipBrowserTests)("the Logs screen in the browser", () => {
  const password = "quiet harbour lantern 58";
  let harness: BrowserHarness;
  let page: Page;

  beforeAll(async () => {
    harness = await startHarness();
    await harness.reset();
    await buildAdmin(harness.db, { username: "ada", fullName: "Ada Lovelace", password });
    const base = Date.parse("2024-03-10T12:00:00Z");
    await insertAuditEvents(harness.db, [
      ...Array.from({ length: 60 }, (_, i) => ({
        occurredAt: new Date(base - i * 60_000),
        action: "system.updated",
        actorId: 1,
        actorUsername: "ada",
        clientIp: "198.51.100.7",
        targetType: "system",
        targetId: String(i + 1),
        targetLabel: `nas-${i + 1}`,
        details: { changes: { description: { from: "old", to: `shelf ${i + 1}` } } },
      })),
      {
        occurredAt: new Date(base + 60_000),
        action: "user.updated",
        actorId: 1,
        actorUsername: "ada",
        clientIp: "198.51.100.7",
        targetType: "user",
        targetId: "2",
        targetLabel: "bob",
        details: {
          changes: { fullName: { from: "Bob", to: "Robert <b>Builder</b>" }, password: { from: "------", to: "------" } },
          grants: [{ system: "nas-1", permission: "read/write" }],
        },
      },
    ]);
    page = await (await harness.newContext()).newPage();
    await signIn(page, "ada", password);
  });

  afterAll(async () => {
    await harness?.close();
  });

  const rows = (p: Page) => p.locator("table.log-table tbody tr");

  it("opens from the top bar: newest first, Newer and Older, and axe finds nothing", async () => {
    await page.goto("/admin/users");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Logs", exact: true }).click();
    await page.waitForURL("**/admin/logs");
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("Logs");
    await expect(page.getByRole("link", { name: "Logs", exact: true }).getAttribute("aria-current")).resolves.toBe("page");
    expect(await rows(page).count()).toBe(50);
    // Newest first: the administrator's sign-in and account (now), then the sample's user change, then its systems.
    await expect(rows(page).nth(0).textContent()).resolves.toContain("Signed in");
    await expect(rows(page).nth(2).textContent()).resolves.toContain("User changed");
    await expect(page.getByRole("link", { name: "Download JSON" }).isVisible()).resolves.toBe(true);
    await expect(page.getByRole("link", { name: "Download CSV" }).isVisible()).resolves.toBe(true);
    await checkPage(page, "logs-list");

    await page.getByRole("navigation", { name: "Pagination" }).getByRole("link", { name: "Older" }).click();
    await page.waitForURL(/older=/);
    expect(await rows(page).count()).toBe(13);
    await expect(rows(page).last().textContent()).resolves.toContain("nas-60");
  });

  it("filters by Category, Actor, time and Search, keeping the values in the form", async () => {
    await page.goto("/admin/logs");
    await page.getByLabel("From", { exact: true }).fill("2024-03-10 11:00");
    await page.getByLabel("To", { exact: true }).fill("2024-03-10");
    await page.getByLabel("Actor", { exact: true }).fill("ADA");
    await page.getByLabel("Category", { exact: true }).selectOption({ label: "Systems" });
    await page.getByLabel("Search", { exact: true }).fill("shelf 1");
    await page.getByRole("button", { name: "Filter", exact: true }).click();
    await page.waitForURL(/category=system/);
    // 11:00 to the end of the day holds all 60 systems' events; "shelf 1" is in those of nas-1 and nas-10 … nas-19.
    const texts = await rows(page).allTextContents();
    expect(texts).toHaveLength(11);
    expect(texts.every((t) => t.includes("System changed"))).toBe(true);
    await expect(page.getByLabel("Actor", { exact: true }).inputValue()).resolves.toBe("ADA");
    await expect(page.getByLabel("Search", { exact: true }).inputValue()).resolves.toBe("shelf 1");
    await expect(page.locator("table.log-table caption").textContent()).resolves.toBe("11 events matching the filters");
    const csv = await page.getByRole("link", { name: "Download CSV" }).getAttribute("href");
    expect(csv).toContain("category=system");
    await checkPage(page, "logs-filtered");
  });

  it("shows a bad filter beside its field, with the typed value kept; axe finds nothing", async () => {
    await page.goto("/admin/logs");
    await page.getByLabel("From", { exact: true }).fill("next tuesday");
    await page.getByRole("button", { name: "Filter", exact: true }).click();
    await page.getByRole("alert").waitFor();
    await expect(page.getByLabel("From", { exact: true }).getAttribute("aria-invalid")).resolves.toBe("true");
    await expect(page.getByLabel("From", { exact: true }).inputValue()).resolves.toBe("next tuesday");
    await expect(page.getByRole("alert").textContent()).resolves.toContain('From must be a date or a date and time');
    await checkPage(page, "logs-bad-filter");
  });

  it("opens one event: its facts and its changed fields, escaped; axe finds nothing", async () => {
    await page.goto("/admin/logs?category=user");
    await page.getByRole("link", { name: "User changed" }).click();
    await page.waitForURL(/\/admin\/logs\/\d+$/);
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("User changed");
    const changes = page.getByRole("table", { name: /each field this event changed/i });
    await expect(changes.getByRole("row", { name: /fullName/ }).textContent()).resolves.toContain("Robert <b>Builder</b>");
    await expect(changes.getByRole("row", { name: /password/ }).textContent()).resolves.toContain("------");
    await expect(page.getByRole("table", { name: /what else the event recorded/i }).textContent()).resolves.toContain('"permission": "read/write"');
    await checkPage(page, "logs-event");
  });

  it("holds at 360 px wide: no sideways scrolling on the list, an event or the retention form", async () => {
    const narrow = await (await harness.newContext()).newPage();
    await narrow.setViewportSize({ width: 360, height: 740 });
    await signIn(narrow, "ada", password);
    await narrow.goto("/admin/logs?category=user");
    const eventHref = (await narrow.getByRole("link", { name: "User changed" }).getAttribute("href")) as string;
    for (const [url, name] of [
      ["/admin/logs", "logs-narrow-list"],
      [eventHref, "logs-narrow-event"],
      ["/admin/logs/retention", "logs-narrow-retention"],
    ] as const) {
      await narrow.goto(url);
      await screenshot(narrow, name);
      const width = await narrow.evaluate<number>("document.documentElement.scrollWidth");
      expect(width, `page width of ${url} at 360 px`).toBeLessThanOrEqual(360);
    }
  });

  it("changes the retention from the Logs, and says what happened", async () => {
    await page.goto("/admin/logs");
    await page.getByRole("link", { name: "Change log retention" }).click();
    await page.waitForURL("**/admin/logs/retention");
    await checkPage(page, "logs-retention");
    await page.getByLabel("Keep log events for (days)").fill("90");
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.waitForURL("**/admin/logs");
    // The sample events are from 2024: older than 90 days, so they go at once.
    await expect(page.getByRole("status").textContent()).resolves.toContain("Log retention saved. Log events are kept for 90 days. 61 older events were deleted.");
    await checkPage(page, "logs-after-retention");
  });
});
