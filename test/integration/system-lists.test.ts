import { describe, expect, it } from "vitest";
import { explainAllAccess } from "../../src/access/resolver.ts";
import type { Db } from "../../src/db/index.ts";
import { accessibleSystems } from "../../src/repositories/effective-access.ts";
import { deleteGrant, setGrantLevel } from "../../src/repositories/grants.ts";
import { deleteGroupRow, deleteGroupSystem, insertGroupSystem } from "../../src/repositories/system-groups.ts";
import { deleteSystemRow, updateSystemRow } from "../../src/repositories/systems.ts";
import { deleteMember, deleteTeamRow, insertMembers } from "../../src/repositories/teams.ts";
import { findUserById } from "../../src/repositories/users/index.ts";
import type { System } from "../../src/types/catalog.ts";
import { grant, makeGroup, makeSystem, makeTeam, versionOf } from "../helpers/access.ts";
import { useTestDb } from "../helpers/db.ts";
import { insertTestUser } from "../helpers/users.ts";

/**
 * A list longer than a page is kept between requests (migration 20261205100000, docs/domain.md "Grants and the
 * resolver"): these tests make every kind of change that can alter it and compare the kept list, page by page, with
 * the resolver's answer worked out from the grants at that moment. A change that did not move the version would
 * leave the kept list behind and fail here.
 */

let db: Db;
useTestDb((d) => {
  db = d;
});

interface Listed {
  id: number;
  level: number;
}

/** The whole list as /systems pages through it (50 a page, the kept list), and its total. */
async function listed(userId: number): Promise<{ rows: Listed[]; total: number }> {
  const rows: Listed[] = [];
  let total = 0;
  for (let offset = 0; ; offset += 50) {
    const page = await accessibleSystems(db, userId, { limit: 50, offset });
    if (offset === 0) total = page.total;
    rows.push(...page.systems.map((s) => ({ id: s.id, level: s.level })));
    if (page.systems.length < 50) break;
  }
  return { rows, total };
}

/** The same from the resolver, which works everything out again: by name, then id. */
async function resolved(userId: number): Promise<Listed[]> {
  const user = await findUserById(db, userId);
  if (!user) throw new Error("no user");
  const levels = await explainAllAccess(db, user);
  const names = new Map(
    ((await db("systems").select("id", "name_key")) as { id: string; name_key: string }[]).map((r) => [Number(r.id), r.name_key]),
  );
  return [...levels]
    .filter(([, access]) => access.permission !== "none")
    .map(([id, access]) => ({ id, level: access.permission === "read/write" ? 2 : 1, name: names.get(id) ?? "" }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id))
    .map(({ id, level }) => ({ id, level }));
}

async function expectListMatchesGrants(userId: number): Promise<Listed[]> {
  const expected = await resolved(userId);
  const { rows, total } = await listed(userId);
  expect(rows).toEqual(expected);
  expect(total).toBe(expected.length);
  return rows;
}

async function keptLists(): Promise<number> {
  const row = await db("access_lists").count<{ count: string }[]>("* as count").first();
  return Number(row?.count ?? 0);
}

async function systems(count: number, prefix: string): Promise<System[]> {
  const made: System[] = [];
  for (let i = 0; i < count; i++) made.push(await makeSystem(db, { name: `${prefix}-${String(i).padStart(3, "0")}` }));
  return made;
}

describe("the kept list of an account's systems", () => {
  it("follows every kind of change at the next request: grants of the four sources, levels, memberships, groups, renames, deletions", async () => {
    const user = await insertTestUser(db, { username: "many" });
    const direct = await systems(30, "direct");
    const grouped = await systems(30, "grouped");
    const teamed = await systems(20, "teamed");
    const group = await makeGroup(db, "fleet", grouped);
    const team = await makeTeam(db, "ops", [user]);
    const teamGroup = await makeGroup(db, "team-fleet", teamed.slice(0, 10));
    for (const s of direct) await grant(db, { kind: "user", id: user.id }, { kind: "system", id: s.id });
    await grant(db, { kind: "user", id: user.id }, { kind: "group", id: group.id });
    for (const s of teamed.slice(10)) await grant(db, { kind: "team", id: team.id }, { kind: "system", id: s.id });
    await grant(db, { kind: "team", id: team.id }, { kind: "group", id: teamGroup.id });

    expect(await expectListMatchesGrants(user.id)).toHaveLength(80);
    expect(await keptLists()).toBe(1);

    const changes: [string, () => Promise<unknown>][] = [
      ["A: a direct grant goes", () => deleteGrant(db, { kind: "user", id: user.id }, { kind: "system", id: direct[0]!.id })],
      ["A: a direct grant's level", () => setGrantLevel(db, { kind: "user", id: user.id }, { kind: "system", id: direct[1]!.id }, 2)],
      ["B: a system leaves the group", () => deleteGroupSystem(db, group.id, grouped[0]!.id)],
      ["B: a system joins the group", () => insertGroupSystem(db, group.id, direct[0]!.id)],
      ["B: the group grant's level", () => setGrantLevel(db, { kind: "user", id: user.id }, { kind: "group", id: group.id }, 2)],
      ["C: a team grant goes", () => deleteGrant(db, { kind: "team", id: team.id }, { kind: "system", id: teamed[10]!.id })],
      ["D: the team's group gains a system", () => insertGroupSystem(db, teamGroup.id, teamed[10]!.id)],
      ["D: the team's group grant's level", () => setGrantLevel(db, { kind: "team", id: team.id }, { kind: "group", id: teamGroup.id }, 2)],
      ["a system renamed to sort first", async () => updateSystemRow(db, grouped[5]!.id, await versionOf(db, "systems", grouped[5]!.id), { name: "aaa-first" })],
      ["the member leaves the team", () => deleteMember(db, team.id, user.id)],
      ["the member comes back (bulk insert)", () => insertMembers(db, [{ teamId: team.id, userId: user.id }])],
      ["a system is deleted", async () => deleteSystemRow(db, direct[2]!.id, await versionOf(db, "systems", direct[2]!.id))],
      ["the user's group is deleted", async () => deleteGroupRow(db, group.id, await versionOf(db, "system_groups", group.id))],
      ["the team is deleted", async () => deleteTeamRow(db, team.id, await versionOf(db, "teams", team.id))],
    ];
    let before = await listed(user.id);
    for (const [what, change] of changes) {
      await change();
      const after = await expectListMatchesGrants(user.id);
      expect(after, what).not.toEqual(before.rows);
      before = { rows: after, total: after.length };
    }
  });

  it("a statement that changes nothing keeps the list; another account's grant is seen at its next request too", async () => {
    const user = await insertTestUser(db, { username: "many" });
    const other = await insertTestUser(db, { username: "other" });
    const fleet = await systems(60, "fleet");
    const group = await makeGroup(db, "fleet", fleet);
    await grant(db, { kind: "user", id: user.id }, { kind: "group", id: group.id });
    await expectListMatchesGrants(user.id);
    const version = async () => Number((await db("access_version").first<{ version: string }>()).version);
    const kept = await version();
    expect(await deleteMember(db, 12345, user.id)).toBe(false);
    expect(await version()).toBe(kept);

    const team = await makeTeam(db, "late", [user, other]);
    await grant(db, { kind: "team", id: team.id }, { kind: "system", id: (await makeSystem(db, { name: "zzz-last" })).id }, "read/write");
    expect(await version()).toBeGreaterThan(kept);
    const rows = await expectListMatchesGrants(user.id);
    expect(rows.at(-1)?.level).toBe(2);
    expect((await accessibleSystems(db, other.id)).total).toBe(1);
  });

  it("short lists are not kept; a search and an administrator's list are worked out as before", async () => {
    const user = await insertTestUser(db, { username: "few" });
    for (const s of await systems(3, "few")) await grant(db, { kind: "user", id: user.id }, { kind: "system", id: s.id });
    await expectListMatchesGrants(user.id);
    expect(await keptLists()).toBe(0);
    expect((await accessibleSystems(db, user.id, { search: "few-001" })).systems.map((s) => s.name)).toEqual(["few-001"]);
  });
});
