import type { Queryable } from "../db/index.ts";
import { type NamedRow, namedFields, namedRows } from "./named-rows.ts";
import { containsPattern } from "./search-pattern.ts";
import type { System } from "../types/catalog.ts";

const COLUMNS = ["id", "name", "host", "description", "notes", "version", "created_at", "updated_at"] as const;

interface SystemRow extends NamedRow {
  host: string;
  notes: string;
  created_at: Date | string;
  updated_at: Date | string;
}

function toSystem(row: SystemRow): System {
  return { ...namedFields(row), host: row.host, notes: row.notes, createdAt: new Date(row.created_at), updatedAt: new Date(row.updated_at) };
}

export interface SystemFields {
  name: string;
  host: string;
  description: string;
  notes: string;
}

/** The reads and writes of one record at a time, as services/catalog-records.ts uses them. */
export const systemRows = namedRows<SystemRow, System, SystemFields>({ table: "systems", columns: () => COLUMNS, returning: COLUMNS, toRecord: toSystem });
export const { select: selectSystem, selectByName: selectSystemByName, insert: insertSystem, update: updateSystemRow, delete: deleteSystemRow } = systemRows;

export async function selectSystemsPage(
  db: Queryable,
  query: { search: string; limit: number; offset: number },
): Promise<{ systems: System[]; total: number }> {
  const base = db("systems");
  if (query.search) {
    const pattern = containsPattern(query.search);
    base.where((w) => w.whereRaw("name_key LIKE ?", [pattern]).orWhereRaw("lower(host) LIKE ?", [pattern]));
  }
  const [rows, count] = await Promise.all([
    base.clone().select(COLUMNS).orderBy([{ column: "name_key" }, { column: "id" }]).limit(query.limit).offset(query.offset),
    base.clone().count<{ count: string }[]>("* as count").first(),
  ]);
  return { systems: (rows as SystemRow[]).map(toSystem), total: Number(count?.count ?? 0) };
}

/** Every system, by name: for pickers. */
export async function selectSystemNames(db: Queryable): Promise<{ id: number; name: string }[]> {
  const rows = await db("systems").select("id", "name").orderBy("name_key");
  return rows.map((r: { id: string; name: string }) => ({ id: Number(r.id), name: r.name }));
}
