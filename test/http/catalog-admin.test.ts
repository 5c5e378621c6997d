import { describe, expect, it } from "vitest";
import { accessLevel } from "../../src/access/resolver.ts";
import type { Db } from "../../src/db/index.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { createTestApp } from "../helpers/app.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { useTestDb } from "../helpers/db.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";

let db: Db;
useTestDb((created) => {
  db = created;
});

async function idOf(table: string, name: string): Promise<number> {
  const row = await db(table).select("id").where({ name }).first<{ id: string }>();
  return Number(row.id);
}

describe("teams, groups and systems administration", () => {
  it("an administrator builds access that the user's resolver then reflects", async () => {
    const admin = await buildAdmin(db, { username: "root" });
    const user = await buildUser(db, { username: "alice" });
    const app = createTestApp(db);
    const agent = await signedInAgent(app, admin);

    expect((await agent.post("/admin/systems", { name: "nas-1", host: "10.0.0.1:443", description: "Primary", notes: "" })).status).toBe(303);
    expect((await agent.post("/admin/systems", { name: "nas-2", host: "nas2.example.com", description: "", notes: "" })).status).toBe(303);
    const nas1 = await idOf("systems", "nas-1");
    const nas2 = await idOf("systems", "nas-2");

    expect((await agent.post("/admin/groups", { name: "prod", description: "" })).status).toBe(303);
    const prod = await idOf("system_groups", "prod");
    expect((await agent.post(`/admin/groups/${prod}/systems`, { systemId: String(nas2) })).status).toBe(303);

    expect((await agent.post("/admin/teams", { name: "storage", description: "Storage team" })).status).toBe(303);
    const storage = await idOf("teams", "storage");
    expect((await agent.post(`/admin/teams/${storage}/members`, { username: "ALICE" })).status).toBe(303);
    expect((await agent.post(`/admin/teams/${storage}/systems`, { systemId: String(nas1), permission: "read" })).status).toBe(303);
    expect((await agent.post(`/admin/teams/${storage}/groups`, { groupId: String(prod), permission: "read/write" })).status).toBe(303);

    expect(await accessLevel(db, user.id, nas1)).toBe(1);
    expect(await accessLevel(db, user.id, nas2)).toBe(2);

    const teamPage = await agent.get(`/admin/teams/${storage}`);
    expect(teamPage.status).toBe(200);
    expect(teamPage.text).toContain("alice");
    expect(teamPage.text).toContain('aria-label="Remove access to system nas-1"');

    const systemPage = await agent.get(`/admin/systems/${nas2}`);
    expect(systemPage.text).toContain("team storage, through group prod: read/write");

    const confirm = await agent.get(`/admin/teams/${storage}/delete`);
    expect(confirm.text).toContain("Delete team storage?");
    expect(confirm.text).toContain("1 user loses access");
    const version = /name="version" value="(\d+)"/.exec(confirm.text)![1]!;
    const deleted = await agent.post(`/admin/teams/${storage}/delete`, { version });
    expect(deleted.status, deleted.text.match(/<p>[^<]*<\/p>/g)?.join(" ")).toBe(303);
    const list = await agent.get("/admin/teams");
    expect(list.text).toContain("Team storage deleted; 1 user lost access to 2 systems.");
    expect(await accessLevel(db, user.id, nas1)).toBe(0);
    expect(Number((await db("team_system_grants").count<{ count: string }[]>("* as count").first())?.count)).toBe(0);

    const actions = (await listAuditEvents(db)).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["system.created", "group.created", "group.system_added", "team.created", "team.member_added", "grant.added", "team.deleted"]));
  });

  it("the user sees exactly their systems, the explanation, and can write only with read/write", async () => {
    const admin = await buildAdmin(db, { username: "root" });
    const user = await buildUser(db, { username: "bob" });
    const app = createTestApp(db);
    const adminAgent = await signedInAgent(app, admin);
    await adminAgent.post("/admin/systems", { name: "ro-box", host: "10.0.0.9", description: "", notes: "" });
    await adminAgent.post("/admin/systems", { name: "rw-box", host: "10.0.0.10", description: "", notes: "" });
    await adminAgent.post("/admin/systems", { name: "secret-box", host: "10.0.0.11", description: "", notes: "" });
    const ro = await idOf("systems", "ro-box");
    const rw = await idOf("systems", "rw-box");
    const hidden = await idOf("systems", "secret-box");
    await db("user_system_grants").insert([
      { user_id: user.id, system_id: ro, permission: 1 },
      { user_id: user.id, system_id: rw, permission: 2 },
    ]);

    const agent = await signedInAgent(app, user);
    const list = await agent.get("/systems");
    expect(list.text).toContain("ro-box");
    expect(list.text).toContain("rw-box");
    expect(list.text).not.toContain("secret-box");

    const detail = await agent.get(`/systems/${ro}`);
    expect(detail.text).toContain("Why you have this access");
    expect(detail.text).toContain("you, directly: read");

    expect((await agent.get(`/systems/${hidden}`)).status).toBe(404);
    expect((await agent.get("/systems/999999")).status).toBe(404);

    const refused = await agent.post(`/systems/${ro}`, { description: "x", notes: "mine now", version: "1" });
    expect(refused.status).toBe(403);
    const saved = await agent.post(`/systems/${rw}`, { description: "edited", notes: "n", version: "1" });
    expect(saved.status).toBe(303);
    expect((await db("systems").where({ id: rw }).first()).description).toBe("edited");
    expect((await agent.post(`/systems/${hidden}`, { description: "x", notes: "", version: "1" })).status).toBe(404);
  });

  it("a plain user gets 403 and an anonymous visitor is sent to sign in on every new admin route", async () => {
    await buildAdmin(db);
    const user = await buildUser(db);
    const app = createTestApp(db);
    const anonymous = new TestAgent(app);
    const agent = await signedInAgent(app, user);
    for (const path of ["/admin/teams", "/admin/teams/new", "/admin/groups", "/admin/groups/new", "/admin/systems", "/admin/systems/new"]) {
      expect((await anonymous.get(path)).status, path).toBe(303);
      expect((await agent.get(path)).status, path).toBe(403);
    }
    for (const path of ["/admin/teams", "/admin/groups", "/admin/systems"]) {
      expect((await agent.post(path, { name: "x", host: "a.b", description: "", notes: "" })).status, path).toBe(403);
    }
  });
});

describe("the user page's Teams, System access, System groups and Effective access sections", () => {
  it("joins a team, grants a system and a group, and explains the effective access", async () => {
    const admin = await buildAdmin(db, { username: "root" });
    const user = await buildUser(db, { username: "carol" });
    const app = createTestApp(db);
    const agent = await signedInAgent(app, admin);
    await agent.post("/admin/systems", { name: "nas-a", host: "10.1.0.1", description: "", notes: "" });
    await agent.post("/admin/systems", { name: "nas-b", host: "10.1.0.2", description: "", notes: "" });
    await agent.post("/admin/groups", { name: "backup", description: "" });
    await agent.post("/admin/teams", { name: "ops", description: "" });
    const [nasA, nasB, backup, ops] = [await idOf("systems", "nas-a"), await idOf("systems", "nas-b"), await idOf("system_groups", "backup"), await idOf("teams", "ops")];
    await agent.post(`/admin/groups/${backup}/systems`, { systemId: String(nasB) });
    await agent.post(`/admin/teams/${ops}/systems`, { systemId: String(nasA), permission: "read/write" });

    const page = await agent.get(`/admin/users/${user.id}`);
    expect(page.text).toContain("Join team");
    expect(page.text).toContain("Add system");
    expect(page.text).toContain("Add group");
    expect(page.text).toContain("No access to any system");

    expect((await agent.post(`/admin/users/${user.id}/teams`, { teamId: String(ops) })).status).toBe(303);
    expect((await agent.post(`/admin/users/${user.id}/systems`, { systemId: String(nasA) })).status).toBe(303);
    expect((await agent.post(`/admin/users/${user.id}/groups`, { groupId: String(backup), permission: "read" })).status).toBe(303);
    expect(await db("user_system_grants").where({ user_id: user.id, system_id: nasA }).first()).toMatchObject({ permission: 1 });

    const after = await agent.get(`/admin/users/${user.id}`);
    expect(after.text).toContain('aria-label="Remove carol from team ops"');
    expect(after.text).toContain('aria-label="Remove access to system nas-a"');
    expect(after.text).toContain('aria-label="Remove access to group backup"');
    expect(after.text).toContain("directly: read");
    expect(after.text).toContain("team ops: read/write (decides)");
    expect(after.text).toContain("through group backup: read (decides)");

    expect((await agent.post(`/admin/users/${user.id}/systems/${nasA}`, { permission: "read/write" })).status).toBe(303);
    expect(await db("user_system_grants").where({ user_id: user.id, system_id: nasA }).first()).toMatchObject({ permission: 2 });
    expect((await agent.post(`/admin/users/${user.id}/teams/${ops}/remove`, {})).status).toBe(303);
    expect((await agent.post(`/admin/users/${user.id}/groups/${backup}/remove`, {})).status).toBe(303);
    expect(await accessLevel(db, user.id, nasB)).toBe(0);
    expect(await accessLevel(db, user.id, nasA)).toBe(2);
  });
});

describe("searching lists", () => {
  it("finds names typed in another width or case, and treats % and _ as themselves", async () => {
    const admin = await buildAdmin(db, { username: "root" });
    await buildUser(db, { username: "bob_1", fullName: "Bob Builder" });
    await buildUser(db, { username: "bobx1", fullName: "Robert" });
    const agent = await signedInAgent(createTestApp(db), admin);
    await agent.post("/admin/systems", { name: "nas-prod", host: "10.2.0.1", description: "", notes: "" });
    await agent.post("/admin/systems", { name: "lab", host: "10.2.0.2", description: "", notes: "" });

    const systems = await agent.get(`/admin/systems?q=${encodeURIComponent("ＮＡＳ")}`);
    expect(systems.text).toContain("nas-prod");
    expect(systems.text).not.toContain(">lab<");

    const mine = await agent.get(`/systems?q=${encodeURIComponent("ｌａｂ")}`);
    expect(mine.text).toContain(">lab<");
    expect(mine.text).not.toContain("nas-prod");

    const users = await agent.get(`/admin/users?q=${encodeURIComponent("ＢＯＢ_")}`);
    expect(users.text).toContain("bob_1");
    expect(users.text).not.toContain("bobx1");

    const none = await agent.get("/admin/systems?q=nothing-matches");
    expect(none.text).toContain("No system matches");
    expect(none.text).not.toContain('aria-label="Pagination"');
  });
});

describe("a form whose record no longer exists", () => {
  it("answers 404 with the not-found page, not the form's error", async () => {
    const admin = await buildAdmin(db, { username: "root" });
    const agent = await signedInAgent(createTestApp(db), admin);
    for (const path of ["/admin/teams/999999", "/admin/groups/999999", "/admin/systems/999999", "/admin/users/999999"]) {
      const res = await agent.post(path, { name: "", version: "1" });
      expect(res.status, path).toBe(404);
      expect(res.text, path).toContain("Page not found");
    }
  });
});
