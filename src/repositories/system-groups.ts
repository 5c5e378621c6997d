import type { Queryable } from "../db/index.ts";
import type { SystemGroup } from "../types/catalog.ts";
import { type NamedRow, namedFields, namedRows } from "./named-rows.ts";
import { containsPattern } from "./search-pattern.ts";

interface GroupRow extends NamedRow {
  system_count?: string | number;
}

function toGroup(row: GroupRow): SystemGroup {
  return { ...namedFields(row), systemCount: Number(row.system_count ?? 0) };
}

const SYSTEM_COUNT = "(SELECT count(*) FROM system_group_members m WHERE m.group_id = system_groups.id) AS system_count";

/** The reads and writes of one record at a time, as services/catalog-records.ts uses them. */
export const groupRows = namedRows<GroupRow, SystemGroup, { name: string; description: string }>({
  table: "system_groups",
  columns: (db) => ["id", "name", "description", "version", db.raw(SYSTEM_COUNT)],
  returning: ["id", "name", "description", "version"],
  toRecord: toGroup,
});
export const { select: selectGroup, selectByName: selectGroupByName, insert: insertGroup, update: updateGroupRow, delete: deleteGroupRow } = groupRows;

export async function selectGroups(db: Queryable): Promise<SystemGroup[]> {
  const rows = await db("system_groups").select("id", "name", "description", "version", db.raw(SYSTEM_COUNT)).orderBy("name_key");
  return (rows as GroupRow[]).map(toGroup);
}

/** One page of groups by name, optionally only those whose name contains `search`. */
export async function selectGroupsPage(
  db: Queryable,
  query: { search: string; limit: number; offset: number },
): Promise<{ groups: SystemGroup[]; total: number }> {
  const base = db("system_groups");
  if (query.search) base.whereRaw("name_key LIKE ?", [containsPattern(query.search)]);
  const [rows, count] = await Promise.all([
    base.clone().select("id", "name", "description", "version", db.raw(SYSTEM_COUNT)).orderBy([{ column: "name_key" }, { column: "id" }]).limit(query.limit).offset(query.offset),
    base.clone().count<{ count: string }[]>("* as count").first(),
  ]);
  return { groups: (rows as GroupRow[]).map(toGroup), total: Number(count?.count ?? 0) };
}

/** One page of the systems in a group, by name. */
export async function selectGroupSystemsPage(
  db: Queryable,
  groupId: number,
  page: { limit: number; offset: number },
): Promise<{ systems: { id: number; name: string; host: string }[]; total: number }> {
  const base = db("system_group_members as m").join("systems as s", "s.id", "m.system_id").where("m.group_id", groupId);
  const [rows, count] = await Promise.all([
    base.clone().select("s.id", "s.name", "s.host").orderBy([{ column: "s.name_key" }, { column: "s.id" }]).limit(page.limit).offset(page.offset),
    base.clone().count<{ count: string }[]>("* as count").first(),
  ]);
  return { systems: rows.map((r: { id: string; name: string; host: string }) => ({ id: Number(r.id), name: r.name, host: r.host })), total: Number(count?.count ?? 0) };
}

export async function selectGroupSystems(db: Queryable, groupId: number): Promise<{ id: number; name: string; host: string }[]> {
  const rows = await db("system_group_members as m")
    .join("systems as s", "s.id", "m.system_id")
    .select("s.id", "s.name", "s.host")
    .where("m.group_id", groupId)
    .orderBy("s.name_key");
  return rows.map((r: { id: string; name: string; host: string }) => ({ id: Number(r.id), name: r.name, host: r.host }));
}

export async function selectGroupsOfSystem(db: Queryable, systemId: number): Promise<{ id: number; name: string }[]> {
  const rows = await db("system_group_members as m")
    .join("system_groups as g", "g.id", "m.group_id")
    .select("g.id", "g.name")
    .where("m.system_id", systemId)
    .orderBy("g.name_key");
  return rows.map((r: { id: string; name: string }) => ({ id: Number(r.id), name: r.name }));
}

/** Idempotent: adding a system that is already in the group changes nothing and reports false. */
export async function insertGroupSystem(db: Queryable, groupId: number, systemId: number): Promise<boolean> {
  const rows = await db("system_group_members").insert({ group_id: groupId, system_id: systemId }).onConflict(["group_id", "system_id"]).ignore().returning("system_id");
  return rows.length > 0;
}

export async function deleteGroupSystem(db: Queryable, groupId: number, systemId: number): Promise<boolean> {
  return (await db("system_group_members").where({ group_id: groupId, system_id: systemId }).delete().returning("*")).length > 0;
}
