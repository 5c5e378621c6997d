import type { Express } from "express";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { accessEvents, flashText, grant, makeGroup, makeSystem, makeTeam, rowCount, versionOf, versionOnPage } from "../helpers/access.ts";
import { signedInAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { createTestDb, resetDb, usingPostgres } from "../helpers/db.ts";
import { errorSummary, fieldError, inputValue, pageText } from "../helpers/html.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/**
 * Concurrent edits and double submits on teams, groups, systems, memberships and grants (docs/security.md §4):
 * idempotent membership adds and removes, optimistic locking with the other change shown and the input kept,
 * one row for a double-submitted create, and no 500 when a delete races a write. Requests run truly in parallel
 * on Postgres; on the embedded database they interleave between transactions. The last block makes the race
 * deterministic on Postgres: the test holds a delete open, waits until the request is blocked on its row lock
 * (read from pg_stat_activity, not from a clock), and only then commits.
 */

let db: Db;
let app: Express;
beforeAll(async () => {
  db = await createTestDb();
  app = createTestApp(db);
});
afterAll(async () => {
  await db.destroy();
});
beforeEach(async () => {
  await resetDb(db);
});

async function admins() {
  const root = await insertTestAdmin(db, { username: "root" });
  const other = await insertTestAdmin(db, { username: "other-admin" });
  const user = await insertTestUser(db, { username: "alice" });
  const [a, b] = await Promise.all([signedInAgent(app, root), signedInAgent(app, other)]);
  return { user, a, b };
}

type Kind = { label: string; path: string; table: "teams" | "system_groups" | "systems"; event: string; fields: (tag: string) => Record<string, string> };

const KINDS: Kind[] = [
  { label: "team", path: "/admin/teams", table: "teams", event: "team", fields: (tag) => ({ description: `description ${tag}` }) },
  { label: "group", path: "/admin/groups", table: "system_groups", event: "group", fields: (tag) => ({ description: `description ${tag}` }) },
  {
    label: "system",
    path: "/admin/systems",
    table: "systems",
    event: "system",
    fields: (tag) => ({ host: `${tag.toLowerCase()}.example.com`, description: `description ${tag}`, notes: `notes ${tag}` }),
  },
];

async function makeOf(kind: Kind, name: string): Promise<number> {
  if (kind.table === "teams") return (await makeTeam(db, name)).id;
  if (kind.table === "system_groups") return (await makeGroup(db, name)).id;
  return (await makeSystem(db, { name })).id;
}

describe("membership, group links and grants are idempotent", () => {
  it("§4 concurrent edits: two concurrent adds of the same member write one row and one audit event, and both answer 303", async () => {
    const { user, a, b } = await admins();
    const team = await makeTeam(db, "storage");
    const results = await Promise.all([
      a.post(`/admin/teams/${team.id}/members`, { username: "alice" }),
      b.post(`/admin/teams/${team.id}/members`, { username: "ALICE" }),
      a.post(`/admin/users/${user.id}/teams`, { teamId: String(team.id) }),
      b.post(`/admin/users/${user.id}/teams`, { teamId: String(team.id) }),
    ]);
    expect(results.map((r) => r.status)).toEqual([303, 303, 303, 303]);
    expect(await rowCount(db, "team_members", { team_id: team.id, user_id: user.id })).toBe(1);
    expect(await accessEvents(db, "team.member_added")).toHaveLength(1);
  });

  it("§4 concurrent edits: removing an already removed member is a no-op: 303, 'already left', and no second event (also when two removes race)", async () => {
    const { user, a, b } = await admins();
    const team = await makeTeam(db, "storage", [user]);
    const path = `/admin/teams/${team.id}/members/${user.id}/remove`;
    const results = await Promise.all([a.post(path), b.post(path)]);
    expect(results.map((r) => r.status)).toEqual([303, 303]);
    expect(await rowCount(db, "team_members")).toBe(0);
    expect(await accessEvents(db, "team.member_removed")).toHaveLength(1);

    const again = await a.post(path);
    expect(again.status).toBe(303);
    expect(flashText((await a.get(`/admin/teams/${team.id}`)).text)).toBe("That member had already left the team.");
    expect((await b.post(`/admin/users/${user.id}/teams/${team.id}/remove`)).status).toBe(303);
    expect(await accessEvents(db, "team.member_removed")).toHaveLength(1);
  });

  it("§4 concurrent edits: two concurrent grants of the same system or group, and two concurrent links of a system to a group, write one row and one event each", async () => {
    const { user, a, b } = await admins();
    const team = await makeTeam(db, "storage");
    const system = await makeSystem(db, { name: "nas-1" });
    const group = await makeGroup(db, "prod");
    const twice = (path: string, body: Record<string, string>) => Promise.all([a.post(path, body), b.post(path, body)]);
    const all = await Promise.all([
      twice(`/admin/teams/${team.id}/systems`, { systemId: String(system.id), permission: "read" }),
      twice(`/admin/teams/${team.id}/groups`, { groupId: String(group.id), permission: "read/write" }),
      twice(`/admin/users/${user.id}/systems`, { systemId: String(system.id) }),
      twice(`/admin/groups/${group.id}/systems`, { systemId: String(system.id) }),
    ]);
    expect(all.flat().map((r) => r.status)).toEqual(Array(8).fill(303));
    expect(await rowCount(db, "team_system_grants")).toBe(1);
    expect(await rowCount(db, "team_group_grants")).toBe(1);
    expect(await rowCount(db, "user_system_grants")).toBe(1);
    expect(await rowCount(db, "system_group_members")).toBe(1);
    expect(await accessEvents(db, "grant.added")).toHaveLength(3);
    expect(await accessEvents(db, "group.system_added")).toHaveLength(1);

    // Two concurrent changes to the same permission: one change, one event.
    const changes = await twice(`/admin/teams/${team.id}/systems/${system.id}`, { permission: "read/write" });
    expect(changes.map((r) => r.status)).toEqual([303, 303]);
    expect(await db("team_system_grants").first()).toMatchObject({ permission: 2 });
    expect(await accessEvents(db, "grant.changed")).toHaveLength(1);
    // And two removes of it: one event.
    const removes = await twice(`/admin/teams/${team.id}/systems/${system.id}/remove`, {});
    expect(removes.map((r) => r.status)).toEqual([303, 303]);
    expect(await accessEvents(db, "grant.removed")).toHaveLength(1);
    // Changing a grant that is gone is a plain 404, not a 500.
    expect((await a.post(`/admin/teams/${team.id}/systems/${system.id}`, { permission: "read" })).status).toBe(404);
  });
});

describe.each(KINDS)("optimistic locking on a $label", (kind) => {
  it(`§4 concurrent edits: two administrators save the same ${kind.label} version: the second gets 409 with the other change shown and the input kept; saving again succeeds`, async () => {
    const { a, b } = await admins();
    const id = await makeOf(kind, "original");
    const [pageA, pageB] = await Promise.all([a.get(`${kind.path}/${id}`), b.get(`${kind.path}/${id}`)]);
    const version = versionOnPage(pageA.text);
    expect(versionOnPage(pageB.text)).toBe(version);

    const first = await a.post(`${kind.path}/${id}`, { name: "Alpha", ...kind.fields("A"), version });
    expect(first.status).toBe(303);
    const second = await b.post(`${kind.path}/${id}`, { name: "Beta", ...kind.fields("B"), version });
    expect(second.status).toBe(409);
    expect(errorSummary(second.text)?.text).toContain("Someone else changed this");
    // The other administrator's change is shown…
    expect(pageText(second.text)).toContain("Now saved: name “Alpha”");
    expect(pageText(second.text)).toContain("description A");
    // …and this one's input is kept, with the new version, ready to be saved again.
    expect(inputValue(second.text, "name")).toBe("Beta");
    expect(second.text).toContain(">description B</textarea>");
    const newVersion = versionOnPage(second.text);
    expect(Number(newVersion)).toBe(Number(version) + 1);
    expect(await db(kind.table).where({ id }).first()).toMatchObject({ name: "Alpha", version: Number(version) + 1 });

    const retry = await b.post(`${kind.path}/${id}`, { name: "Beta", ...kind.fields("B"), version: newVersion });
    expect(retry.status).toBe(303);
    expect(await db(kind.table).where({ id }).first()).toMatchObject({ name: "Beta", description: "description B", version: Number(version) + 2 });
    const updates = await accessEvents(db, `${kind.event}.updated`);
    expect(updates.map((e) => (e.details.changes as { name?: { from: string; to: string } }).name)).toEqual([
      { from: "original", to: "Alpha" },
      { from: "Alpha", to: "Beta" },
    ]);
  });

  it(`§4 concurrent edits: deleting a ${kind.label} with a stale version is a 409 showing the ${kind.label} as saved now, and nothing is deleted`, async () => {
    const { a, b } = await admins();
    const id = await makeOf(kind, "original");
    const confirm = await b.get(`${kind.path}/${id}/delete`);
    const version = versionOnPage(confirm.text);
    expect((await a.post(`${kind.path}/${id}`, { name: "Renamed", ...kind.fields("A"), version })).status).toBe(303);

    const res = await b.post(`${kind.path}/${id}/delete`, { version });
    expect(res.status).toBe(409);
    expect(errorSummary(res.text)?.text).toContain("Someone else changed this");
    // The page shows the record as it is now, not an empty form.
    expect(inputValue(res.text, "name")).toBe("Renamed");
    expect(res.text).toContain(">description A</textarea>");
    expect(await rowCount(db, kind.table, { id })).toBe(1);
    expect(await accessEvents(db, `${kind.event}.deleted`)).toHaveLength(0);

    // With the version the 409 page carries, the delete goes through.
    const current = String(await versionOf(db, kind.table, id));
    expect((await b.post(`${kind.path}/${id}/delete`, { version: current })).status).toBe(303);
    expect(await rowCount(db, kind.table, { id })).toBe(0);
  });

  it(`§4 double submit: a double-submitted new ${kind.label} (two identical concurrent POSTs) yields one row; the other answer is a 409 "already exists" naming Name`, async () => {
    const { a } = await admins();
    const body = { name: "Double", ...kind.fields("D") };
    const results = await Promise.all([a.post(kind.path, body), a.post(kind.path, body)]);
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([303, 409]);
    const refused = results.find((r) => r.status === 409)!;
    expect(errorSummary(refused.text)?.text).toMatch(/already exists/);
    expect(fieldError(refused.text, "name")).toMatch(/already used by another/);
    expect(inputValue(refused.text, "name")).toBe("Double");
    expect(await rowCount(db, kind.table)).toBe(1);
    expect(await accessEvents(db, `${kind.event}.created`)).toHaveLength(1);
  });

  it(`§4 concurrent edits: a delete racing an edit of a ${kind.label}: one wins with 303, the other gets 404 or 409, never a 500`, async () => {
    const { a, b } = await admins();
    const id = await makeOf(kind, "original");
    const version = String(await versionOf(db, kind.table, id));
    const [deleted, edited] = await Promise.all([
      a.post(`${kind.path}/${id}/delete`, { version }),
      b.post(`${kind.path}/${id}`, { name: "Edited", ...kind.fields("E"), version }),
    ]);
    const statuses = [deleted.status, edited.status];
    expect(statuses.filter((s) => s === 303), String(statuses)).toHaveLength(1);
    expect([404, 409]).toContain(statuses.find((s) => s !== 303));
    const row = await db(kind.table).where({ id }).first();
    if (deleted.status === 303) expect(row).toBeUndefined();
    else expect(row).toMatchObject({ name: "Edited" });
  });
});

describe("two read/write users on /systems/:id", () => {
  it("§4 concurrent edits: the second save of the same version is a 409 with the input kept and the new version; saving again succeeds", async () => {
    const alice = await insertTestUser(db, { username: "alice" });
    const bob = await insertTestUser(db, { username: "bob" });
    const system = await makeSystem(db, { name: "shared", description: "start" });
    const team = await makeTeam(db, "ops", [alice, bob]);
    await grant(db, { kind: "team", id: team.id }, { kind: "system", id: system.id }, "read/write");
    const [a, b] = await Promise.all([signedInAgent(app, alice), signedInAgent(app, bob)]);

    expect((await a.post(`/systems/${system.id}`, { description: "from alice", notes: "", version: "1" })).status).toBe(303);
    const second = await b.post(`/systems/${system.id}`, { description: "from bob", notes: "bob's notes", version: "1" });
    expect(second.status).toBe(409);
    expect(errorSummary(second.text)?.text).toContain("Someone else changed this system");
    expect(second.text).toContain(">from bob</textarea>");
    expect(second.text).toContain(">bob&#39;s notes</textarea>");
    expect(versionOnPage(second.text)).toBe("2");
    expect(await db("systems").where({ id: system.id }).first()).toMatchObject({ description: "from alice", version: 2 });

    expect((await b.post(`/systems/${system.id}`, { description: "from bob", notes: "bob's notes", version: "2" })).status).toBe(303);
    expect(await db("systems").where({ id: system.id }).first()).toMatchObject({ description: "from bob", notes: "bob's notes", version: 3 });
  });
});

describe("a form error in between", () => {
  it("§4 concurrent edits: a refused save on /systems/:id keeps the version it was opened with, so a change made meanwhile is still caught", async () => {
    const alice = await insertTestUser(db, { username: "alice" });
    const bob = await insertTestUser(db, { username: "bob" });
    const system = await makeSystem(db, { name: "shared", description: "start" });
    const team = await makeTeam(db, "ops", [alice, bob]);
    await grant(db, { kind: "team", id: team.id }, { kind: "system", id: system.id }, "read/write");
    const [a, b] = await Promise.all([signedInAgent(app, alice), signedInAgent(app, bob)]);

    // Alice opened version 1; Bob saves version 2; Alice's first try is refused for its content.
    expect((await b.post(`/systems/${system.id}`, { description: "from bob", notes: "", version: "1" })).status).toBe(303);
    const refused = await a.post(`/systems/${system.id}`, { description: "from alice", notes: "bad\u0000", version: "1" });
    expect(refused.status).toBe(422);
    expect(versionOnPage(refused.text)).toBe("1");
    // Fixed and sent again with what the page carries: Bob's change is not silently overwritten.
    const again = await a.post(`/systems/${system.id}`, { description: "from alice", notes: "good", version: versionOnPage(refused.text) });
    expect(again.status).toBe(409);
    expect(await db("systems").where({ id: system.id }).first()).toMatchObject({ description: "from bob", version: 2 });
  });

  it("§4 concurrent edits: the same holds on the administrators' team, group and system pages", async () => {
    const { a, b } = await admins();
    for (const kind of KINDS) {
      const id = await makeOf(kind, `shared-${kind.label}`);
      expect((await b.post(`${kind.path}/${id}`, { name: `by-b-${kind.label}`, ...kind.fields("B"), version: "1" })).status).toBe(303);
      const refused = await a.post(`${kind.path}/${id}`, { name: "", ...kind.fields("A"), version: "1" });
      expect(refused.status, kind.label).toBe(422);
      expect(versionOnPage(refused.text), kind.label).toBe("1");
      expect((await a.post(`${kind.path}/${id}`, { name: `by-a-${kind.label}`, ...kind.fields("A"), version: "1" })).status, kind.label).toBe(409);
      expect(await db(kind.table).where({ id }).first()).toMatchObject({ name: `by-b-${kind.label}`, version: 2 });
    }
  });
});

describe("writes racing the deletion of what they refer to", () => {
  it("§4, A14: a member add, a grant and a group link sent together with the deletion of the team, system or group never answer 500", async () => {
    const { user, a, b } = await admins();
    const team = await makeTeam(db, "storage");
    const system = await makeSystem(db, { name: "nas-1" });
    const group = await makeGroup(db, "prod");
    const results = await Promise.all([
      b.post(`/admin/teams/${team.id}/members`, { username: "alice" }),
      b.post(`/admin/teams/${team.id}/groups`, { groupId: String(group.id) }),
      b.post(`/admin/groups/${group.id}/systems`, { systemId: String(system.id) }),
      b.post(`/admin/users/${user.id}/systems`, { systemId: String(system.id) }),
      a.post(`/admin/teams/${team.id}/delete`, { version: "1" }),
      a.post(`/admin/groups/${group.id}/delete`, { version: "1" }),
      a.post(`/admin/systems/${system.id}/delete`, { version: "1" }),
    ]);
    for (const res of results) expect([303, 404, 409, 422], pageText(res.text).slice(0, 200)).toContain(res.status);
    // Whatever the order, nothing dangles.
    for (const table of ["teams", "system_groups", "systems", "team_members", "team_group_grants", "system_group_members", "user_system_grants"])
      expect(await rowCount(db, table), table).toBe(0);
  });
});

/**
 * Holds `DELETE FROM table WHERE id` open in a transaction of the test, sends the request, waits until the request's
 * backend is blocked by that transaction (or the request has finished), commits, and returns the response.
 */
async function whileDeleting<T extends { status: number }>(table: string, id: number, send: () => PromiseLike<T>): Promise<T> {
  const trx = await db.transaction();
  let settled = false;
  try {
    const pid = Number((await trx.raw("SELECT pg_backend_pid() AS pid")).rows[0].pid);
    await trx(table).where({ id }).delete();
    const pending = Promise.resolve(send()).finally(() => {
      settled = true;
    });
    for (let i = 0; i < 2_000 && !settled; i++) {
      const row = await db.raw("SELECT count(*)::int AS n FROM pg_stat_activity WHERE ? = ANY(pg_blocking_pids(pid))", [pid]);
      if (Number(row.rows[0].n) > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await trx.commit();
    return await pending;
  } catch (error) {
    if (!trx.isCompleted()) await trx.rollback();
    throw error;
  }
}

describe.skipIf(!usingPostgres)("on Postgres, a write that waits on a delete's row lock", () => {
  it("§4, A14: adding a member to a team being deleted is a 404, not a 500 (foreign key)", async () => {
    const { a } = await admins();
    const team = await makeTeam(db, "storage");
    const res = await whileDeleting("teams", team.id, () => a.post(`/admin/teams/${team.id}/members`, { username: "alice" }));
    expect(res.status).toBe(404);
    expect(await rowCount(db, "team_members")).toBe(0);
  });

  it("§4, A14: adding a member who is being deleted is a 422 naming Username", async () => {
    const { user, a } = await admins();
    const team = await makeTeam(db, "storage");
    const res = await whileDeleting("users", user.id, () => a.post(`/admin/teams/${team.id}/members`, { username: "alice" }));
    expect(res.status).toBe(422);
    expect(fieldError(res.text, "username")).toBeTruthy();
    expect(await rowCount(db, "team_members")).toBe(0);
  });

  it("§4, A14: joining a team that is being deleted from the user's page is a 422 naming the team field", async () => {
    const { user, a } = await admins();
    const team = await makeTeam(db, "storage");
    const res = await whileDeleting("teams", team.id, () => a.post(`/admin/users/${user.id}/teams`, { teamId: String(team.id) }));
    expect(res.status).toBe(422);
    expect(errorSummary(res.text)?.links).toContain("teamId");
  });

  it("§4, A14: granting a system that is being deleted is a 422 naming the system field; granting to a team being deleted is a 404", async () => {
    const { a } = await admins();
    const team = await makeTeam(db, "storage");
    const system = await makeSystem(db, { name: "nas-1" });
    const res = await whileDeleting("systems", system.id, () => a.post(`/admin/teams/${team.id}/systems`, { systemId: String(system.id) }));
    expect(res.status).toBe(422);
    expect(errorSummary(res.text)?.links).toContain("systemId");

    const group = await makeGroup(db, "prod");
    const gone = await whileDeleting("teams", team.id, () => a.post(`/admin/teams/${team.id}/groups`, { groupId: String(group.id) }));
    expect(gone.status).toBe(404);
    expect(await rowCount(db, "team_system_grants")).toBe(0);
    expect(await rowCount(db, "team_group_grants")).toBe(0);
    expect(await accessEvents(db, "grant.")).toHaveLength(0);
  });

  it("§4, A14: adding a system that is being deleted to a group is a 422 naming the system field; to a group being deleted, a 404", async () => {
    const { a } = await admins();
    const group = await makeGroup(db, "prod");
    const system = await makeSystem(db, { name: "nas-1" });
    const res = await whileDeleting("systems", system.id, () => a.post(`/admin/groups/${group.id}/systems`, { systemId: String(system.id) }));
    expect(res.status).toBe(422);
    expect(errorSummary(res.text)?.links).toContain("systemId");
    const other = await makeSystem(db, { name: "nas-2" });
    const gone = await whileDeleting("system_groups", group.id, () => a.post(`/admin/groups/${group.id}/systems`, { systemId: String(other.id) }));
    expect(gone.status).toBe(404);
    expect(await rowCount(db, "system_group_members")).toBe(0);
  });

  it("§4: editing a team, group or system that is being deleted is a 404", async () => {
    const { a } = await admins();
    for (const kind of KINDS) {
      const id = await makeOf(kind, `doomed-${kind.label}`);
      const res = await whileDeleting(kind.table, id, () => a.post(`${kind.path}/${id}`, { name: "Edited", ...kind.fields("E"), version: "1" }));
      expect(res.status, kind.label).toBe(404);
    }
  });
});
