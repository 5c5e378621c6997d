import type { Queryable } from "../db/index.ts";

export interface StoredSettings<T> {
  value: T;
  version: number;
  updatedAt: Date;
}

export async function readSettings<T>(db: Queryable, key: string): Promise<StoredSettings<T> | undefined> {
  const row = await db("settings")
    .select("value", "version", "updated_at")
    .where({ key })
    .first<{ value: T | string; version: number; updated_at: Date | string } | undefined>();
  if (!row) return undefined;
  return {
    value: (typeof row.value === "string" ? JSON.parse(row.value) : row.value) as T,
    version: row.version,
    updatedAt: new Date(row.updated_at),
  };
}

/**
 * Writes a settings document if nobody saved since `expectedVersion` (0: none saved yet).
 * undefined means the write lost the race.
 */
export async function writeSettings<T>(
  db: Queryable,
  key: string,
  expectedVersion: number,
  value: T,
): Promise<StoredSettings<T> | undefined> {
  const json = JSON.stringify(value);
  if (expectedVersion === 0) {
    const inserted = await db("settings")
      .insert({ key, value: json, version: 1 })
      .onConflict("key")
      .ignore()
      .returning<{ version: number; updated_at: Date | string }[]>(["version", "updated_at"]);
    return inserted[0] ? { value, version: inserted[0].version, updatedAt: new Date(inserted[0].updated_at) } : undefined;
  }
  const updated = await db("settings")
    .where({ key, version: expectedVersion })
    .update({ value: json, version: db.raw("version + 1"), updated_at: db.fn.now() })
    .returning<{ version: number; updated_at: Date | string }[]>(["version", "updated_at"]);
  return updated[0] ? { value, version: updated[0].version, updatedAt: new Date(updated[0].updated_at) } : undefined;
}

export async function deleteSettings(db: Queryable, key: string): Promise<boolean> {
  const rows = await db("settings").where({ key }).delete().returning("key");
  return rows.length > 0;
}
