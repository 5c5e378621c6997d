import type { Knex } from "knex";
import type { Queryable } from "../db/index.ts";
import { nameKey } from "../lib/fields.ts";

/** The columns every named record's row has (teams, system_groups, systems). */
export interface NamedRow {
  id: string | number;
  name: string;
  description: string;
  version: number;
}

/** The fields every named record has, from its row. */
export function namedFields(row: NamedRow): { id: number; name: string; description: string; version: number } {
  return { id: Number(row.id), name: row.name, description: row.description, version: row.version };
}

/**
 * The reads and writes shared by the tables of named, versioned records (teams, system_groups, systems): each has
 * a unique name_key (the name without regard to case, width or spaces at the ends) and a version that every change
 * moves on. `columns` is what a read selects (it may count related rows), `returning` what a write returns; the
 * record is built from either by `toRecord`.
 */
export function namedRows<Row, T, Fields extends { name: string }>(spec: {
  table: string;
  columns: (db: Queryable) => readonly (string | Knex.Raw)[];
  returning: readonly string[];
  toRecord: (row: Row) => T;
  /** The columns a write sets for the fields given, when their names differ from the fields' (default: the same). */
  toColumns?: (fields: Partial<Fields>) => Record<string, unknown>;
}) {
  const { table, toRecord } = spec;
  const columnsOf = spec.toColumns ?? ((fields: Partial<Fields>) => fields as Record<string, unknown>);
  const first = async (db: Queryable, where: Record<string, unknown>): Promise<T | undefined> => {
    const row = (await db(table)
      .select(...spec.columns(db))
      .where(where)
      .first()) as Row | undefined;
    return row ? toRecord(row) : undefined;
  };
  const returned = (rows: unknown[]): T | undefined => {
    const row = (rows as Row[])[0];
    return row ? toRecord(row) : undefined;
  };
  return {
    select: (db: Queryable, id: number) => first(db, { id }),

    /** The record whose name is the same as `name` without regard to case, width or spaces at the ends. */
    selectByName: (db: Queryable, name: string) => first(db, { name_key: nameKey(name) }),

    /** Undefined when the name is taken (the unique key decides, so a double submit yields one row). */
    async insert(db: Queryable, fields: Fields): Promise<T | undefined> {
      return returned(
        await db(table)
          .insert({ ...columnsOf(fields), name_key: nameKey(fields.name) })
          .onConflict("name_key")
          .ignore()
          .returning(spec.returning as string[]),
      );
    },

    /** Undefined when the version moved on or the row is gone. Only the fields given change. */
    async update(db: Queryable, id: number, expectedVersion: number, fields: Partial<Fields>): Promise<T | undefined> {
      const name = fields.name !== undefined ? { name_key: nameKey(fields.name) } : {};
      return returned(
        await db(table)
          .where({ id, version: expectedVersion })
          .update({ ...columnsOf(fields), ...name, version: db.raw("version + 1"), updated_at: db.fn.now() })
          .returning(spec.returning as string[]),
      );
    },

    /** False when the version moved on or the row is gone. */
    async delete(db: Queryable, id: number, expectedVersion: number): Promise<boolean> {
      return (await db(table).where({ id, version: expectedVersion }).delete().returning("id")).length > 0;
    },
  };
}
