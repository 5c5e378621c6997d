import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countUsers } from "../../src/repositories/users/index.ts";
import { makeTeam } from "../helpers/access.ts";
import { buildAdmin } from "../helpers/factories.ts";
import { type BrowserHarness, checkPage, signIn, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * Importing users in a real browser (docs/domain.md, "Importing users"): from Users, Import; a file with a bad row is
 * refused with its problems listed by line and nothing imported; the corrected file checks, then imports. Axe finds
 * nothing on the pages along the way. Screenshots: test-results/screenshots/users-import-*.png.
 */
describe.skipIf(skipBrowserTests)("importing users in the browser", () => {
  const password = "quiet harbour lantern 58";
  let harness: BrowserHarness;
  let page: Page;
  const folder = mkdtempSync(path.join(tmpdir(), "gatehouse-import-"));

  function csvFile(name: string, lines: string[]): string {
    const file = path.join(folder, name);
    writeFileSync(file, `${lines.join("\n")}\n`, "utf8");
    return file;
  }

  async function importFile(file: string, options: { checkOnly?: boolean } = {}): Promise<void> {
    await page.getByLabel("CSV file").setInputFiles(file);
    await page.getByLabel("Check only").setChecked(options.checkOnly ?? false);
    await Promise.all([page.waitForLoadState("load"), page.waitForResponse("**/admin/users/import"), page.getByRole("button", { name: /^import$/i }).click()]);
  }

  beforeAll(async () => {
    harness = await startHarness();
    await harness.reset();
    await buildAdmin(harness.db, { username: "ada", fullName: "Ada Lovelace", password });
    await makeTeam(harness.db, "Storage");
    page = await (await harness.newContext()).newPage();
    await signIn(page, "ada", password);
  });

  afterAll(async () => {
    await harness?.close();
  });

  it("Users links to Import; the import page has CSV file, Check only and Import; axe finds nothing", async () => {
    await page.goto("/admin/users");
    await Promise.all([page.waitForURL("**/admin/users/import"), page.getByRole("link", { name: /^import$/i }).click()]);
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("Import users");
    await expect(page.getByLabel("CSV file").getAttribute("type")).resolves.toBe("file");
    await expect(page.getByLabel("Check only").isChecked()).resolves.toBe(false);
    await checkPage(page, "users-import-form");
  });

  it("a file with a bad row: nothing imported, each problem listed by line, the file field marked; axe finds nothing", async () => {
    const before = await countUsers(harness.db);
    await importFile(
      csvFile("bad.csv", ["username,full name,email,teams", "imp001,Ida Importer,ida@example.test,storage", "imp002,Otto Ops,not-an-address,Ops"]),
    );
    const summary = page.getByRole("alert").filter({ hasText: "There is a problem" });
    await expect(summary.textContent()).resolves.toContain("Nothing was imported: the file has 2 problems.");
    const items = await summary.getByRole("listitem").allTextContents();
    expect(items.map((t) => t.trim())).toEqual([
      'Line 3: email "not-an-address" is not a valid address: Enter an email address like name@example.com.',
      'Line 3: team "Ops" does not exist.',
    ]);
    await expect(page.getByLabel("CSV file").getAttribute("aria-invalid")).resolves.toBe("true");
    expect(await countUsers(harness.db)).toBe(before);
    await checkPage(page, "users-import-errors");
  });

  it("the corrected file: Check only says how many would be imported; then Import creates them and lists them; axe finds nothing", async () => {
    const good = csvFile("good.csv", ["username,full name,email,teams", "imp001,Ida Importer,ida@example.test,storage", "imp002,Otto Ops,otto@example.test,"]);
    const before = await countUsers(harness.db);
    await importFile(good, { checkOnly: true });
    await expect(page.getByRole("status").filter({ hasText: "would be imported" }).textContent()).resolves.toContain("2 accounts would be imported");
    expect(await countUsers(harness.db)).toBe(before);
    await checkPage(page, "users-import-checked");

    await importFile(good);
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("Imported 2 accounts");
    const table = page.getByRole("table", { name: /2 imported accounts/i });
    await expect(table.locator("tbody tr").count()).resolves.toBe(2);
    await expect(table.locator("tbody tr").first().textContent()).resolves.toContain("Storage");
    await expect(page.getByRole("heading", { level: 2, name: /accounts that need a temporary password/i }).isVisible()).resolves.toBe(true);
    expect(await countUsers(harness.db)).toBe(before + 2);
    await checkPage(page, "users-import-done");

    await Promise.all([page.waitForURL(/\/admin\/users\/\d+$/), page.getByRole("link", { name: "imp001" }).first().click()]);
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toContain("imp001");
  });
});
