/**
 * HTTP benchmark (issue 8). Seeds the access data set of bench:access (100,000 users, 10,000 systems, grants; see
 * seed-access.ts) into a scratch schema, with one shared argon2 hash (production parameters) as every user's password,
 * starts the real Gatehouse (`src/main.ts`, NODE_ENV=production) and a floors server (`floors.ts`) as child processes
 * of their own, and drives them over loopback HTTP with keep-alive connections from this process:
 *   (a) floor: Express answering a tiny text
 *   (b) floor: Express plus one Postgres query (one users row by id, knex with the app's pool settings)
 *   (c) /systems signed in as a non-administrator with 50 to 200 systems (a full page of 50 rows)
 *   (c') /systems as the heavy user of bench:access (about 2,100 systems; the same page of 50), for scale; no target
 *   (d) /admin/users?q=user42 signed in as an administrator (1,111 matches, a page of 50)
 *   (e) sign-in: GET /login (token and cookie), then POST /login with the CSRF token, as a browser does; the POST is timed
 * Each runs CONCURRENCY virtual clients for a warm-up that is not measured, then for a fixed time. Prints requests/s,
 * p50 and p99 per scenario, c/b and d/b, the processes' peak RSS (VmHWM), and the issue's targets with PASS/FAIL.
 * Drops its schema at the end (BENCH_KEEP_SCHEMA=1 keeps it), leaving the database as it found it.
 *
 * Usage: npm run bench:http
 *   BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test; schema gatehouse_bench_http),
 *   BENCH_CONCURRENCY (16), BENCH_WARMUP_S (3), BENCH_DURATION_S (10) (bench/harness.ts);
 *   BENCH_ONLY=b,c (only these scenarios; letters a b c c' d e, "alone" for the one-client runs),
 *   BENCH_CPU_PROFILE=<folder> (Gatehouse runs with --cpu-prof and writes its profile there when it stops).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Db } from "../src/db/index.ts";
import { accessibleSystems } from "../src/repositories/effective-access.ts";
import { ARGON2_OPTIONS, hashPassword } from "../src/services/passwords.ts";
import {
  agent as clientAgent,
  type Child,
  CONCURRENCY,
  DURATION_MS,
  freePort,
  load,
  memoryOf,
  request,
  type Result,
  signIn,
  startChild,
  startGatehouse,
  stopChild,
  serverWithPostgres,
  cpuLine,
  timedGet,
  WARMUP_MS,
} from "./harness.ts";
import { freshSchema, HEAVY, resetSchema, schemaUrl, seedAccess, USERS } from "./seed-access.ts";

const SCHEMA = "gatehouse_bench_http";
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",").map((s) => s.trim())) : undefined;
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROFILE;
const PASSWORD = "correct horse battery staple, benchmark edition";
const ADMIN = "bench-admin";
const SEARCH = "user42";

// ---------------------------------------------------------------------------------------------------------------

const children: Child[] = [];
let db: Db | undefined;
const dataDir = await mkdtemp(path.join(os.tmpdir(), "gatehouse-bench-http-"));
try {
  // Kept open to the end: it lists the Postgres server's processes, whose CPU each scenario counts.
  db = await freshSchema(SCHEMA, 2);
  const version = (await db.raw("SHOW server_version")).rows[0].server_version as string;
  console.log(
    `machine: ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? "?"}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}; PostgreSQL ${version}`,
  );
  console.log(
    `load: ${CONCURRENCY} concurrent virtual clients on keep-alive connections from this process, ${WARMUP_MS / 1000} s warm-up (not measured) then ${DURATION_MS / 1000} s per scenario; ` +
      "server, floors, Postgres and this load generator share the 2 cores",
  );
  const hash = await hashPassword(PASSWORD);
  await seedAccess(db, { passwordHash: hash });
  await db("users").insert({ username: ADMIN, username_key: ADMIN, full_name: "Bench Administrator", is_admin: true, password_hash: hash });

  // (c)'s accounts: non-administrators whose grants reach 50 to 200 systems (a full first page, an ordinary account).
  const candidates = await db("user_group_grants").distinct("user_id").whereNot("user_id", HEAVY).orderBy("user_id").limit(200);
  const pageUsers: { id: number; username: string; total: number }[] = [];
  for (const { user_id } of candidates as { user_id: string }[]) {
    const { total } = await accessibleSystems(db, Number(user_id), { limit: 1 });
    if (total >= 50 && total <= 200) pageUsers.push({ id: Number(user_id), username: `user${user_id}`, total });
    if (pageUsers.length === CONCURRENCY) break;
  }
  if (pageUsers.length < CONCURRENCY) throw new Error(`only ${pageUsers.length} users with 50 to 200 systems`);
  const heavyTotal = (await accessibleSystems(db, HEAVY, { limit: 1 })).total;
  const totals = pageUsers.map((u) => u.total);
  console.log(
    `(c) accounts: ${CONCURRENCY} users with ${Math.min(...totals)} to ${Math.max(...totals)} systems each; (c') user${HEAVY} with ${heavyTotal}; ` +
      `all ${USERS.toLocaleString("en")} users share one argon2id hash (m=${ARGON2_OPTIONS.memoryCost} KiB, t=${ARGON2_OPTIONS.timeCost}, p=${ARGON2_OPTIONS.parallelism})`,
  );

  const databaseUrl = schemaUrl(SCHEMA);
  const floors = await startChild("floors", "bench/floors.ts", await freePort(), { DATABASE_URL: databaseUrl, NODE_ENV: "production" }, "/hello");
  children.push(floors);
  const gatehouse = await startGatehouse(
    databaseUrl,
    dataDir,
    CPU_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${path.resolve(CPU_PROFILE_DIR)}`] : [],
  );
  children.push(gatehouse);
  const origin = gatehouse.origin;
  console.log(`Gatehouse pid ${gatehouse.process.pid} at ${origin} (NODE_ENV=production, LOG_LEVEL=warn); floors pid ${floors.process.pid} at ${floors.origin}`);

  // Sessions for (c), (c') and (d): one sign-in per virtual client, its cookie reused.
  const pageCookies: string[] = [];
  for (const u of pageUsers) pageCookies.push((await signIn(origin, u.username, PASSWORD)).cookie);
  const heavyCookies: string[] = [];
  for (let i = 0; i < CONCURRENCY; i++) heavyCookies.push((await signIn(origin, `user${HEAVY}`, PASSWORD)).cookie);
  const adminCookies: string[] = [];
  for (let i = 0; i < CONCURRENCY; i++) adminCookies.push((await signIn(origin, ADMIN, PASSWORD)).cookie);

  // The pages are what the scenarios claim: 50 rows each.
  const rows = async (pathAndQuery: string, cookie: string, pattern: RegExp) => {
    const res = await request(origin, "GET", pathAndQuery, { cookie });
    if (res.status !== 200) throw new Error(`GET ${pathAndQuery} answered ${res.status}`);
    return { rows: res.body.match(pattern)?.length ?? 0, bytes: Buffer.byteLength(res.body) };
  };
  const systemsPage = await rows("/systems", pageCookies[0]!, /<tr><th scope="row">/g);
  const heavyPage = await rows("/systems", heavyCookies[0]!, /<tr><th scope="row">/g);
  const usersPage = await rows(`/admin/users?q=${SEARCH}`, adminCookies[0]!, /href="\/admin\/users\/\d+"/g);
  const matches = 1 + 10 + 100 + 1000; // user42, user420…429, user4200…4299, user42000…42999
  console.log(
    `pages: /systems ${systemsPage.rows} rows (${(systemsPage.bytes / 1024).toFixed(0)} KiB), heavy ${heavyPage.rows} rows; /admin/users?q=${SEARCH} ${usersPage.rows} user links of ${matches} matches (${(usersPage.bytes / 1024).toFixed(0)} KiB)`,
  );
  if (systemsPage.rows !== 50 || heavyPage.rows !== 50 || usersPage.rows < 50) throw new Error("a page does not show the 50 rows the scenario needs");

  const statsDb = db;
  const run = async (scenario: string, label: string, server: Child, step: (client: number) => Promise<number>, options?: Parameters<typeof load>[3]) => {
    if (ONLY && !ONLY.has(scenario)) return undefined;
    const result = await load(label, serverWithPostgres(statsDb, server), step, options);
    console.log(
      `${label.padEnd(58)} ${result.perSecond.toFixed(0).padStart(6)} req/s  p50 ${result.p50.toFixed(1).padStart(6)} ms  p99 ${result.p99.toFixed(1).padStart(6)} ms  (n=${result.requests})`,
    );
    console.log(cpuLine(result));
    return result;
  };

  console.log("");
  await run("a", "(a) floor: Express, tiny text", floors, () => timedGet(floors.origin, "/hello"));
  let userCounter = 0;
  const b = await run("b", "(b) floor: Express + one users row by id (knex)", floors, () => timedGet(floors.origin, `/user/${(userCounter++ % USERS) + 1}`));
  const c = await run("c", "(c) /systems, 50 rows, users with 50-200 systems", gatehouse, (i) => timedGet(origin, "/systems", pageCookies[i]));
  const cHeavy = await run("c'", `(c') /systems, 50 rows, user with ${heavyTotal} systems`, gatehouse, (i) => timedGet(origin, "/systems", heavyCookies[i]));
  const d = await run("d", `(d) /admin/users?q=${SEARCH} (${matches} of ${USERS + 1} users)`, gatehouse, (i) =>
    timedGet(origin, `/admin/users?q=${SEARCH}`, adminCookies[i]),
  );
  // The latency one person sees on an otherwise idle server: one client, one request after the other.
  const alone = { concurrency: 1, warmupMs: 1000, durationMs: Math.min(DURATION_MS, 5000) };
  await run("alone", "(c) /systems, one client alone", gatehouse, () => timedGet(origin, "/systems", pageCookies[0]), alone);
  const dAlone = await run("alone", `(d) /admin/users?q=${SEARCH}, one client alone`, gatehouse, () => timedGet(origin, `/admin/users?q=${SEARCH}`, adminCookies[0]), alone);
  // Each sign-in is a different account (user1, user2, …): success clears that account's counter anyway, and the
  // client address's counter takes back every successful attempt, so no throttle or lock takes part.
  let signInCounter = 0;
  const e = await run("e", `(e) POST /login, fresh sign-in each (${CONCURRENCY} concurrent)`, gatehouse, async () => {
    const username = `user${(signInCounter++ % USERS) + 1}`;
    return (await signIn(origin, username, PASSWORD)).postMs;
  });
  console.log(
    "(e) counts whole sign-ins (GET /login + POST /login) for the rate and the CPU, the POST alone for the latency. " +
      "CPU: /proc, per measured request; postgres is the backends serving that process plus Postgres's background processes; 'other processes' is the rest of the machine's busy time (100% = all cores)",
  );

  const appMemory = memoryOf(gatehouse.process.pid!);
  const floorsMemory = memoryOf(floors.process.pid!);
  console.log(`Gatehouse process RSS: peak (VmHWM) ${appMemory.peak.toFixed(0)} MB, at the end ${appMemory.now.toFixed(0)} MB; floors process peak ${floorsMemory.peak.toFixed(0)} MB`);
  const ratio = (x: Result | undefined) => (x && b ? (x.perSecond / b.perSecond).toFixed(2) : "n/a");
  console.log(`c/b (req/s) ${ratio(c)}   d/b (req/s) ${ratio(d)}`);
  // What the server spends on a request, whoever else shares the machine: its own process and Postgres's.
  const serverCpu = (x: Result | undefined) => (x ? (x.cpu.perRequest.gatehouse ?? x.cpu.perRequest.floors ?? 0) + (x.cpu.perRequest.postgres ?? 0) : undefined);
  const cpuRatio = (x: Result | undefined) => {
    const [mine, floor] = [serverCpu(x), serverCpu(b)];
    return mine !== undefined && floor ? mine / floor : undefined;
  };
  for (const [name, x] of [["(b) floor", b], ["(c) /systems", c], ["(c') /systems, heavy", cHeavy]] as const)
    if (x) console.log(`server CPU per request (server process + Postgres): ${name} ${serverCpu(x)?.toFixed(2)} ms${x === b ? "" : `, ${cpuRatio(x)?.toFixed(2)} x the floor`}`);

  // A scenario left out by BENCH_ONLY has no verdict.
  const target = (ok: boolean | undefined, text: string) => ok !== undefined && console.log(`${ok ? "PASS" : "FAIL"}  ${text}`);
  console.log("\ntargets (issues 8 and 18):");
  target(c && b && c.perSecond / b.perSecond >= 0.5, `c/b >= 0.5: ${ratio(c)} (withdrawn by issue 18: the load generator shares the cores; see the next line)`);
  target(cpuRatio(c) !== undefined ? (cpuRatio(c) ?? 99) <= 4 : undefined, `(c) server CPU per request <= 4 x the floor's (b) (issue 18): ${cpuRatio(c)?.toFixed(2)}`);
  target(cHeavy ? (cHeavy.cpu.perRequest.postgres ?? 99) < 1 : undefined, `(c') Postgres CPU per page < 1 ms for ${heavyTotal} systems (issue 18): ${cHeavy?.cpu.perRequest.postgres?.toFixed(2)} ms`);
  target(d && d.p50 < 50, `(d) p50 < 50 ms at ${CONCURRENCY} concurrent: ${d?.p50.toFixed(1)} ms`);
  target(dAlone && dAlone.p50 < 50, `(d) p50 < 50 ms, one client alone: ${dAlone?.p50.toFixed(1)} ms`);
  target(appMemory.peak < 250, `Gatehouse peak RSS < 250 MB: ${appMemory.peak.toFixed(0)} MB`);
  target(e && e.p99 < 500, `sign-in p99 < 500 ms at ${CONCURRENCY} concurrent: ${e?.p99.toFixed(0)} ms`);
} finally {
  for (const child of children) await stopChild(child);
  clientAgent.destroy();
  await db?.destroy();
  await rm(dataDir, { recursive: true, force: true });
  if (process.env.BENCH_KEEP_SCHEMA !== "1") await resetSchema(SCHEMA, false);
}
