import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { accessLevel, explainAccess, explainAllAccess, explainSystemAccess } from "../../src/access/resolver.ts";
import type { Db } from "../../src/db/index.ts";
import { accessibleSystems } from "../../src/repositories/effective-access.ts";
import { insertGrant, type Subject, type Target } from "../../src/repositories/grants.ts";
import { insertGroupSystem, insertGroup } from "../../src/repositories/system-groups.ts";
import { insertSystem } from "../../src/repositories/systems.ts";
import { insertMember, insertTeam, deleteMember } from "../../src/repositories/teams.ts";
import { findUserById } from "../../src/repositories/users/index.ts";
import type { User } from "../../src/types/user.ts";
import { createTestDb, resetDb } from "../helpers/db.ts";
import { buildUser } from "../helpers/factories.ts";

type Level = 0 | 1 | 2;
const NAMES = ["none", "read", "read/write"] as const;

/** The rule, written independently of the resolver: disabled → none; administrator → read/write; else the highest grant. */
function expectedLevel(user: { isAdmin: boolean; disabled: boolean }, levels: Level[]): Level {
  if (user.disabled) return 0;
  if (user.isAdmin) return 2;
  return Math.max(0, ...levels) as Level;
}

let db: Db;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(async () => {
  await db.destroy();
});

interface World {
  user: User;
  system: number;
  other: number;
  group: number;
  teamC: number;
  teamD: number;
}

async function world(): Promise<World> {
  await resetDb(db);
  const user = await buildUser(db, { username: "u" });
  const system = (await insertSystem(db, { name: "nas-1", host: "10.0.0.1", description: "", notes: "" }))!.id;
  const other = (await insertSystem(db, { name: "nas-2", host: "10.0.0.2", description: "", notes: "" }))!.id;
  const group = (await insertGroup(db, { name: "prod", description: "" }))!.id;
  await insertGroupSystem(db, group, system);
  const teamC = (await insertTeam(db, { name: "storage", description: "" }))!.id;
  const teamD = (await insertTeam(db, { name: "ops", description: "" }))!.id;
  await insertMember(db, teamC, user.id);
  await insertMember(db, teamD, user.id);
  return { user, system, other, group, teamC, teamD };
}

async function grant(subject: Subject, target: Target, level: Level) {
  if (level > 0) await insertGrant(db, subject, target, level as 1 | 2);
}

const combos: [Level, Level, Level, Level][] = [];
for (const a of [0, 1, 2] as Level[]) for (const b of [0, 1, 2] as Level[]) for (const c of [0, 1, 2] as Level[]) for (const d of [0, 1, 2] as Level[]) combos.push([a, b, c, d]);

describe("the permission resolver over the four sources (docs/domain.md, Grants and the resolver)", () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });

  it("covers all 81 combinations of none / read / read/write from A, B, C and D", async () => {
    expect(combos).toHaveLength(81);
    for (const levels of combos) {
      await db.raw("TRUNCATE user_system_grants, user_group_grants, team_system_grants, team_group_grants");
      const [a, b, c, d] = levels;
      await grant({ kind: "user", id: w.user.id }, { kind: "system", id: w.system }, a);
      await grant({ kind: "user", id: w.user.id }, { kind: "group", id: w.group }, b);
      await grant({ kind: "team", id: w.teamC }, { kind: "system", id: w.system }, c);
      await grant({ kind: "team", id: w.teamD }, { kind: "group", id: w.group }, d);
      const expected = expectedLevel(w.user, levels);
      const label = `A=${NAMES[a]} B=${NAMES[b]} C=${NAMES[c]} D=${NAMES[d]}`;

      expect(await accessLevel(db, w.user.id, w.system), label).toBe(expected);
      const explained = await explainAccess(db, w.user, w.system);
      expect(explained.permission, label).toBe(NAMES[expected]);
      // Every contributing grant, in A, B, C, D order; the first one with the highest value decides.
      const sources = (["A", "B", "C", "D"] as const).filter((_, i) => levels[i]! > 0);
      expect(explained.grants.map((g) => g.source), label).toEqual(sources);
      const decider = sources.find((s) => levels["ABCD".indexOf(s)] === expected);
      expect(explained.grants.filter((g) => g.decides).map((g) => g.source), label).toEqual(decider ? [decider] : []);

      const list = await accessibleSystems(db, w.user.id);
      expect(list.systems.map((s) => [s.name, NAMES[s.level]]), label).toEqual(expected ? [["nas-1", NAMES[expected]]] : []);
    }
  });

  it("names the team and the group in the explanation", async () => {
    await grant({ kind: "team", id: w.teamD }, { kind: "group", id: w.group }, 2);
    await grant({ kind: "user", id: w.user.id }, { kind: "system", id: w.system }, 1);
    const { grants } = await explainAccess(db, w.user, w.system);
    expect(grants).toEqual([
      { source: "A", permission: "read", team: null, group: null, decides: false },
      { source: "D", permission: "read/write", team: { id: w.teamD, name: "ops" }, group: { id: w.group, name: "prod" }, decides: true },
    ]);
  });

  it("gives administrators read/write on every system and disabled accounts nothing", async () => {
    await grant({ kind: "user", id: w.user.id }, { kind: "system", id: w.system }, 2);
    await db("users").where({ id: w.user.id }).update({ disabled: true });
    const disabled = (await findUserById(db, w.user.id))!;
    expect(await accessLevel(db, w.user.id, w.system)).toBe(expectedLevel(disabled, [2]));
    expect((await explainAccess(db, disabled, w.system)).permission).toBe("none");
    expect((await accessibleSystems(db, w.user.id)).systems).toEqual([]);

    await db("users").where({ id: w.user.id }).update({ disabled: false, is_admin: true });
    const admin = (await findUserById(db, w.user.id))!;
    expect(await accessLevel(db, w.user.id, w.other)).toBe(2);
    expect((await explainAccess(db, admin, w.other))).toMatchObject({ permission: "read/write", basis: "administrator" });
    expect((await accessibleSystems(db, w.user.id)).systems.map((s) => [s.name, s.level])).toEqual([["nas-1", 2], ["nas-2", 2]]);
  });

  it("takes the most permissive across several teams and several groups", async () => {
    const group2 = (await insertGroup(db, { name: "backup", description: "" }))!.id;
    await insertGroupSystem(db, group2, w.system);
    await grant({ kind: "team", id: w.teamC }, { kind: "group", id: w.group }, 1);
    await grant({ kind: "team", id: w.teamD }, { kind: "group", id: group2 }, 2);
    await grant({ kind: "team", id: w.teamC }, { kind: "system", id: w.system }, 1);
    const explained = await explainAccess(db, w.user, w.system);
    expect(explained.permission).toBe("read/write");
    expect(explained.grants.map((g) => [g.source, g.team?.name, g.group?.name ?? null, g.decides])).toEqual([
      ["C", "storage", null, false],
      ["D", "ops", "backup", true],
      ["D", "storage", "prod", false],
    ]);
  });

  it("A8: removing one path leaves the others", async () => {
    await grant({ kind: "user", id: w.user.id }, { kind: "system", id: w.system }, 1);
    await grant({ kind: "team", id: w.teamC }, { kind: "system", id: w.system }, 2);
    expect(await accessLevel(db, w.user.id, w.system)).toBe(2);
    await deleteMember(db, w.teamC, w.user.id);
    expect(await accessLevel(db, w.user.id, w.system)).toBe(1);
    await db("user_system_grants").delete();
    expect(await accessLevel(db, w.user.id, w.system)).toBe(0);
  });

  it("answers undefined for a system that does not exist, and lists every system's explanation at once", async () => {
    expect(await accessLevel(db, w.user.id, 999_999)).toBeUndefined();
    await grant({ kind: "user", id: w.user.id }, { kind: "system", id: w.other }, 1);
    await grant({ kind: "team", id: w.teamD }, { kind: "group", id: w.group }, 2);
    const all = await explainAllAccess(db, w.user);
    expect([...all].map(([id, a]) => [id, a.permission])).toEqual([
      [w.system, "read/write"],
      [w.other, "read"],
    ]);
    const bySystem = await explainSystemAccess(db, w.system);
    expect([...bySystem].map(([id, a]) => [id, a.permission, a.grants.length])).toEqual([[w.user.id, "read/write", 1]]);
  });
});
