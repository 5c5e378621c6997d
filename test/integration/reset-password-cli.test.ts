import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { migrateLatest } from "../../src/db/migrate.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { findUserByUsername } from "../../src/repositories/users/index.ts";
import { SIGN_IN_FAILED } from "../../src/routes/auth/index.ts";
import { createUser } from "../../src/services/accounts.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { TestAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { pageText } from "../helpers/html.ts";
import { attemptSignIn, failureRow, presetFailures } from "../helpers/sign-in.ts";
import { type CliResult, prepareCliDatabase, runCli } from "../helpers/cli.ts";

/**
 * `npm run reset-password -- <username>` (break-glass, docs/domain.md, "Passwords and reset") as a child process against a real database:
 * the Postgres that TEST_DATABASE_URL names (in a schema of its own), or else an embedded database in a temporary
 * DATA_DIR. The accounts are created first; the embedded database admits one process at a time, so the test's own
 * connection is closed while the CLI runs and opened again afterwards. The printed password is then used through
 * the real app.
 */

const PASSWORD = "original passphrase of 2024";
const NEW_PASSWORD = "river stones under moonlight 61";
const TEMPORARY = /Temporary password for (\S+): ([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})\n/;


let databaseEnv: Record<string, string>;
let openDb: () => Db;
let cleanup: () => Promise<void>;

function runResetPassword(args: string[]): Promise<CliResult> {
  return runCli("src/cli/reset-password.ts", args, databaseEnv);
}

async function prepareDatabase(): Promise<void> {
  ({ env: databaseEnv, openDb, cleanup } = await prepareCliDatabase("reset_cli"));
}

function temporaryPasswordOf(run: CliResult, username: string): string {
  const match = TEMPORARY.exec(run.stdout);
  if (!match?.[2] || match[1] !== username) throw new Error(`no temporary password for ${username} in: ${run.stdout}${run.stderr}`);
  return match[2];
}

const runs: Record<"alice" | "nobody" | "dirk" | "locky" | "eve" | "noArgs", CliResult> = {} as never;
/** What locky saw before the CLI ran: the right password refused while the account is locked. */
let lockedBefore: number;
let db: Db;

beforeAll(async () => {
  await prepareDatabase();
  // The first run finds no such account; it also creates and migrates a new embedded database, which a process
  // of its own does well within the connection timeout.
  runs.nobody = await runResetPassword(["nobody"]);
  const setup = openDb();
  try {
    await migrateLatest(setup);
    for (const username of ["alice", "locky", "eve"]) {
      await createUser(setup, SYSTEM_ACTOR, {
        details: { username, fullName: username, title: "", email: null, phone: "", isAdmin: username === "alice", authSource: "local" },
        password: PASSWORD,
      });
    }
    await createUser(setup, SYSTEM_ACTOR, {
      details: { username: "dirk", fullName: "Dirk Directory", title: "", email: null, phone: "", isAdmin: false, authSource: "ldap" },
      password: undefined,
    });
    // locky is locked out: 20 failures and an hour's wait running.
    await presetFailures(setup, "account", "locky", 20);
    await setup("login_failures")
      .where({ scope: "account", key: "locky" })
      .update({ blocked_until: setup.raw("now() + interval '1 hour'") });
    lockedBefore = (await attemptSignIn(new TestAgent(createTestApp(setup)), "locky", PASSWORD)).status;
  } finally {
    await setup.destroy();
  }
  // One after another: each run opens the database, and the embedded one admits one process at a time.
  runs.alice = await runResetPassword(["alice"]);
  runs.dirk = await runResetPassword(["dirk"]);
  runs.locky = await runResetPassword(["locky"]);
  runs.eve = await runResetPassword(["eve"]);
  runs.noArgs = await runResetPassword([]);
  db = openDb();
}, 300_000);

afterAll(async () => {
  await db?.destroy();
  await cleanup?.();
});

async function resetRowsOf(username: string): Promise<number> {
  const user = await findUserByUsername(db, username);
  if (!user) throw new Error(`no user ${username}`);
  const [row] = await db("password_resets").where({ user_id: user.id }).count<{ count: string }[]>("* as count");
  return Number(row?.count ?? 0);
}

/** The account's temporary password as if `seconds` had passed since it was issued. */
async function issuedAgo(username: string, seconds: number): Promise<void> {
  const user = await findUserByUsername(db, username);
  if (!user) throw new Error(`no user ${username}`);
  await db("password_resets")
    .where({ user_id: user.id })
    .update({
      created_at: db.raw("created_at - make_interval(secs => ?)", [seconds]),
      expires_at: db.raw("expires_at - make_interval(secs => ?)", [seconds]),
    });
}

describe("npm run reset-password -- <username>", () => {
  it("prints a temporary password (XXXX-XXXX-XXXX-XXXX) for a local account, valid 6 hours", () => {
    expect(runs.alice.stderr).toBe("");
    expect(runs.alice.code).toBe(0);
    expect(temporaryPasswordOf(runs.alice, "alice")).toMatch(/^[A-Z2-9]{4}(-[A-Z2-9]{4}){3}$/);
    expect(runs.alice.stdout).toContain("It is valid for 6 hours and works once");
    expect(temporaryPasswordOf(runs.eve, "eve")).not.toBe(temporaryPasswordOf(runs.alice, "alice"));
  });

  it("exits 1 with a clear message for an unknown user, and for no username at all", () => {
    expect(runs.nobody.code).toBe(1);
    expect(runs.nobody.stderr).toContain('No account is called "nobody".');
    expect(runs.nobody.stdout).toBe("");
    expect(runs.noArgs.code).toBe(1);
    expect(runs.noArgs.stderr).toContain("Usage: npm run reset-password -- <username>");
    expect(runs.noArgs.stdout).toBe("");
  });

  it("exits 1 for an LDAP account, says the password lives in the directory, and issues nothing", async () => {
    expect(runs.dirk.code).toBe(1);
    expect(runs.dirk.stderr).toContain("dirk signs in through the directory (LDAP); change the password there.");
    expect(runs.dirk.stdout).toBe("");
    expect(await resetRowsOf("dirk")).toBe(0);
    expect((await listAuditEvents(db, { action: "password.temporary_issued" })).map((e) => e.targetLabel)).not.toContain("dirk");
  });

  it("is audited as password.temporary_issued by cli, without the password", async () => {
    const events = await listAuditEvents(db, { action: "password.temporary_issued" });
    expect(events.map((e) => e.targetLabel).sort()).toEqual(["alice", "eve", "locky"]);
    for (const event of events) {
      expect(event.actorUsername).toBe("cli");
      expect(event.details).toMatchObject({ validHours: 6, lockCleared: true });
    }
    const all = JSON.stringify(await listAuditEvents(db, { limit: 1000 }));
    for (const run of [runs.alice, runs.locky, runs.eve]) expect(all).not.toContain(TEMPORARY.exec(run.stdout)?.[2] ?? "missing");
  });

  it("the printed password signs in (still valid just before 6 hours) and leads to Choose a new password; it works once; the new password then signs in", async () => {
    const temporary = temporaryPasswordOf(runs.alice, "alice");
    await issuedAgo("alice", 6 * 3600 - 60);
    const app = createTestApp(db);
    const agent = new TestAgent(app);
    const res = await attemptSignIn(agent, "alice", temporary);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/login/new-password");
    const page = await agent.get("/login/new-password");
    expect(page.status).toBe(200);
    expect(pageText(page.text)).toContain("You signed in with a temporary password, which works only once.");
    // Nothing else opens with it.
    expect((await agent.get("/admin/users")).headers.location).toBe("/login/new-password");

    const twice = await attemptSignIn(new TestAgent(app), "alice", temporary);
    expect(twice.status).toBe(401);
    expect(pageText(twice.text)).toContain(SIGN_IN_FAILED);

    await agent.refreshToken("/login/new-password");
    const done = await agent.post("/login/new-password", { newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    expect(done.status).toBe(303);
    expect(done.headers.location).toBe("/login");
    expect((await attemptSignIn(new TestAgent(app), "alice", PASSWORD)).status).toBe(401);
    const signedIn = await attemptSignIn(new TestAgent(app), "alice", NEW_PASSWORD);
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.location).toBe("/");
    const [completed] = await listAuditEvents(db, { action: "password.reset_completed" });
    expect(completed?.details).toMatchObject({ with: "temporary_password" });
  });

  it("clears the account's sign-in lock: the temporary password signs a locked account in", async () => {
    expect(lockedBefore).toBe(401);
    expect(runs.locky.code).toBe(0);
    expect(runs.locky.stdout).toContain("The sign-in lock, if any, is lifted.");
    expect(await failureRow(db, "account", "locky")).toBeUndefined();
    const res = await attemptSignIn(new TestAgent(createTestApp(db)), "locky", temporaryPasswordOf(runs.locky, "locky"));
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/login/new-password");
  });

  it("expires after 6 hours", async () => {
    await issuedAgo("eve", 6 * 3600 + 1);
    const res = await attemptSignIn(new TestAgent(createTestApp(db)), "eve", temporaryPasswordOf(runs.eve, "eve"));
    expect(res.status).toBe(401);
    expect(pageText(res.text)).toContain(SIGN_IN_FAILED);
    expect(pageText(res.text)).toContain("a temporary password for 6 hours");
  });
});
