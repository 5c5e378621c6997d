import type { Queryable } from "../db/index.ts";
import { namedRowWrites } from "./named-rows.ts";
import { containsPattern } from "./search-pattern.ts";
import { nameKey } from "../lib/fields.ts";
import type { System } from "../types/catalog.ts";

const COLUMNS = ["id", "name", "host", "description", "notes", "version", "created_at", "updated_at"] as const;

interface SystemRow {
  id: string | number;
  name: string;
  host: string;
  description: string;
  notes: string;
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
}

function toSystem(row: SystemRow): System {
  return {
    id: Number(row.id),
    name: row.name,
    host: row.host,
    description: row.description,
    notes: row.notes,
    version: row.version,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export interface SystemFields {
  name: string;
  host: string;
  description: string;
  notes: string;
}

export async function selectSystem(db: Queryable, id: number): Promise<System | undefined> {
  const row = await db("systems").select(COLUMNS).where({ id }).first<SystemRow | undefined>();
  return row ? toSystem(row) : undefined;
}

export async function selectSystemByName(db: Queryable, name: string): Promise<System | undefined> {
  const row = await db("systems").select(COLUMNS).where({ name_key: nameKey(name) }).first<SystemRow | undefined>();
  return row ? toSystem(row) : undefined;
}




const writes = namedRowWrites<SystemRow, System, SystemFields>("systems", COLUMNS, toSystem);
export const insertSystem = writes.insert;
export const updateSystemRow = writes.update;
export const deleteSystemRow = writes.delete;

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
