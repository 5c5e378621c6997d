import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { addLdapServer, listLdapGroupMappings, listLdapServers } from "../../src/services/ldap-settings.ts";
import { createTeam } from "../../src/services/teams.ts";
import { buildAdmin } from "../helpers/factories.ts";
import { testKeys } from "../helpers/mail.ts";
import { type BrowserHarness, checkPage, screenshot, signIn, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * Administration → Settings → LDAP in a real browser: built through its own forms (fields by label, buttons by
 * their text), axe on every LDAP page in light and dark (screenshots as test-results/screenshots/ldap-*.png),
 * and the layout at 360 px.
 */
describe.skipIf(skipBrowserTests)("LDAP settings in the browser", () => {
  let harness: BrowserHarness;
  let page: Page;
  const password = "quiet harbour lantern 58";
  const UNREACHABLE = "ldap://127.0.0.1:1";

  beforeAll(async () => {
    harness = await startHarness();
    await buildAdmin(harness.db, { username: "ada", fullName: "Ada Lovelace", email: "ada@example.com", password });
    await createTeam(harness.db, SYSTEM_ACTOR, { name: "storage", description: "" });
    await createTeam(harness.db, SYSTEM_ACTOR, { name: "operators", description: "" });
    page = await (await harness.newContext()).newPage();
    await page.emulateMedia({ reducedMotion: "reduce" });
    await signIn(page, "ada", password);
  });

  afterAll(async () => {
    await harness?.close();
  });

  const heading = (p: Page) => p.getByRole("heading", { level: 1 });

  /** Clicks a submit button and waits for the document the POST leads to; returns the POST's status. */
  async function submit(button: Locator): Promise<number> {
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === "POST" && r.request().resourceType() === "document"),
      page.waitForEvent("load"),
      button.click(),
    ]);
    return response.status();
  }

  it("the empty LDAP page", async () => {
    await page.goto("/admin/settings/ldap");
    expect(await heading(page).textContent()).toBe("LDAP");
    await expect.poll(() => page.getByText(/No LDAP server yet/).isVisible()).toBe(true);
    const settingsNav = page.getByRole("navigation", { name: "Settings" });
    expect(await settingsNav.getByRole("link", { name: "LDAP", exact: true }).getAttribute("aria-current")).toBe("page");
    await checkPage(page, "ldap-empty");
  });

  it("the new-server form, fresh", async () => {
    await page.getByRole("link", { name: /^add ldap server$/i }).first().click();
    await page.waitForURL((url) => url.pathname === "/admin/settings/ldap/servers/new");
    expect(await heading(page).textContent()).toBe("Add LDAP server");
    expect(await page.getByLabel(/^verify certificate$/i).isChecked()).toBe(true);
    expect(await page.getByLabel(/^user id field$/i).inputValue()).toBe("uid");
    // The warning about an unverified certificate appears as soon as the box is unticked.
    const warning = page.getByText(/the directory's certificate will not be checked/i);
    expect(await warning.isVisible()).toBe(false);
    await page.getByLabel(/^verify certificate$/i).uncheck();
    expect(await warning.isVisible()).toBe(true);
    await page.getByLabel(/^verify certificate$/i).check();
    await checkPage(page, "ldap-server-new");
  });

  it("the new-server form with errors: summary, invalid fields, typed values kept, password not", async () => {
    await page.getByLabel(/^url$/i).fill("http://ldap.example.test/dc=x");
    await page.getByLabel(/^domain$/i).fill("example.test");
    await page.getByLabel(/^user id field$/i).fill("user id");
    await page.getByLabel(/^bind dn$/i).fill("cn=gatehouse,dc=example,dc=test");
    await page.getByLabel(/^bind password$/i).fill("bind-secret-value");
    await page.getByLabel(/^ca certificate \(pem\)$/i).fill("not a certificate");
    expect(await submit(page.getByRole("button", { name: /^add ldap server$/i }))).toBe(422);
    await page.getByRole("alert").waitFor();
    for (const label of [/^url$/i, /^domain$/i, /^user id field$/i, /^ca certificate \(pem\)$/i]) {
      expect(await page.getByLabel(label).getAttribute("aria-invalid"), String(label)).toBe("true");
    }
    expect(await page.getByRole("alert").textContent()).toMatch(/URL must start with ldap:\/\/ or ldaps:\/\//);
    expect(await page.getByLabel(/^domain$/i).inputValue()).toBe("example.test");
    expect(await page.getByLabel(/^bind password$/i).inputValue()).toBe("");
    expect(await page.content()).not.toContain("bind-secret-value");
    await checkPage(page, "ldap-server-errors");
  });

  it("Test LDAP config on the form, without saving: the failed step in words", async () => {
    await page.getByLabel(/^url$/i).fill(UNREACHABLE);
    await page.getByLabel(/^domain$/i).fill("dc=example,dc=test");
    await page.getByLabel(/^user id field$/i).fill("uid");
    await page.getByLabel(/^ca certificate \(pem\)$/i).fill("");
    await page.getByLabel(/^bind password$/i).fill("bind-secret-value");
    await page.getByLabel(/^test username$/i).fill("alice");
    expect(await submit(page.getByRole("button", { name: /^test ldap config$/i }))).toBe(200);
    const alert = page.getByRole("alert");
    expect(await alert.textContent()).toMatch(/Connection: Failed\./);
    expect(await page.getByLabel(/^url$/i).inputValue()).toBe(UNREACHABLE);
    expect(await page.getByLabel(/^test username$/i).inputValue()).toBe("alice");
    expect(await listLdapServers(harness.db)).toEqual([]);
    await checkPage(page, "ldap-server-form-test");
  });

  it("adds the server, a default team and a mapping through the forms; the populated page", async () => {
    await page.getByLabel(/^bind password$/i).fill("bind-secret-value");
    expect(await submit(page.getByRole("button", { name: /^add ldap server$/i }))).toBe(303);
    await page.waitForURL((url) => url.pathname === "/admin/settings/ldap");
    expect(await page.getByRole("status").textContent()).toMatch(/LDAP server ldap:\/\/127\.0\.0\.1:1 added\./);

    await page.goto("/admin/settings/ldap/servers/new");
    await page.getByLabel(/^url$/i).fill("ldaps://ldap2.example.test:636");
    await page.getByLabel(/^domain$/i).fill("dc=example,dc=test");
    await page.getByLabel(/^verify certificate$/i).uncheck();
    expect(await submit(page.getByRole("button", { name: /^add ldap server$/i }))).toBe(303);

    await page.getByLabel(/^team$/i).selectOption({ label: "storage" });
    expect(await submit(page.getByRole("button", { name: /^join team$/i }))).toBe(303);
    expect(await page.getByRole("status").textContent()).toMatch(/Team storage added to the LDAP Default Teams/);

    await page.getByLabel(/^directory group$/i).fill("operators");
    await page.getByLabel(/^teams$/i).selectOption([{ label: "storage" }, { label: "operators" }]);
    expect(await submit(page.getByRole("button", { name: /^add mapping$/i }))).toBe(303);
    expect(await page.getByRole("status").textContent()).toMatch(/Directory group operators now maps to teams operators and storage/);
    expect(await listLdapGroupMappings(harness.db)).toHaveLength(2);

    await page.getByLabel(/^allow ldap user creation$/i).check();
    expect(await submit(page.getByRole("button", { name: /^save changes$/i }))).toBe(303);
    expect(await page.getByLabel(/^allow ldap user creation$/i).isChecked()).toBe(true);

    // Controls are named with what they act on.
    await page.getByRole("button", { name: "Move down ldap://127.0.0.1:1" }).waitFor();
    await page.getByRole("button", { name: "Move up ldaps://ldap2.example.test:636" }).waitFor();
    await page.getByRole("link", { name: "Test LDAP config ldap://127.0.0.1:1" }).waitFor();
    await page.getByRole("button", { name: "Remove storage" }).waitFor();
    await page.getByRole("button", { name: "Remove mapping operators → storage" }).waitFor();
    expect(await page.getByText("None — passwords in clear").isVisible()).toBe(true);
    expect(await page.getByText("Off — not verified").isVisible()).toBe(true);
    await checkPage(page, "ldap-populated");

    expect(await submit(page.getByRole("button", { name: "Move up ldaps://ldap2.example.test:636" }))).toBe(303);
    expect(await page.getByRole("status").textContent()).toMatch(/moved up: it is now tried first/);
    expect((await listLdapServers(harness.db)).map((s) => s.url)).toEqual(["ldaps://ldap2.example.test:636", "ldap://127.0.0.1:1"]);
  });

  it("the test page of a stored server, with a result", async () => {
    await page.getByRole("link", { name: "Test LDAP config ldap://127.0.0.1:1" }).click();
    await page.waitForURL((url) => url.pathname.endsWith("/test"));
    expect(await heading(page).textContent()).toBe("Test LDAP config");
    await page.getByLabel(/^test username$/i).fill("alice");
    expect(await submit(page.getByRole("button", { name: /^test ldap config$/i }))).toBe(200);
    const alert = page.getByRole("alert");
    expect(await alert.textContent()).toMatch(/Test LDAP config failed at the Connection step/);
    expect(await alert.textContent()).toMatch(/Bind: Not tried\./);
    await checkPage(page, "ldap-test-result");
  });

  it("the edit form, and the remove confirmation page", async () => {
    await page.goto("/admin/settings/ldap");
    await page.getByRole("link", { name: "Edit ldap://127.0.0.1:1" }).click();
    await page.waitForURL((url) => /\/servers\/\d+$/.test(url.pathname));
    expect(await page.getByLabel(/^remove the stored bind password$/i).isChecked()).toBe(false);
    expect(await page.getByText(/A bind password is stored; leave blank to keep it\./).isVisible()).toBe(true);
    await checkPage(page, "ldap-server-edit");

    await page.goto("/admin/settings/ldap");
    await page.getByRole("link", { name: "Remove LDAP server ldap://127.0.0.1:1" }).click();
    await page.waitForURL((url) => url.pathname.endsWith("/remove"));
    expect(await heading(page).textContent()).toBe("Remove LDAP server ldap://127.0.0.1:1?");
    await checkPage(page, "ldap-remove");
    expect(await submit(page.getByRole("button", { name: /^remove ldap server$/i }))).toBe(303);
    expect(await page.getByRole("status").textContent()).toMatch(/LDAP server ldap:\/\/127\.0\.0\.1:1 removed\./);
    expect((await listLdapServers(harness.db)).map((s) => s.url)).toEqual(["ldaps://ldap2.example.test:636"]);
  });

  it("the LDAP pages hold at 360 px wide (no sideways scrolling)", async () => {
    const server = await addLdapServer(harness.db, SYSTEM_ACTOR, testKeys, {
      url: UNREACHABLE,
      startTls: false,
      caCertificate: "",
      verifyCertificate: true,
      baseDn: "ou=a-rather-long-organisational-unit,dc=example,dc=test",
      groupSearchBase: "",
      userIdField: "uid",
      groupIdField: "cn",
      bindDn: "",
      bindPassword: undefined,
      removeBindPassword: false,
      emailAttribute: "mail",
      fullNameAttribute: "cn",
    });
    const narrow = await (await harness.newContext()).newPage();
    await narrow.setViewportSize({ width: 360, height: 740 });
    await signIn(narrow, "ada", password);
    for (const [url, name] of [
      ["/admin/settings/ldap", "ldap-narrow-page"],
      ["/admin/settings/ldap/servers/new", "ldap-narrow-server-new"],
      [`/admin/settings/ldap/servers/${server.id}`, "ldap-narrow-server-edit"],
      [`/admin/settings/ldap/servers/${server.id}/test`, "ldap-narrow-test"],
      [`/admin/settings/ldap/servers/${server.id}/remove`, "ldap-narrow-remove"],
    ] as const) {
      await narrow.goto(url);
      await screenshot(narrow, name);
      const width = await narrow.evaluate<number>("document.documentElement.scrollWidth");
      expect(width, `page width of ${url} at 360 px`).toBeLessThanOrEqual(360);
    }
    // With a test result (long messages) too.
    await narrow.goto(`/admin/settings/ldap/servers/${server.id}/test`);
    await narrow.getByLabel(/^test username$/i).fill("alice");
    await Promise.all([narrow.waitForEvent("load"), narrow.getByRole("button", { name: /^test ldap config$/i }).click()]);
    await narrow.getByRole("alert").waitFor();
    await screenshot(narrow, "ldap-narrow-test-result");
    expect(await narrow.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(360);
  });
});
