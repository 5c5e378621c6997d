import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { countUsers, findUserByUsername } from "../../src/repositories/users/index.ts";
import { signedInAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { type CliResult, prepareCliDatabase, runCli } from "../helpers/cli.ts";

/**
 * `npm run admin:create -- <username>` as a child process, against a real database: the Postgres that
 * TEST_DATABASE_URL names (in a schema of its own), or else an embedded database in a temporary DATA_DIR.
 * The password goes in on stdin, as when piped.
 */

const PASSWORD = "cli admin passphrase 7";


let databaseEnv: Record<string, string>;
let openDb: () => Db;
let cleanup: () => Promise<void>;

function runAdminCreate(args: string[], stdin: string): Promise<CliResult> {
  return runCli("src/cli/admin-create.ts", args, databaseEnv, stdin);
}

async function prepareDatabase(): Promise<void> {
  ({ env: databaseEnv, openDb, cleanup } = await prepareCliDatabase("cli"));
}

const runs: Record<"created" | "short" | "common" | "containsName" | "duplicate", CliResult> = {} as never;
let db: Db;

beforeAll(async () => {
  await prepareDatabase();
  // One after another: each run opens the database, and the embedded one admits one process at a time.
  runs.created = await runAdminCreate(["ops-admin"], `${PASSWORD}\n`);
  runs.short = await runAdminCreate(["weakling"], "short\n");
  runs.common = await runAdminCreate(["weakling"], "password1234\n");
  runs.containsName = await runAdminCreate(["weakling"], "weakling-forever-2024\n");
  runs.duplicate = await runAdminCreate(["  OPS-Admin "], "another cli passphrase 8\n");
  db = openDb();
}, 240_000);

afterAll(async () => {
  await db?.destroy();
  await cleanup?.();
});

describe("npm run admin:create -- <username>", () => {
  it("creates an administrator, who can then sign in", async () => {
    expect(runs.created.stderr).toBe("");
    expect(runs.created.code).toBe(0);
    expect(runs.created.stdout).toContain("Administrator ops-admin created.");
    expect(await findUserByUsername(db, "ops-admin")).toMatchObject({ username: "ops-admin", isAdmin: true, disabled: false, authSource: "local" });
    const [event] = await listAuditEvents(db, { action: "user.created" });
    expect(event).toMatchObject({ actorUsername: "cli", targetLabel: "ops-admin" });
    expect(JSON.stringify(event)).not.toContain(PASSWORD);

    const admin = await signedInAgent(createTestApp(db), { username: "OPS-ADMIN", password: PASSWORD });
    expect((await admin.get("/admin/users")).status).toBe(200);
  });

  it("refuses a weak password with the reason, and creates nothing", async () => {
    for (const [run, reason] of [
      [runs.short, "Password must be at least 12 characters; this one has 5."],
      [runs.common, "This password is too common or too easy to guess; choose another."],
      [runs.containsName, "Password cannot contain your username."],
    ] as const) {
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(reason);
      expect(run.stdout).not.toContain("created");
    }
    expect(await findUserByUsername(db, "weakling")).toBeUndefined();
  });

  it("refuses a duplicate username (compared without regard to case or spaces)", async () => {
    expect(runs.duplicate.code).toBe(1);
    expect(runs.duplicate.stderr).toContain('A user named "ops-admin" already exists.');
    expect(await countUsers(db)).toBe(1);
  });

  it("refuses a missing or invalid username before asking for a password", async () => {
    for (const args of [[], ["bad\u202Ename"]]) {
      const run = await runAdminCreate(args, `${PASSWORD}\n`);
      expect(run.code, JSON.stringify(args)).toBe(1);
      expect(run.stderr, JSON.stringify(args)).toContain("Usage: npm run admin:create -- <username>");
    }
    const empty = await runAdminCreate(["nopass"], "");
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain("No password given.");
    expect(await findUserByUsername(db, "nopass")).toBeUndefined();
  });
});
