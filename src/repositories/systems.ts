import type { Queryable } from "../db/index.ts";
import { type NamedRow, namedFields, namedRows } from "./named-rows.ts";
import { containsPattern } from "./search-pattern.ts";
import type { System } from "../types/catalog.ts";
import { type GateMode, parseWebAddress } from "../lib/web-address.ts";

const COLUMNS = ["id", "name", "host", "web_address", "gate_mode", "description", "notes", "version", "created_at", "updated_at"] as const;

interface SystemRow extends NamedRow {
  host: string;
  web_address: string | null;
  gate_mode: GateMode;
  notes: string;
  created_at: Date | string;
  updated_at: Date | string;
}

function toSystem(row: SystemRow): System {
  return {
    ...namedFields(row),
    host: row.host,
    webAddress: row.web_address,
    gateMode: row.gate_mode,
    notes: row.notes, createdAt: new Date(row.created_at), updatedAt: new Date(row.updated_at) };
}

export interface SystemFields {
  name: string;
  host: string;
  /** Absent: none (null) on a new system, unchanged on an update. */
  webAddress?: string | null;
  /** Absent: "by-method" on a new system, unchanged on an update. */
  gateMode?: GateMode;
  description: string;
  notes: string;
}

/** The reads and writes of one record at a time, as services/catalog-records.ts uses them. */
/** The row's columns for the fields given: the web address with its host key, which the unique index compares. */
function systemColumns({ webAddress, gateMode, ...same }: Partial<SystemFields>): Record<string, unknown> {
  const columns: Record<string, unknown> = { ...same };
  if (webAddress !== undefined) {
    columns.web_address = webAddress;
    columns.web_address_key = webAddress === null ? null : (parseWebAddress(webAddress)?.hostKey ?? webAddress);
  }
  if (gateMode !== undefined) columns.gate_mode = gateMode;
  return columns;
}

export const systemRows = namedRows<SystemRow, System, SystemFields>({
  table: "systems",
  columns: () => COLUMNS,
  returning: COLUMNS,
  toRecord: toSystem,
  toColumns: systemColumns,
});

/** The system whose web address has the same host and port as `webAddress`, if any. */
export async function selectSystemByWebAddress(db: Queryable, webAddress: string): Promise<System | undefined> {
  const hostKey = parseWebAddress(webAddress)?.hostKey;
  if (!hostKey) return undefined;
  const row = (await db("systems").select(COLUMNS).where({ web_address_key: hostKey }).first()) as SystemRow | undefined;
  return row ? toSystem(row) : undefined;
}
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
