import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grant, makeGroup, makeSystem, makeTeam } from "../helpers/access.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import { type BrowserHarness, checkPage, signIn, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * The access report in a real browser (docs/domain.md, "The access report"): an administrator opens it from the top
 * bar, reads who reaches what and why, filters by fields found by their labels, and sees a filter that names nothing
 * at its field. Axe finds nothing on these pages, in light and dark. Screenshots: test-results/screenshots/access-report-*.png.
 */
describe.skipIf(skipBrowserTests)("the access report in the browser", () => {
  const password = "quiet harbour lantern 58";
  let harness: BrowserHarness;
  let page: Page;

  beforeAll(async () => {
    harness = await startHarness();
    await harness.reset();
    const db = harness.db;
    await buildAdmin(db, { username: "ada", fullName: "Ada Lovelace", password });
    const bob = await buildUser(db, { username: "bob" });
    const carol = await buildUser(db, { username: "carol" });
    const alpha = await makeSystem(db, { name: "alpha" });
    const beta = await makeSystem(db, { name: "beta" });
    const storage = await makeGroup(db, "storage", [beta]);
    const ops = await makeTeam(db, "Ops", [carol]);
    await grant(db, { kind: "user", id: bob.id }, { kind: "system", id: alpha.id }, "read");
    await grant(db, { kind: "team", id: ops.id }, { kind: "group", id: storage.id }, "read/write");
    await grant(db, { kind: "user", id: carol.id }, { kind: "system", id: beta.id }, "read");
    page = await (await harness.newContext()).newPage();
    await signIn(page, "ada", password);
  });

  afterAll(async () => {
    await harness?.close();
  });

  const rows = (p: Page) => p.locator("main table tbody tr");

  it("opens from the top bar, says who reaches what and why, and axe finds nothing", async () => {
    await page.goto("/admin/users");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Access report", exact: true }).click();
    await page.waitForURL("**/admin/reports/access");
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("Access report");
    await expect(page.getByRole("link", { name: "Access report", exact: true }).getAttribute("aria-current")).resolves.toBe("page");
    const texts = (await rows(page).allInnerTexts()).map((t) => t.replace(/\s+/g, " ").trim());
    // ada is an administrator: every system.
    expect(texts).toEqual([
      "ada alpha read/write administrator none needed",
      "ada beta read/write administrator none needed",
      "bob alpha read directly directly (read)",
      "carol beta read/write team Ops, through group storage directly (read) team Ops, through group storage (read/write)",
    ]);
    await expect(page.getByRole("link", { name: "Download CSV" }).getAttribute("href")).resolves.toBe("/admin/reports/access.csv");
    await checkPage(page, "access-report");
  });

  it("filters by Team and System, keeping the values and carrying them to the download", async () => {
    await page.goto("/admin/reports/access");
    await page.getByLabel("Team", { exact: true }).fill("ops");
    await page.getByLabel("System", { exact: true }).fill("BETA");
    await page.getByRole("button", { name: "Filter", exact: true }).click();
    await page.waitForURL(/team=ops/);
    expect(await rows(page).count()).toBe(1);
    await expect(rows(page).first().textContent()).resolves.toContain("carol");
    await expect(page.getByLabel("System", { exact: true }).inputValue()).resolves.toBe("BETA");
    await expect(page.getByRole("link", { name: "Download CSV" }).getAttribute("href")).resolves.toBe("/admin/reports/access.csv?team=ops&system=BETA");
    await checkPage(page, "access-report-filtered");
  });

  it("shows a filter that names nothing beside its field, with the typed value kept; axe finds nothing", async () => {
    await page.goto("/admin/reports/access");
    await page.getByLabel("Group", { exact: true }).fill("archive");
    await page.getByRole("button", { name: "Filter", exact: true }).click();
    await page.getByRole("alert").waitFor();
    await expect(page.getByLabel("Group", { exact: true }).getAttribute("aria-invalid")).resolves.toBe("true");
    await expect(page.getByLabel("Group", { exact: true }).inputValue()).resolves.toBe("archive");
    await expect(page.getByRole("alert").textContent()).resolves.toContain("There is no system group with the name “archive”");
    await checkPage(page, "access-report-bad-filter");
  });
});
