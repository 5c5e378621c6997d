import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { TEST_APP_SECRET } from "../helpers/app.ts";
import { logLines, startAppProcess } from "../helpers/app-process.ts";
import { type CliResult, prepareCliDatabase, runCli } from "../helpers/cli.ts";

/**
 * `npm run rotate-keys` and the start-up's signing keys (src/main.ts), as child processes against a real database:
 * the Postgres that TEST_DATABASE_URL names (in a schema of its own), or else an embedded database in a temporary
 * DATA_DIR. The runs go one after another and the test opens the database only after the last one (the embedded
 * database admits one process at a time).
 */

const OTHER_SECRET = "a-different-app-secret-than-the-one-that-sealed";


let databaseEnv: Record<string, string>;
let openDb: () => Db;
let cleanup: () => Promise<void>;

function runNode(script: string, args: string[], env: Record<string, string>): Promise<CliResult> {
  return runCli(script, args, { APP_SECRET: TEST_APP_SECRET, ...databaseEnv, ...env });
}

const rotateKeys = (args: string[] = [], env: Record<string, string> = {}) => runNode("src/cli/rotate-keys.ts", args, env);

async function prepareDatabase(): Promise<void> {
  ({ env: databaseEnv, openDb, cleanup } = await prepareCliDatabase("rotate_keys_cli"));
}

const KID = "[A-Za-z0-9_-]{43}";

/** The kids a run printed under a heading, with their algorithms. */
function listed(run: CliResult, heading: RegExp): { kid: string; alg: string }[] {
  const after = run.stdout.split(heading)[1] ?? "";
  return [...after.matchAll(new RegExp(`^  (${KID}) \\((ES256|RS256)\\)$`, "gm"))]
    .map((m) => ({ kid: m[1] as string, alg: m[2] as string }))
    .slice(0, 2);
}

const runs = {} as Record<"first" | "second" | "wrongStart" | "wrongRotate" | "replace" | "replaceAgain" | "usage", CliResult>;
let startLog: { created: unknown[]; listening: boolean };
let restartedListening: boolean;
let db: Db;

beforeAll(async () => {
  await prepareDatabase();
  // The first start makes the keys (and migrates the new database).
  const first = await startAppProcess(databaseEnv);
  startLog = { created: logLines(first, "made OpenID Connect signing keys"), listening: first.output().includes("Gatehouse is listening") };
  await first.stop();
  runs.first = await rotateKeys();
  runs.second = await rotateKeys();
  runs.wrongStart = await runNode("src/main.ts", [], { APP_SECRET: OTHER_SECRET, PORT: "0", LOG_LEVEL: "silent" });
  runs.wrongRotate = await rotateKeys([], { APP_SECRET: OTHER_SECRET });
  runs.replace = await rotateKeys(["--replace-unreadable"], { APP_SECRET: OTHER_SECRET });
  runs.replaceAgain = await rotateKeys(["--replace-unreadable"], { APP_SECRET: OTHER_SECRET });
  runs.usage = await rotateKeys(["--now"]);
  const restarted = await startAppProcess({ ...databaseEnv, APP_SECRET: OTHER_SECRET });
  restartedListening = restarted.output().includes("Gatehouse is listening");
  await restarted.stop();
  db = openDb();
}, 400_000);

afterAll(async () => {
  await db?.destroy();
  await cleanup?.();
});

describe("signing keys at start-up", () => {
  it("the first start makes one ES256 and one RS256 key and logs their kids", () => {
    expect(startLog.listening).toBe(true);
    expect(startLog.created).toHaveLength(1);
    expect((startLog.created[0] as { kids: string[] }).kids).toHaveLength(2);
  });

  it("another APP_SECRET stops the start with a message that says so and what to do", () => {
    expect(runs.wrongStart.code).toBe(1);
    expect(runs.wrongStart.stdout).toBe("");
    expect(runs.wrongStart.stderr).toMatch(/^Gatehouse cannot start: The OpenID Connect signing keys stored in the database \(/);
    expect(runs.wrongStart.stderr).toContain("cannot be decrypted with this APP_SECRET: it differs from the APP_SECRET that sealed them");
    expect(runs.wrongStart.stderr).toContain("npm run rotate-keys -- --replace-unreadable");
    expect(runs.wrongStart.stderr).not.toMatch(/at .*\.ts:\d+/);
  });
});

describe("npm run rotate-keys", () => {
  it("prints the new kids; the first time there were the start's keys to retire", () => {
    expect(runs.first.stderr).toBe("");
    expect(runs.first.code).toBe(0);
    const created = listed(runs.first, /^New current keys:$/m);
    expect(created.map((k) => k.alg)).toEqual(["ES256", "RS256"]);
    const retired = listed(runs.first, /^Retired, published for verification until .*$/m);
    expect(retired.map((k) => k.kid).sort()).toEqual([...((startLog.created[0] as { kids: string[] }).kids ?? [])].sort());
  });

  it("retires the keys the run before made, published until 24 hours after, as stored", async () => {
    expect(runs.second.code).toBe(0);
    const before = listed(runs.first, /^New current keys:$/m);
    const retired = listed(runs.second, /^Retired, published for verification until .*$/m);
    expect(retired).toEqual(before);
    const until = /published for verification until (\S+) \(24 hours\):/.exec(runs.second.stdout)?.[1];
    expect(until).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const events = await listAuditEvents(db, { action: "signing_keys.rotated" });
    expect(events.map((e) => e.actorUsername)).toEqual(["cli", "cli"]);
    expect(events[0]?.details).toMatchObject({ retired: before, retiredPublishedUntil: until });
  });

  it("refuses with the same message under another APP_SECRET, and changes nothing", () => {
    expect(runs.wrongRotate.code).toBe(1);
    expect(runs.wrongRotate.stdout).toBe("");
    expect(runs.wrongRotate.stderr).toContain("cannot be decrypted with this APP_SECRET");
    expect(runs.wrongRotate.stderr).toContain("npm run rotate-keys -- --replace-unreadable");
  });

  it("-- --replace-unreadable deletes the keys the secret cannot open and makes new ones; a second time it finds none", async () => {
    expect(runs.replace.stderr).toBe("");
    expect(runs.replace.code).toBe(0);
    expect(runs.replace.stdout).toMatch(/^Deleted 6 signing key\(s\) this APP_SECRET cannot open: .*\. Tokens they signed no longer verify\.$/m);
    const made = new RegExp(`^New current keys: (${KID}), (${KID})$`, "m").exec(runs.replace.stdout);
    expect(made).not.toBeNull();
    const stored = await db("oidc_signing_keys").select("kid", "retired_at").orderBy("kid");
    expect(stored.map((r) => r.kid)).toEqual([made?.[1], made?.[2]].sort());
    expect(stored.every((r) => r.retired_at === null)).toBe(true);
    expect(runs.replaceAgain.code).toBe(0);
    expect(runs.replaceAgain.stdout).toBe("Every stored signing key opens with this APP_SECRET; nothing was deleted.\n");
    const [event] = await listAuditEvents(db, { action: "signing_keys.unreadable_deleted" });
    expect(event?.actorUsername).toBe("cli");
    expect(event?.details.deleted).toHaveLength(6);
  });

  it("after that the console starts again with the new APP_SECRET", () => {
    expect(restartedListening).toBe(true);
  });

  it("answers an unknown argument with its usage and exit code 2", () => {
    expect(runs.usage.code).toBe(2);
    expect(runs.usage.stderr).toBe("Usage: npm run rotate-keys [-- --replace-unreadable]\n");
  });
});
