import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAdmin } from "../helpers/factories.ts";
import { type BrowserHarness, checkPage, signIn, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * A password an administrator sets for someone else is temporary (docs/domain.md, "Passwords and reset";
 * docs/security.md A17), end to end in a real browser: the administrator creates bob with a password and is told it is
 * temporary; bob signs in with it and lands on Choose a new password, where nothing else opens and the
 * administrator's password is refused; bob chooses his own and signs in with it. Axe on every page of the flow
 * (screenshots as test-results/screenshots/admin-set-*.png).
 */
describe.skipIf(skipBrowserTests)("a password set by an administrator, in the browser", () => {
  let harness: BrowserHarness;
  const adminPassword = "quiet harbour lantern 58";
  const setByAdmin = "violet tractor summer 17";
  const bobsOwn = "copper kettle on the stove 17";

  beforeAll(async () => {
    harness = await startHarness();
    await buildAdmin(harness.db, { username: "ada", fullName: "Ada Admin", password: adminPassword });
  });

  afterAll(async () => {
    await harness?.close();
  });

  const normalise = (text: string | null) => (text ?? "").replace(/\s+/g, " ").trim();
  const pathOf = (page: Page) => new URL(page.url()).pathname;

  async function newPage(): Promise<Page> {
    return (await harness.newContext()).newPage();
  }

  /** Clicks a form's button and waits for the page it leads to; the POST must answer `status`. */
  async function submit(page: Page, button: Locator, status = 303): Promise<void> {
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === "POST" && r.request().resourceType() === "document"),
      page.waitForEvent("load"),
      button.click(),
    ]);
    expect(response.status(), `POST ${response.url()}`).toBe(status);
  }

  it("the administrator is told the password is temporary; bob signs in, can only choose his own, then signs in with it", async () => {
    const admin = await newPage();
    await signIn(admin, "ada", adminPassword);
    await admin.goto("/admin/users/new");
    await admin.getByLabel(/^username$/i).fill("bob");
    await admin.getByLabel(/^full name$/i).fill("Bob Builder");
    await admin.getByLabel(/^password$/i).fill(setByAdmin);
    await admin.getByLabel(/^confirm password$/i).fill(setByAdmin);
    await submit(admin, admin.getByRole("button", { name: /^create user$/i }));
    expect(pathOf(admin)).toMatch(/^\/admin\/users\/\d+$/);
    expect(normalise(await admin.getByRole("status").textContent())).toContain(
      "User bob created. The password you set is temporary: bob must replace it at the next sign-in.",
    );
    await checkPage(admin, "admin-set-01-user-created");

    // bob signs in with the administrator's password: only choosing his own is open.
    const bob = await newPage();
    await signIn(bob, "bob", setByAdmin);
    expect(pathOf(bob)).toBe("/login/new-password");
    expect(normalise(await bob.getByRole("heading", { level: 1 }).textContent())).toBe("Choose a new password");
    expect(normalise(await bob.locator("main").textContent())).toContain("An administrator set your password, so it is temporary");
    expect(await bob.getByRole("button", { name: "Sign out" }).count()).toBe(0);
    await checkPage(bob, "admin-set-02-choose-own");
    for (const path of ["/", "/systems", "/profile"]) {
      await bob.goto(path);
      expect(pathOf(bob), path).toBe("/login/new-password");
    }

    // Keeping the administrator's password is refused, at the field.
    await bob.getByLabel("New password", { exact: true }).fill(setByAdmin);
    await bob.getByLabel("Confirm new password", { exact: true }).fill(setByAdmin);
    await submit(bob, bob.getByRole("button", { name: "Set new password" }), 422);
    expect(await bob.getByLabel("New password", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    expect(normalise(await bob.getByRole("alert").textContent())).toContain("Choose a password of your own: this is the one an administrator set.");
    await checkPage(bob, "admin-set-03-same-refused");

    await bob.getByLabel("New password", { exact: true }).fill(bobsOwn);
    await bob.getByLabel("Confirm new password", { exact: true }).fill(bobsOwn);
    await submit(bob, bob.getByRole("button", { name: "Set new password" }));
    expect(pathOf(bob)).toBe("/login");
    expect(normalise(await bob.getByRole("status").textContent())).toContain("Your password has been changed");
    await checkPage(bob, "admin-set-04-changed");

    // The administrator's password is spent; bob's own signs in as usual.
    await bob.getByLabel(/^username$/i).fill("bob");
    await bob.getByLabel(/^password$/i).fill(setByAdmin);
    await submit(bob, bob.getByRole("button", { name: /^sign in$/i }), 401);
    await signIn(bob, "bob", bobsOwn);
    expect(pathOf(bob)).toBe("/");
    expect(normalise(await bob.getByRole("heading", { level: 1 }).textContent())).toMatch(/welcome, bob builder/i);
    await checkPage(bob, "admin-set-05-home");
  }, 180_000);
});
