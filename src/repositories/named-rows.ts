import type { Knex } from "knex";
import type { Queryable } from "../db/index.ts";
import { nameKey } from "../lib/fields.ts";

/**
 * The writes shared by the tables of named, versioned records (teams, system_groups, systems): each has a unique
 * name_key (the name without regard to case, width or spaces at the ends) and a version that every change moves on.
 * `returning` is what the record is built from.
 */
export function namedRowWrites<Row, T, Fields extends { name: string }>(
  table: string,
  returning: readonly (string | Knex.Raw)[],
  toRecord: (row: Row) => T,
) {
  return {
    /** Undefined when the name is taken (the unique key decides, so a double submit yields one row). */
    async insert(db: Queryable, fields: Fields): Promise<T | undefined> {
      const rows = await db(table)
        .insert({ ...fields, name_key: nameKey(fields.name) })
        .onConflict("name_key")
        .ignore()
        .returning(returning as string[]);
      const row = (rows as Row[])[0];
      return row ? toRecord(row) : undefined;
    },

    /** Undefined when the version moved on or the row is gone. Only the fields given change. */
    async update(db: Queryable, id: number, expectedVersion: number, fields: Partial<Fields>): Promise<T | undefined> {
      const rows = await db(table)
        .where({ id, version: expectedVersion })
        .update({
          ...fields,
          ...(fields.name !== undefined ? { name_key: nameKey(fields.name) } : {}),
          version: db.raw("version + 1"),
          updated_at: db.fn.now(),
        })
        .returning(returning as string[]);
      const row = (rows as Row[])[0];
      return row ? toRecord(row) : undefined;
    },

    /** False when the version moved on or the row is gone. */
    async delete(db: Queryable, id: number, expectedVersion: number): Promise<boolean> {
      return (await db(table).where({ id, version: expectedVersion }).delete().returning("id")).length > 0;
    },
  };
}
