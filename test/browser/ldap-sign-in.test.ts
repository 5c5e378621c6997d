import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { addGrant } from "../../src/services/grants.ts";
import { addLdapGroupMapping, addLdapServer, readLdapOptions, saveLdapOptions } from "../../src/services/ldap-settings.ts";
import { createSystem } from "../../src/services/systems.ts";
import { createTeam } from "../../src/services/teams.ts";
import { buildAdmin } from "../helpers/factories.ts";
import { FIXTURE_USERS, settingsFor, skipLdapTests, TestDirectory } from "../helpers/ldap.ts";
import { testKeys } from "../helpers/mail.ts";
import { type BrowserHarness, checkPage, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * Issue 5's browser test: a person who has never used Gatehouse opens /systems, signs in with their directory
 * password, and lands on /systems showing the access their directory group gives through a mapped team.
 */
describe.skipIf(skipBrowserTests || skipLdapTests)("an LDAP user's first sign-in in the browser", () => {
  let harness: BrowserHarness;
  let directory: TestDirectory;

  beforeAll(async () => {
    [harness, directory] = await Promise.all([startHarness(), TestDirectory.start()]);
    const db = harness.db;
    await buildAdmin(db, { username: "root", password: "quiet harbour lantern 58" });
    await addLdapServer(db, SYSTEM_ACTOR, testKeys, settingsFor(directory));
    const { version, value } = await readLdapOptions(db);
    await saveLdapOptions(db, SYSTEM_ACTOR, version, { ...value, allowUserCreation: true });
    const storageTeam = await createTeam(db, SYSTEM_ACTOR, { name: "Storage admins", description: "" });
    await addLdapGroupMapping(db, SYSTEM_ACTOR, "storage", [storageTeam.id]);
    const nas = await createSystem(db, SYSTEM_ACTOR, { name: "nas-backup-01", host: "10.0.0.21", description: "Backup NAS", notes: "" });
    await createSystem(db, SYSTEM_ACTOR, { name: "db-primary", host: "10.0.0.5", description: "", notes: "" });
    await addGrant(db, SYSTEM_ACTOR, { kind: "team", id: storageTeam.id }, { kind: "system", id: nas.id }, "read/write");
  });

  afterAll(async () => {
    await Promise.allSettled([harness?.close(), directory?.close()]);
  });

  it("opens /systems, signs in with the directory password, and sees the system its mapped team gives, explained", async () => {
    const page = await (await harness.newContext()).newPage();
    await page.goto("/systems");
    expect(new URL(page.url()).pathname).toBe("/login");
    await page.getByLabel(/^username$/i).fill("carol");
    await page.getByLabel(/^password$/i).fill(FIXTURE_USERS.carol.password);
    await page.getByRole("button", { name: /^sign in$/i }).click();
    await page.waitForURL((url) => url.pathname === "/systems");

    const main = page.getByRole("main");
    await expect.poll(async () => (await main.textContent()) ?? "").toContain("nas-backup-01");
    const text = (await main.textContent()) ?? "";
    expect(text).toContain("read/write");
    expect(text).not.toContain("db-primary");
    await checkPage(page, "ldap-first-sign-in-systems");

    // The system's page says why: through the team the directory group maps to.
    await page.getByRole("link", { name: "nas-backup-01" }).click();
    await page.waitForURL((url) => /^\/systems\/\d+$/.test(url.pathname));
    expect(await page.getByRole("main").textContent()).toContain("Storage admins");
    await checkPage(page, "ldap-first-sign-in-system");

    await page.goto("/profile");
    expect(await page.getByRole("main").textContent()).toContain("Your password is managed by your directory (LDAP)");
    expect(await page.getByLabel(/^current password$/i).count()).toBe(0);
    await checkPage(page, "ldap-profile");
  });

  it("a wrong directory password shows the one generic message, on the sign-in form", async () => {
    const page = await (await harness.newContext()).newPage();
    await page.goto("/login");
    await page.getByLabel(/^username$/i).fill("alice");
    await page.getByLabel(/^password$/i).fill("not alice's password");
    await page.getByRole("button", { name: /^sign in$/i }).click();
    await expect.poll(async () => (await page.getByRole("main").textContent()) ?? "").toContain("Invalid username or password.");
    expect(await page.getByLabel(/^username$/i).inputValue()).toBe("alice");
    expect(await page.getByLabel(/^password$/i).inputValue()).toBe("");
  });
});
