import type { Db } from "../../src/db/index.ts";

/**
 * Database faults injected from outside the application (docs/security.md §4, "crash between the steps of a
 * multi-row write"), with no hook in production code: a trigger that the test creates on one table raises an
 * error the way Postgres itself would, in the middle of the application's own transaction. The error carries a
 * real SQLSTATE, so the application handles it as it would handle the real thing:
 *
 * - 40001 (serialization_failure), as a deadlock or a serializable conflict would raise;
 * - 57P01 (admin_shutdown), as a server restarting under the connection would raise.
 *
 * Each fault counts how often it fired in a sequence (sequences are not transactional, so the count survives the
 * rollback the fault causes): a test can prove that its fault really fired inside the operation, instead of
 * passing because nothing happened. Works the same on PGlite and on Postgres (PL/pgSQL is built in to both).
 */

export type FaultCode = "40001" | "57P01";

export interface FaultSpec {
  /** The table whose writes fail. */
  table: string;
  /** Which write: a row-level BEFORE trigger (AFTER with `after: true`, once the row itself is written). */
  on: "INSERT" | "UPDATE" | "DELETE";
  /** A condition on NEW (INSERT, UPDATE) or OLD (DELETE), as SQL; every row when omitted. */
  when?: string;
  code: FaultCode;
  /** Fire after the row is written (an AFTER trigger) rather than before. */
  after?: boolean;
}

export interface Fault {
  /** How many times the trigger has raised so far. */
  fired(): Promise<number>;
  /** Drops the trigger, its function and its counter: the next try of the same operation goes through. */
  remove(): Promise<void>;
}

const MESSAGES: Record<FaultCode, string> = {
  "40001": "could not serialize access due to concurrent update (fault injected by a test)",
  "57P01": "terminating connection due to administrator command (fault injected by a test)",
};

let counter = 0;
const active = new Map<string, { db: Db; table: string }>();

export async function injectFault(db: Db, spec: FaultSpec): Promise<Fault> {
  counter += 1;
  const name = `gatehouse_test_fault_${counter}`;
  const table = spec.table.replace(/[^a-z_]/g, "");
  await db.raw(`CREATE SEQUENCE ${name}_fired`);
  await db.raw(
    `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       PERFORM nextval('${name}_fired');
       RAISE EXCEPTION USING ERRCODE = '${spec.code}', MESSAGE = '${MESSAGES[spec.code]}';
     END $$`,
  );
  await db.raw(
    `CREATE TRIGGER ${name} ${spec.after ? "AFTER" : "BEFORE"} ${spec.on} ON "${table}" FOR EACH ROW
     ${spec.when ? `WHEN (${spec.when})` : ""} EXECUTE FUNCTION ${name}()`,
  );
  active.set(name, { db, table });
  return {
    async fired() {
      const { rows } = await db.raw(`SELECT last_value, is_called FROM ${name}_fired`);
      const row = rows[0] as { last_value: string | number; is_called: boolean };
      return row.is_called ? Number(row.last_value) : 0;
    },
    remove: () => removeFault(name),
  };
}

async function removeFault(name: string): Promise<void> {
  const fault = active.get(name);
  if (!fault) return;
  active.delete(name);
  await fault.db.raw(`DROP TRIGGER IF EXISTS ${name} ON "${fault.table}"`);
  await fault.db.raw(`DROP FUNCTION IF EXISTS ${name}()`);
  await fault.db.raw(`DROP SEQUENCE IF EXISTS ${name}_fired`);
}

/** For afterEach: drops every fault a test left in place (a failed assertion before its own remove()). */
export async function removeAllFaults(): Promise<void> {
  for (const name of [...active.keys()]) await removeFault(name);
}

/**
 * Every table of the schema with its row count and a digest of its rows, to compare before and after an
 * operation that failed: any row added, removed or changed shows up as a difference naming the table. Sessions
 * are compared by id and account only (each request rewrites its own session's data and clocks); `ignore`
 * leaves tables out.
 */
export async function databaseState(db: Db, options: { ignore?: string[] } = {}): Promise<Record<string, string>> {
  const { rows } = await db.raw(
    `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT LIKE 'knex_migrations%' ORDER BY tablename`,
  );
  const state: Record<string, string> = {};
  for (const { tablename } of rows as { tablename: string }[]) {
    if (options.ignore?.includes(tablename)) continue;
    const rowText = tablename === "sessions" ? "t.sid || ':' || coalesce(CAST(t.user_id AS text), '-')" : "CAST(t AS text)";
    const result = await db.raw(
      `SELECT count(*) AS n, coalesce(md5(string_agg(x.r, E'\\n' ORDER BY x.r)), '') AS digest
         FROM (SELECT ${rowText} AS r FROM "${tablename}" t) x`,
    );
    const row = result.rows[0] as { n: string | number; digest: string };
    state[tablename] = `${Number(row.n)} rows, ${row.digest}`;
  }
  return state;
}
