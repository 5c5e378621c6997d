import type { Queryable } from "../db/index.ts";

/** Throws unless the database answers a statement now. */
export async function pingDatabase(db: Queryable): Promise<void> {
  await db.raw("select 1");
}
