import type { Queryable } from "../db/index.ts";

export type Subject = { kind: "user"; id: number } | { kind: "team"; id: number };
export type Target = { kind: "system"; id: number } | { kind: "group"; id: number };

const TABLES = {
  user: { system: "user_system_grants", group: "user_group_grants" },
  team: { system: "team_system_grants", group: "team_group_grants" },
} as const;

function where(subject: Subject, target: Target) {
  return { [`${subject.kind}_id`]: subject.id, [`${target.kind}_id`]: target.id };
}

export interface GrantRow {
  targetId: number;
  targetName: string;
  level: 1 | 2;
}

/** The grants a user or a team holds on systems or on groups, by target name. */
export async function grantsOf(db: Queryable, subject: Subject, targetKind: Target["kind"]): Promise<GrantRow[]> {
  const table = TABLES[subject.kind][targetKind];
  const targetTable = targetKind === "system" ? "systems" : "system_groups";
  const rows = await db(`${table} as g`)
    .join(`${targetTable} as t`, "t.id", `g.${targetKind}_id`)
    .select("t.id", "t.name", "g.permission")
    .where(`g.${subject.kind}_id`, subject.id)
    .orderBy("t.name_key");
  return rows.map((r: { id: string; name: string; permission: number }) => ({ targetId: Number(r.id), targetName: r.name, level: Number(r.permission) as 1 | 2 }));
}

export interface GrantOnTarget {
  subject: Subject["kind"];
  subjectId: number;
  subjectName: string;
  level: 1 | 2;
}

/** Every grant on a system or a group: users' first (by username), then teams' (by name). */
export async function grantsOn(db: Queryable, target: Target): Promise<GrantOnTarget[]> {
  const column = `${target.kind}_id`;
  const users = await db(`${TABLES.user[target.kind]} as g`)
    .join("users as u", "u.id", "g.user_id")
    .select("u.id", "u.username as name", "g.permission")
    .where(`g.${column}`, target.id)
    .orderBy("u.username_key");
  const teams = await db(`${TABLES.team[target.kind]} as g`)
    .join("teams as t", "t.id", "g.team_id")
    .select("t.id", "t.name", "g.permission")
    .where(`g.${column}`, target.id)
    .orderBy("t.name_key");
  const rows = (subject: Subject["kind"], list: { id: string; name: string; permission: number }[]) =>
    list.map((r) => ({ subject, subjectId: Number(r.id), subjectName: r.name, level: Number(r.permission) as 1 | 2 }));
  return [...rows("user", users), ...rows("team", teams)];
}

/** Adds a grant or, when one exists, leaves it as it is; true when it was new. */
export async function insertGrant(db: Queryable, subject: Subject, target: Target, level: 1 | 2): Promise<boolean> {
  const table = TABLES[subject.kind][target.kind];
  const rows = await db(table)
    .insert({ ...where(subject, target), permission: level })
    .onConflict([`${subject.kind}_id`, `${target.kind}_id`])
    .ignore()
    .returning("permission");
  return rows.length > 0;
}

/** Returns the previous level, or undefined when there was no such grant. */
export async function setGrantLevel(db: Queryable, subject: Subject, target: Target, level: 1 | 2): Promise<1 | 2 | undefined> {
  const table = TABLES[subject.kind][target.kind];
  const before = await db(table).select("permission").where(where(subject, target)).forUpdate().first<{ permission: number } | undefined>();
  if (!before) return undefined;
  await db(table).where(where(subject, target)).update({ permission: level });
  return Number(before.permission) as 1 | 2;
}

/** Returns the removed level, or undefined when there was nothing to remove. */
export async function deleteGrant(db: Queryable, subject: Subject, target: Target): Promise<1 | 2 | undefined> {
  const rows = await db(TABLES[subject.kind][target.kind]).where(where(subject, target)).delete().returning("permission");
  return rows[0] ? (Number((rows[0] as { permission: number }).permission) as 1 | 2) : undefined;
}
