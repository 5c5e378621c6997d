import { mkdir } from "node:fs/promises";
import path from "node:path";
import { loadConfig } from "../config.ts";
import { createDb, type Db } from "../db/index.ts";

/** The database the console would use, from the same environment variables. */
export async function openConfiguredDb(): Promise<Db> {
  const config = loadConfig(process.env);
  const embeddedDir = config.databaseUrl ? undefined : path.resolve(config.dataDir, "pgdata");
  if (embeddedDir) await mkdir(embeddedDir, { recursive: true });
  return createDb({ databaseUrl: config.databaseUrl, embeddedDir, timeouts: config.databaseTimeouts });
}
