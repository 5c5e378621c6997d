import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createDb, type Db } from "../../src/db/index.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A database of its own for a test that runs Gatehouse's commands as child processes: a schema of the Postgres
 * that TEST_DATABASE_URL names, or else an embedded database in a temporary DATA_DIR. `env` is what a command needs
 * to find it; `openDb` opens it from the test (for the embedded one, only while no command runs: PGlite admits one
 * process at a time); `cleanup` removes it.
 */
export async function prepareCliDatabase(name: string): Promise<{ env: Record<string, string>; openDb: () => Db; cleanup: () => Promise<void> }> {
  const base = process.env.TEST_DATABASE_URL;
  if (base) {
    const schema = `gatehouse_${name}_${process.pid}`;
    const admin = createDb({ databaseUrl: base, embeddedDir: undefined, poolMax: 1 });
    await admin.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.raw(`CREATE SCHEMA ${schema}`);
    const url = new URL(base);
    url.searchParams.set("options", `-c search_path=${schema}`);
    return {
      env: { DATABASE_URL: url.toString() },
      openDb: () => createDb({ databaseUrl: url.toString(), embeddedDir: undefined, poolMax: 2 }),
      cleanup: async () => {
        await admin.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.destroy();
      },
    };
  }
  const dataDir = await mkdtemp(path.join(tmpdir(), `gatehouse-${name}-`));
  await mkdir(path.join(dataDir, "pgdata"), { recursive: true });
  return {
    env: { DATA_DIR: dataDir },
    openDb: () => createDb({ databaseUrl: undefined, embeddedDir: path.join(dataDir, "pgdata") }),
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  };
}

/**
 * Runs a script of the repository (`src/cli/…`, `src/main.ts`) as a child process with a clean environment (the
 * test runner's own variables, BASE_URL for one, are not the command's): PATH, HOME, LOG_LEVEL silent, then `env`.
 * `stdin`, when given, is written and closed, as when piped.
 */
export function runCli(script: string, args: string[], env: Record<string, string>, stdin?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", LOG_LEVEL: "silent", ...env },
      stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr?.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}
