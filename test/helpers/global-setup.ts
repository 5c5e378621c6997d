import { createDb } from "../../src/db/index.ts";

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Drops the per-process test schemas (see db.ts) whose process has ended. */
async function dropStaleSchemas(): Promise<void> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) return;
  const db = createDb({ databaseUrl: url, embeddedDir: undefined, poolMax: 1 });
  try {
    const result = await db.raw("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'gatehouse_test_%'");
    for (const { nspname } of result.rows as { nspname: string }[]) {
      const pid = Number(nspname.slice("gatehouse_test_".length));
      if (!isRunning(pid)) await db.raw(`DROP SCHEMA IF EXISTS "${nspname}" CASCADE`);
    }
  } finally {
    await db.destroy();
  }
}

export async function setup(): Promise<void> {
  await dropStaleSchemas();
}

export async function teardown(): Promise<void> {
  await dropStaleSchemas();
}
