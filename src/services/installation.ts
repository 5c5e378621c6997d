import type { Queryable } from "../db/index.ts";
import { pingDatabase } from "../repositories/health.ts";
import { anyUserExists } from "../repositories/users/index.ts";

/** Whether the database answers now: what /readyz reports. */
export async function databaseAnswers(db: Queryable): Promise<boolean> {
  try {
    await pingDatabase(db);
    return true;
  } catch {
    return false;
  }
}

/** Whether the first administrator exists yet: until then, every page leads to /setup. */
export function isSetUp(db: Queryable): Promise<boolean> {
  return anyUserExists(db);
}
