import { READINESS_TIMEOUT_MS } from "../db/timeouts.ts";
import type { Queryable } from "../db/index.ts";
import { pingDatabase } from "../repositories/health.ts";
import { anyUserExists } from "../repositories/users/index.ts";

/**
 * Whether the database answers now: what /readyz reports. It waits READINESS_TIMEOUT_MS at most, so that a probe
 * learns of a silent database in time; a ping still waiting then goes on in the background until its own timeout.
 */
export async function databaseAnswers(db: Queryable, withinMs: number = READINESS_TIMEOUT_MS): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), withinMs);
  });
  try {
    return await Promise.race([pingDatabase(db).then(() => true, () => false), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether the first administrator exists yet: until then, every page leads to /setup. */
export function isSetUp(db: Queryable): Promise<boolean> {
  return anyUserExists(db);
}
