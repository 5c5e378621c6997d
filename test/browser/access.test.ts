import type { Locator, Page, Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { addGrant } from "../../src/services/grants.ts";
import { addSystemToGroup, createGroup } from "../../src/services/system-groups.ts";
import { createSystem } from "../../src/services/systems.ts";
import { addTeamMember, createTeam } from "../../src/services/teams.ts";
import type { System, SystemGroup, Team } from "../../src/types/catalog.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import { type BrowserHarness, checkPage, screenshot, signIn, skipBrowserTests, startHarness } from "./browser.ts";

/**
 * Teams, system groups, systems and access, end to end in a real browser: an administrator builds access
 * through the screens, the user sees exactly that (explained), read-only really is read-only, and a change
 * takes effect on the next click. Then the deletion confirmation, axe on every access page (light and dark,
 * screenshots as test-results/screenshots/access-*.png) and the layout at 360 px.
 * Fields are found by label, buttons and links by their text.
 */
describe.skipIf(skipBrowserTests)("teams, groups, systems and access in the browser", () => {
  let harness: BrowserHarness;

  beforeAll(async () => {
    harness = await startHarness();
  });

  afterAll(async () => {
    await harness?.close();
  });

  const password = "quiet harbour lantern 58";

  /**
   * A page in a context of its own. Reduced motion turns Pico's colour transitions off, so that the dark-scheme
   * screenshot and axe's colour rules see the final colours rather than a fade from light to dark.
   */
  async function newPage(): Promise<Page> {
    const page = await (await harness.newContext()).newPage();
    await page.emulateMedia({ reducedMotion: "reduce" });
    return page;
  }
  const heading = (page: Page) => page.getByRole("heading", { level: 1 });
  const mainNav = (page: Page) => page.getByRole("navigation", { name: "Main" });
  const status = (page: Page) => page.getByRole("status");
  const region = (page: Page, name: string) => page.getByRole("region", { name, exact: true });
  const normalise = (texts: string[]) => texts.map((t) => t.replace(/\s+/g, " ").trim());

  /** Rows of the page's only table as normalised cell texts (header cell included). */
  async function tableRows(page: Page): Promise<string[][]> {
    const rows = await page.getByRole("table").locator("tbody tr").all();
    return Promise.all(rows.map(async (row) => normalise(await row.locator("th, td").allTextContents())));
  }

  /**
   * Submits a form by clicking its button. The POST must answer 303 (a success redirects; an error re-renders the
   * form), and this returns once the page it leads to has loaded: the new document's load event, so nothing here
   * waits on a clock. Callers then check the effect on that page.
   */
  async function submit(page: Page, button: Locator): Promise<void> {
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === "POST" && r.request().resourceType() === "document"),
      page.waitForEvent("load"),
      button.click(),
    ]);
    if (response.status() !== 303) {
      const problem = await page.locator(".error-summary").textContent();
      throw new Error(`POST ${response.url()} answered ${response.status()}, not 303${problem ? `: ${normalise([problem])[0]}` : ""}`);
    }
  }

  /** The flash message that the page after a redirect shows in its role="status" region. */
  async function expectFlash(page: Page, text: string): Promise<void> {
    expect(normalise(await status(page).allTextContents()), `flash on ${page.url()}`).toEqual([text]);
  }

  /** Follows a link in the main navigation and waits for its page. */
  async function navigate(page: Page, link: RegExp, pathname: string): Promise<void> {
    await mainNav(page).getByRole("link", { name: link }).click();
    await page.waitForURL((url) => url.pathname === pathname);
  }

  async function createSystemThroughForm(
    page: Page,
    fields: { name: string; host: string; webAddress?: string; gateMode?: string; description: string; notes: string },
  ): Promise<number> {
    await navigate(page, /^manage systems$/i, "/admin/systems");
    await page.getByRole("link", { name: /^new system$/i }).click();
    await page.waitForURL("**/admin/systems/new");
    await page.getByLabel(/^name$/i).fill(fields.name);
    await page.getByLabel(/^host$/i).fill(fields.host);
    if (fields.webAddress) await page.getByLabel(/^web address$/i).fill(fields.webAddress);
    if (fields.gateMode) await page.getByLabel(/^gate mode$/i).selectOption({ label: fields.gateMode });
    await page.getByLabel(/^description$/i).fill(fields.description);
    await page.getByLabel(/^notes$/i).fill(fields.notes);
    await submit(page, page.getByRole("button", { name: /^create system$/i }));
    expect(page.url()).toMatch(/\/admin\/systems\/\d+$/);
    expect(await heading(page).textContent()).toBe(`System ${fields.name}`);
    return Number(new URL(page.url()).pathname.split("/").pop());
  }

  it("an administrator builds access through the screens; the user sees exactly that, explained, and loses it on the next click", async () => {
    await harness.reset();
    await buildAdmin(harness.db, { username: "ada", fullName: "Ada Admin", password });
    await buildUser(harness.db, { username: "alice", fullName: "Alice Archer", password });
    const admin = await newPage();
    await signIn(admin, "ada", password);

    // Systems: Manage systems → New system.
    const ids: Record<string, number> = {};
    ids["nas-prod-1"] = await createSystemThroughForm(admin, {
      name: "nas-prod-1",
      host: "10.0.0.1",
      webAddress: "HTTPS://nas1.example.com:443",
      gateMode: "Read/write only",
      description: "Primary NAS",
      notes: "Rack 1, shelf 3.",
    });
    expect(await admin.getByLabel(/^web address$/i).inputValue()).toBe("https://nas1.example.com");
    expect(await admin.getByLabel(/^gate mode$/i).inputValue()).toBe("read-write-only");
    const nasVersion = await admin.locator('input[name="version"]').inputValue();
    ids["nas-prod-2"] = await createSystemThroughForm(admin, { name: "nas-prod-2", host: "nas2.example.com:443", description: "Replica NAS", notes: "" });
    ids["lab-box"] = await createSystemThroughForm(admin, { name: "lab-box", host: "lab.example.com", description: "Test bench", notes: "" });
    await navigate(admin, /^manage systems$/i, "/admin/systems");
    expect((await tableRows(admin)).map((row) => row.slice(0, 2))).toEqual([
      ["lab-box", "lab.example.com"],
      ["nas-prod-1", "10.0.0.1"],
      ["nas-prod-2", "nas2.example.com:443"],
    ]);
    await screenshot(admin, "access-flow-01-systems");

    // Group prod: Groups → New group, then Add system twice.
    await navigate(admin, /^groups$/i, "/admin/groups");
    await admin.getByRole("link", { name: /^new group$/i }).click();
    await admin.waitForURL("**/admin/groups/new");
    await admin.getByLabel(/^name$/i).fill("prod");
    await admin.getByLabel(/^description$/i).fill("Production storage");
    await submit(admin, admin.getByRole("button", { name: /^create group$/i }));
    expect(admin.url()).toMatch(/\/admin\/groups\/\d+$/);
    expect(await heading(admin).textContent()).toBe("Group prod");
    for (const name of ["nas-prod-1", "nas-prod-2"]) {
      await admin.getByLabel(/^system$/i).selectOption({ label: name });
      await submit(admin, admin.getByRole("button", { name: /^add system$/i }));
      expect(await region(admin, "Systems").getByRole("link", { name, exact: true }).count()).toBe(1);
    }
    expect((await tableRows(admin)).map((row) => row[0])).toEqual(["nas-prod-1", "nas-prod-2"]);
    await screenshot(admin, "access-flow-02-group-prod");

    // Team storage: Teams → New team, then Add user, Add group, Add system.
    await navigate(admin, /^teams$/i, "/admin/teams");
    await admin.getByRole("link", { name: /^new team$/i }).click();
    await admin.waitForURL("**/admin/teams/new");
    await admin.getByLabel(/^name$/i).fill("storage");
    await admin.getByLabel(/^description$/i).fill("The storage team");
    await submit(admin, admin.getByRole("button", { name: /^create team$/i }));
    expect(admin.url()).toMatch(/\/admin\/teams\/\d+$/);
    expect(await heading(admin).textContent()).toBe("Team storage");
    const teamUrl = new URL(admin.url()).pathname;

    await admin.getByLabel(/^username$/i).fill("alice");
    await submit(admin, admin.getByRole("button", { name: /^add user$/i }));

    const groups = region(admin, "System groups");
    await groups.getByLabel(/^group$/i).selectOption({ label: "prod" });
    await groups.getByLabel(/^permission$/i).selectOption({ label: "read" });
    await submit(admin, groups.getByRole("button", { name: /^add group$/i }));

    const systems = region(admin, "System access");
    await systems.getByLabel(/^system$/i).selectOption({ label: "lab-box" });
    await systems.getByLabel(/^permission$/i).selectOption({ label: "read/write" });
    await submit(admin, systems.getByRole("button", { name: /^add system$/i }));

    expect(await region(admin, "Members").getByRole("link", { name: "alice" }).count()).toBe(1);
    expect(await region(admin, "System groups").getByLabel(/^permission on group prod$/i).inputValue()).toBe("read");
    expect(await region(admin, "System access").getByLabel(/^permission on lab-box$/i).inputValue()).toBe("read/write");
    await screenshot(admin, "access-flow-03-team-storage");

    // Alice sees exactly what the team gives her.
    const alice = await newPage();
    await signIn(alice, "alice", password);
    await navigate(alice, /^systems$/i, "/systems");
    expect((await tableRows(alice)).map((row) => [row[0], row[2]])).toEqual([
      ["lab-box", "read/write"],
      ["nas-prod-1", "read"],
      ["nas-prod-2", "read"],
    ]);
    expect(await alice.getByRole("table").getByRole("caption").textContent()).toBe("3 systems you can access");
    await screenshot(alice, "access-flow-04-alice-systems");

    // nas-prod-1: read, explained, and no way to save.
    await alice.getByRole("link", { name: "nas-prod-1", exact: true }).click();
    await alice.waitForURL(`**/systems/${ids["nas-prod-1"]}`);
    expect(await heading(alice).textContent()).toBe("nas-prod-1");
    const why = region(alice, "Why you have this access");
    expect(normalise(await why.getByRole("listitem").allTextContents())).toEqual(["team storage, through group prod: read (decides)"]);
    expect(await alice.getByRole("button", { name: /^save changes$/i }).count()).toBe(0);
    expect(await alice.getByRole("textbox").count()).toBe(0);
    expect(await alice.getByRole("link", { name: "Open", exact: true }).getAttribute("href")).toBe("https://nas1.example.com");
    expect(await region(alice, "Notes").textContent()).toContain("Rack 1, shelf 3.");
    await screenshot(alice, "access-flow-05-alice-nas-prod-1-read");

    // A forged write from her own page, with a valid CSRF token: refused for want of read/write, nothing changes.
    const token = await alice.locator('input[name="_csrf"]').first().inputValue();
    const forged = await alice.evaluate(
      async ({ url, body }) => {
        const response = await fetch(url, { method: "POST", body: new URLSearchParams(body), redirect: "manual" });
        return { status: response.status, text: await response.text() };
      },
      { url: `/systems/${ids["nas-prod-1"]}`, body: { _csrf: token, description: "Forged", notes: "forged notes", version: nasVersion } },
    );
    expect(forged.status).toBe(403);
    expect(forged.text).toContain("changing it needs read/write");
    await alice.reload();
    expect(await region(alice, "Notes").textContent()).toContain("Rack 1, shelf 3.");
    expect(await region(alice, "Notes").textContent()).not.toContain("forged");

    // lab-box: read/write, so she edits the notes.
    await navigate(alice, /^systems$/i, "/systems");
    await alice.getByRole("link", { name: "lab-box", exact: true }).click();
    await alice.waitForURL(`**/systems/${ids["lab-box"]}`);
    expect(normalise(await region(alice, "Why you have this access").getByRole("listitem").allTextContents())).toEqual([
      "team storage: read/write (decides)",
    ]);
    const notes = "Bench PSU replaced.\nAsk before rebooting.";
    await alice.getByLabel(/^notes$/i).fill(notes);
    await submit(alice, alice.getByRole("button", { name: /^save changes$/i }));
    expect(new URL(alice.url()).pathname).toBe(`/systems/${ids["lab-box"]}`);
    expect(await alice.getByLabel(/^notes$/i).inputValue()).toBe(notes);
    await screenshot(alice, "access-flow-06-alice-lab-box-saved");

    // The administrator removes her from the team: her very next click shows nothing.
    await admin.goto(teamUrl);
    await submit(admin, region(admin, "Members").getByRole("button", { name: "Remove alice from team storage", exact: true }));
    await expectFlash(admin, "Removed from team storage; 1 user lost access to 3 systems.");
    expect(await region(admin, "Members").getByText("No members yet.").count()).toBe(1);

    await navigate(alice, /^systems$/i, "/systems");
    expect(await alice.getByRole("table").count()).toBe(0);
    expect(await alice.getByText("You do not have access to any system yet.").count()).toBe(1);
    await screenshot(alice, "access-flow-07-alice-no-systems");
    const gone = await alice.goto(`/systems/${ids["lab-box"]}`);
    expect(gone?.status()).toBe(404);
  });

  /** Three systems, group prod (nas-prod-1, nas-prod-2), team storage (group prod read, lab-box read/write). */
  async function seedAccess(db: Db): Promise<{ systems: Record<string, System>; prod: SystemGroup; storage: Team }> {
    const actor = SYSTEM_ACTOR;
    const systems: Record<string, System> = {};
    for (const [name, host, description] of [
      ["nas-prod-1", "10.0.0.1", "Primary NAS"],
      ["nas-prod-2", "nas2.example.com:443", "Replica NAS"],
      ["lab-box", "lab.example.com", "Test bench"],
    ] as const) {
      const webAddress = name === "nas-prod-1" ? "https://nas1.example.com" : null;
      systems[name] = await createSystem(db, actor, { name, host, webAddress, description, notes: `Notes about ${name}.` });
    }
    const prod = await createGroup(db, actor, { name: "prod", description: "Production storage" });
    await addSystemToGroup(db, actor, prod.id, systems["nas-prod-1"]!.id);
    await addSystemToGroup(db, actor, prod.id, systems["nas-prod-2"]!.id);
    const storage = await createTeam(db, actor, { name: "storage", description: "The storage team" });
    await addGrant(db, actor, { kind: "team", id: storage.id }, { kind: "group", id: prod.id }, "read");
    await addGrant(db, actor, { kind: "team", id: storage.id }, { kind: "system", id: systems["lab-box"]!.id }, "read/write");
    return { systems, prod, storage };
  }

  it("deleting a team asks first, naming the users who lose access and the systems, then says what happened", async () => {
    await harness.reset();
    await buildAdmin(harness.db, { username: "ada", fullName: "Ada Admin", password });
    const alice = await buildUser(harness.db, { username: "alice", fullName: "Alice Archer" });
    const bob = await buildUser(harness.db, { username: "bob", fullName: "Bob Builder" });
    const { systems, prod, storage } = await seedAccess(harness.db);
    await addTeamMember(harness.db, SYSTEM_ACTOR, storage.id, alice.id);
    await addTeamMember(harness.db, SYSTEM_ACTOR, storage.id, bob.id);
    // Bob holds the same access himself, so deleting the team takes nothing from him.
    await addGrant(harness.db, SYSTEM_ACTOR, { kind: "user", id: bob.id }, { kind: "group", id: prod.id }, "read/write");
    await addGrant(harness.db, SYSTEM_ACTOR, { kind: "user", id: bob.id }, { kind: "system", id: systems["lab-box"]!.id }, "read/write");

    const admin = await newPage();
    await signIn(admin, "ada", password);
    await admin.goto(`/admin/teams/${storage.id}`);
    await admin.getByRole("link", { name: /^delete team$/i }).click();
    await admin.waitForURL(`**/admin/teams/${storage.id}/delete`);
    expect(await heading(admin).textContent()).toBe("Delete team storage?");
    expect(await admin.getByRole("main").textContent()).toMatch(/1 user loses access\s+to 3 systems/);
    expect((await tableRows(admin)).map((row) => row[0])).toEqual(["alice"]);
    expect(normalise(await admin.getByRole("table").getByRole("listitem").allTextContents()).sort()).toEqual([
      "lab-box: read/write → no access",
      "nas-prod-1: read → no access",
      "nas-prod-2: read → no access",
    ]);
    expect(await admin.getByRole("link", { name: /^cancel$/i }).getAttribute("href")).toBe(`/admin/teams/${storage.id}`);
    await screenshot(admin, "access-delete-01-confirm");

    await submit(admin, admin.getByRole("button", { name: /^delete team$/i }));
    await expectFlash(admin, "Team storage deleted; 1 user lost access to 3 systems.");
    expect(new URL(admin.url()).pathname).toBe("/admin/teams");
    expect(await admin.getByRole("table").count()).toBe(0);
    expect(await admin.getByRole("link", { name: /create the first team/i }).count()).toBe(1);
    await screenshot(admin, "access-delete-02-done");

    // Users and systems stay.
    const remaining = await newPage();
    await signIn(remaining, "bob", bob.password);
    await navigate(remaining, /^systems$/i, "/systems");
    expect((await tableRows(remaining)).map((row) => [row[0], row[2]])).toEqual([
      ["lab-box", "read/write"],
      ["nas-prod-1", "read/write"],
      ["nas-prod-2", "read/write"],
    ]);
  });

  describe("axe finds nothing on any access page", () => {
    let admin: Page;
    let alice: Page;
    let bob: Page;
    let uma: Page;

    /** Opens a page, checks its status and heading, then runs axe (light and dark) and takes screenshots. */
    async function visit(page: Page, url: string, expected: number, title: string | RegExp, name: string): Promise<Response | null> {
      const response = await page.goto(url);
      expect(response?.status(), `status of ${url}`).toBe(expected);
      if (typeof title === "string") expect(await heading(page).textContent()).toBe(title);
      else expect(await heading(page).textContent()).toMatch(title);
      await checkPage(page, name);
      return response;
    }

    beforeAll(async () => {
      await harness.reset();
      await buildAdmin(harness.db, { username: "ada", fullName: "Ada Admin", password });
      await buildUser(harness.db, { username: "alice", fullName: "Alice Archer", password });
      await buildUser(harness.db, { username: "bob", fullName: "Bob Builder", password });
      await buildUser(harness.db, { username: "uma", fullName: "Uma Usher", password });
      admin = await newPage();
      await signIn(admin, "ada", password);
      alice = await newPage();
      await signIn(alice, "alice", password);
      bob = await newPage();
      await signIn(bob, "bob", password);
      uma = await newPage();
      await signIn(uma, "uma", password);
    });

    describe("before any team, group or system exists", () => {
      it("/admin/teams, empty", async () => {
        await visit(admin, "/admin/teams", 200, "Teams", "access-teams-empty");
        expect(await admin.getByRole("table").count()).toBe(0);
        expect(await admin.getByRole("link", { name: /create the first team/i }).count()).toBe(1);
      });

      it("/admin/groups, empty", async () => {
        await visit(admin, "/admin/groups", 200, "System groups", "access-groups-empty");
        expect(await admin.getByRole("link", { name: /create the first group/i }).count()).toBe(1);
      });

      it("/admin/systems, empty", async () => {
        await visit(admin, "/admin/systems", 200, "Systems", "access-systems-empty");
        expect(await admin.getByRole("link", { name: /add the first system/i }).count()).toBe(1);
      });

      it("/admin/teams/new", async () => {
        await visit(admin, "/admin/teams/new", 200, "New team", "access-team-new");
      });

      it("/admin/groups/new", async () => {
        await visit(admin, "/admin/groups/new", 200, "New group", "access-group-new");
      });

      it("/admin/systems/new", async () => {
        await visit(admin, "/admin/systems/new", 200, "New system", "access-system-new");
      });

      it("/admin/systems/new with errors (no name, a bad host)", async () => {
        await admin.goto("/admin/systems/new");
        await admin.getByLabel(/^host$/i).fill("not a host!");
        await admin.getByLabel(/^notes$/i).fill("Kept after the error.");
        await admin.getByRole("button", { name: /^create system$/i }).click();
        await admin.getByRole("alert").waitFor();
        expect(await admin.getByLabel(/^name$/i).getAttribute("aria-invalid")).toBe("true");
        expect(await admin.getByLabel(/^host$/i).getAttribute("aria-invalid")).toBe("true");
        expect(await admin.getByLabel(/^host$/i).inputValue()).toBe("not a host!");
        expect(await admin.getByLabel(/^notes$/i).inputValue()).toBe("Kept after the error.");
        expect(await admin.getByRole("alert").getByRole("link").count()).toBe(2);
        await checkPage(admin, "access-system-new-errors");
      });

      it("/systems for a user without systems", async () => {
        await visit(uma, "/systems", 200, "Systems", "access-user-systems-empty");
        expect(await uma.getByText("You do not have access to any system yet.").count()).toBe(1);
      });
    });

    describe("with teams, groups and systems", () => {
      let ids: { nas1: number; lab: number; prod: number; storage: number };

      beforeAll(async () => {
        const db = harness.db;
        const actor = SYSTEM_ACTOR;
        const { systems, prod, storage } = await seedAccess(db);
        const users = await db("users").select("id", "username");
        const idOf = (username: string) => Number(users.find((u: { username: string }) => u.username === username)!.id);
        await addTeamMember(db, actor, storage.id, idOf("alice"));
        await addTeamMember(db, actor, storage.id, idOf("bob"));
        const backup = await createTeam(db, actor, { name: "backup", description: "Nightly backups and restores" });
        await addGrant(db, actor, { kind: "team", id: backup.id }, { kind: "system", id: systems["nas-prod-2"]!.id }, "read");
        await createTeam(db, actor, { name: "a-team-with-a-rather-long-name-for-wrapping", description: "" });
        await createGroup(db, actor, { name: "lab", description: "Anything that is not production" });
        // Bob: his own read/write on nas-prod-1 decides over the team's read through prod.
        await addGrant(db, actor, { kind: "user", id: idOf("bob") }, { kind: "system", id: systems["nas-prod-1"]!.id }, "read/write");
        // Uma: read on group prod herself.
        await addGrant(db, actor, { kind: "user", id: idOf("uma") }, { kind: "group", id: prod.id }, "read");
        ids = { nas1: systems["nas-prod-1"]!.id, lab: systems["lab-box"]!.id, prod: prod.id, storage: storage.id };
      });

      it("/admin/teams with teams", async () => {
        await visit(admin, "/admin/teams", 200, "Teams", "access-teams");
        expect((await tableRows(admin)).map((row) => [row[0], row[2]])).toEqual([
          ["a-team-with-a-rather-long-name-for-wrapping", "0"],
          ["backup", "0"],
          ["storage", "2"],
        ]);
      });

      it("/admin/teams/new with an error (a name already taken)", async () => {
        await admin.goto("/admin/teams/new");
        await admin.getByLabel(/^name$/i).fill("STORAGE");
        await admin.getByLabel(/^description$/i).fill("A second storage team");
        await admin.getByRole("button", { name: /^create team$/i }).click();
        await admin.getByRole("alert").waitFor();
        expect(await admin.getByRole("alert").textContent()).toContain("already used by another team");
        expect(await admin.getByLabel(/^name$/i).getAttribute("aria-invalid")).toBe("true");
        expect(await admin.getByLabel(/^name$/i).inputValue()).toBe("STORAGE");
        expect(await admin.getByLabel(/^description$/i).inputValue()).toBe("A second storage team");
        await checkPage(admin, "access-team-new-errors");
      });

      it("/admin/teams/:id with members and grants", async () => {
        await visit(admin, `/admin/teams/${ids.storage}`, 200, "Team storage", "access-team-show");
        expect(await region(admin, "Members").getByRole("button", { name: /^remove /i }).count()).toBe(2);
        for (const section of ["System access", "System groups"]) {
          // Each grant row and the add row: a Permission select offering exactly read and read/write.
          const selects = await region(admin, section).getByLabel(/^permission/i).all();
          expect(selects).toHaveLength(2);
          for (const select of selects) {
            expect(normalise(await select.getByRole("option").allTextContents())).toEqual(["read", "read/write"]);
          }
          for (const remove of await region(admin, section).getByRole("button", { name: /remove/i }).all()) {
            expect(await remove.getAttribute("aria-label")).toMatch(/^Remove /);
          }
        }
      });

      it("/admin/teams/:id with an error (an unknown username)", async () => {
        await admin.goto(`/admin/teams/${ids.storage}`);
        await admin.getByLabel(/^username$/i).fill("nobody-here");
        await admin.getByRole("button", { name: /^add user$/i }).click();
        await admin.getByRole("alert").waitFor();
        expect(await admin.getByRole("alert").textContent()).toContain('No user is named "nobody-here".');
        expect(await admin.getByLabel(/^username$/i).getAttribute("aria-invalid")).toBe("true");
        expect(await admin.getByLabel(/^username$/i).inputValue()).toBe("nobody-here");
        expect(await admin.getByLabel(/^name$/i).inputValue()).toBe("storage");
        await checkPage(admin, "access-team-show-errors");
      });

      it("/admin/teams/:id/delete", async () => {
        await visit(admin, `/admin/teams/${ids.storage}/delete`, 200, "Delete team storage?", "access-team-delete");
      });

      it("/admin/groups with groups", async () => {
        await visit(admin, "/admin/groups", 200, "System groups", "access-groups");
        expect((await tableRows(admin)).map((row) => [row[0], row[2]])).toEqual([
          ["lab", "0"],
          ["prod", "2"],
        ]);
      });

      it("/admin/groups/:id", async () => {
        await visit(admin, `/admin/groups/${ids.prod}`, 200, "Group prod", "access-group-show");
        expect(await admin.getByRole("button", { name: /^add system$/i }).count()).toBe(1);
      });

      it("/admin/groups/:id/delete", async () => {
        await visit(admin, `/admin/groups/${ids.prod}/delete`, 200, "Delete group prod?", "access-group-delete");
      });

      it("/admin/systems with systems", async () => {
        await visit(admin, "/admin/systems", 200, "Systems", "access-systems");
        expect(await tableRows(admin)).toHaveLength(3);
      });

      it("/admin/systems with a search that matches nothing", async () => {
        await admin.goto("/admin/systems");
        await admin.getByLabel(/^search$/i).fill("no-such-system");
        await admin.getByRole("button", { name: /^search$/i }).click();
        await admin.waitForURL(/[?&]q=no-such-system/);
        expect(await admin.getByRole("table").count()).toBe(0);
        expect(await admin.getByLabel(/^search$/i).inputValue()).toBe("no-such-system");
        await checkPage(admin, "access-systems-search-empty");
      });

      it("/admin/systems/:id with who has access and why", async () => {
        await visit(admin, `/admin/systems/${ids.nas1}`, 200, "System nas-prod-1", "access-system-show");
        const rows = await region(admin, "Who has access and why").locator("tbody tr").all();
        const byUser = Object.fromEntries(
          await Promise.all(rows.map(async (row) => [normalise([await row.locator("th").textContent() ?? ""])[0], normalise(await row.getByRole("listitem").allTextContents())])),
        );
        expect(byUser).toEqual({
          alice: ["team storage, through group prod: read (decides)"],
          bob: ["directly: read/write (decides)", "team storage, through group prod: read"],
          uma: ["through group prod: read (decides)"],
        });
      });

      it("/admin/systems/:id/delete", async () => {
        await visit(admin, `/admin/systems/${ids.nas1}/delete`, 200, "Delete system nas-prod-1?", "access-system-delete");
      });

      it("/systems for a user with systems", async () => {
        await visit(alice, "/systems", 200, "Systems", "access-user-systems");
        expect(await tableRows(alice)).toHaveLength(3);
      });

      it("/systems/:id with read", async () => {
        await visit(alice, `/systems/${ids.nas1}`, 200, "nas-prod-1", "access-user-system-read");
        expect(await alice.getByRole("button", { name: /^save changes$/i }).count()).toBe(0);
      });

      it("/systems/:id with read/write (two contributing grants)", async () => {
        await visit(bob, `/systems/${ids.nas1}`, 200, "nas-prod-1", "access-user-system-read-write");
        expect(await bob.getByRole("button", { name: /^save changes$/i }).count()).toBe(1);
        expect(normalise(await region(bob, "Why you have this access").getByRole("listitem").allTextContents())).toEqual([
          "you, directly: read/write (decides)",
          "team storage, through group prod: read",
        ]);
      });

      it("the access pages hold at 360 px wide (no sideways scrolling; tables scroll inside their frame)", async () => {
        const pages: [Page, string, string][] = [
          [admin, `/admin/teams/${ids.storage}`, "access-narrow-team-show"],
          [admin, `/admin/teams/${ids.storage}/delete`, "access-narrow-team-delete"],
          [admin, `/admin/groups/${ids.prod}`, "access-narrow-group-show"],
          [admin, "/admin/systems", "access-narrow-systems"],
          [admin, `/admin/systems/${ids.nas1}`, "access-narrow-system-show"],
          [alice, "/systems", "access-narrow-user-systems"],
          [alice, `/systems/${ids.nas1}`, "access-narrow-user-system-read"],
          [bob, `/systems/${ids.nas1}`, "access-narrow-user-system-read-write"],
        ];
        for (const [page, url, name] of pages) {
          await page.setViewportSize({ width: 360, height: 740 });
          try {
            await page.goto(url);
            await screenshot(page, name);
            const width = await page.evaluate<number>("document.documentElement.scrollWidth");
            expect(width, `page width of ${url} at 360 px`).toBeLessThanOrEqual(360);
          } finally {
            await page.setViewportSize({ width: 1280, height: 800 });
          }
        }
      });
    });
  });
});
