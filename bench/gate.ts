/**
 * The gate's benchmark (issue 16), on the real Postgres with bench:access's data (100,000 users, 10,000 systems,
 * grants; seed-access.ts) in a scratch schema. Gatehouse (`src/main.ts` as `npm start` runs it) and the floors
 * server (floors.ts) run as child processes; a user with a grant signs in, and through the gate's handshake gets a
 * gate cookie for one system. Then, from this process over keep-alive connections:
 *   (b) floor: Express plus one Postgres query (one users row by id), BENCH_CONCURRENCY clients
 *   (g) GET /gate/auth-request with that gate cookie, as nginx asks it, BENCH_CONCURRENCY clients
 *   and, one client at a time, a GET through Debian's nginx to a small upstream with the gate and without it.
 * Prints requests/s, p50 and p99, gate ÷ floor and the latency the gate adds through nginx; targets: gate ÷ floor
 * ≥ 0.7, the gate's p99 < 10 ms. The last line is JSON. Drops its schema at the end (BENCH_KEEP_SCHEMA=1 keeps it).
 *
 * Usage: npm run bench:gate   (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test; schema
 *   gatehouse_bench_gate; BENCH_CONCURRENCY, BENCH_WARMUP_S, BENCH_DURATION_S as in bench/harness.ts;
 *   BENCH_CPU_PROFILE=<folder>: Gatehouse runs with --cpu-prof and writes its profile there when it stops)
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Db } from "../src/db/index.ts";
import { accessibleSystems } from "../src/repositories/effective-access.ts";
import { hashPassword } from "../src/services/passwords.ts";
import { type RunningProxy, startNginx, startUpstream } from "../test/helpers/proxies.ts";
import {
  agent as clientAgent,
  type Child,
  CONCURRENCY,
  cpuLine,
  DURATION_MS,
  freePort,
  load,
  request,
  serverWithPostgres,
  signIn,
  startChild,
  startGatehouse,
  stopChild,
  timedGet,
} from "./harness.ts";
import { freshSchema, resetSchema, schemaUrl, seedAccess, USERS } from "./seed-access.ts";

const SCHEMA = "gatehouse_bench_gate";
const PASSWORD = "correct horse battery staple, benchmark edition";
const HOST = "nas.bench.test";
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROFILE;

const children: Child[] = [];
const proxies: RunningProxy[] = [];
let upstream: Awaited<ReturnType<typeof startUpstream>> | undefined;
let db: Db | undefined;
const dataDir = await mkdtemp(path.join(os.tmpdir(), "gatehouse-bench-gate-"));
try {
  db = await freshSchema(SCHEMA, 2);
  const version = (await db.raw("SHOW server_version")).rows[0].server_version as string;
  console.log(`machine: ${os.availableParallelism()} cores, node ${process.version}, PostgreSQL ${version}; ${CONCURRENCY} concurrent clients`);
  await seedAccess(db, { passwordHash: await hashPassword(PASSWORD) });

  // A non-administrator with a grant on at least one system: that system gets the web address.
  const candidate = (await db("user_system_grants").where("permission", ">=", 1).orderBy("user_id").first("user_id", "system_id")) as
    | { user_id: string; system_id: string }
    | undefined;
  if (!candidate) throw new Error("no user with a grant on a system");
  const username = `user${candidate.user_id}`;
  const reach = (await accessibleSystems(db, Number(candidate.user_id), { limit: 1 })).total;

  const databaseUrl = schemaUrl(SCHEMA);
  const floors = await startChild("floors", "bench/floors.ts", await freePort(), { DATABASE_URL: databaseUrl, NODE_ENV: "production" }, "/hello");
  children.push(floors);
  const gatehouse = await startGatehouse(
    databaseUrl,
    dataDir,
    CPU_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${path.resolve(CPU_PROFILE_DIR)}`] : [],
  );
  const appPort = gatehouse.port;
  children.push(gatehouse);

  upstream = await startUpstream();
  const gated = await startNginx({ gatehousePort: appPort, upstreamPort: upstream.port, signInBase: gatehouse.origin });
  proxies.push(gated);
  const plain = await startNginx({ gatehousePort: appPort, upstreamPort: upstream.port, signInBase: gatehouse.origin, gate: false });
  proxies.push(plain);
  const site = `${HOST}:${gated.port}`;
  await db("systems").where({ id: candidate.system_id }).update({ web_address: `http://${site}`, web_address_key: site });
  console.log(`${username} reaches ${reach} systems; system ${candidate.system_id} answers at http://${site} behind nginx`);

  // The handshake, as a browser goes through it: sign in, /gate/start, then the callback on the system's host.
  const { cookie } = await signIn(gatehouse.origin, username, PASSWORD);
  const start = await request(gatehouse.origin, "GET", `/gate/start?rd=${encodeURIComponent(`http://${site}/`)}`, { cookie, accept: "text/html" });
  const onward = /^0; url=(.+)$/.exec(String(start.headers.refresh ?? ""))?.[1];
  if (start.status !== 200 || !onward) throw new Error(`/gate/start answered ${start.status}`);
  const callback = new URL(onward);
  const done = await request(`http://127.0.0.1:${gated.port}`, "GET", `${callback.pathname}${callback.search}`, { host: site });
  const gateCookie = done.headers["set-cookie"]?.find((c) => c.startsWith("gatehouse-gate="))?.split(";")[0];
  if (done.status !== 302 || !gateCookie) throw new Error(`the callback answered ${done.status} without a gate cookie`);

  const ask = { cookie: gateCookie, "x-original-url": `http://${site}/ui/dashboard`, "x-original-method": "GET" };
  const check = await request(gatehouse.origin, "GET", "/gate/auth-request", ask);
  if (check.status !== 200 || check.headers["remote-user"] !== username) throw new Error(`the gate answered ${check.status} for ${username}`);

  const statsDb = db;
  const watched = (child: Child) => serverWithPostgres(statsDb, child);
  const show = (label: string, r: Awaited<ReturnType<typeof load>>) => {
    console.log(`${label.padEnd(52)} ${r.perSecond.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(2).padStart(6)} ms  p99 ${r.p99.toFixed(2).padStart(6)} ms  (n=${r.requests})`);
    if (Object.keys(r.cpu.perRequest).length > 0) console.log(cpuLine(r));
  };

  let userId = 0;
  const floorStep = () => timedGet(floors.origin, `/user/${(userId++ % USERS) + 1}`);
  const gateStep = async () => {
    const began = performance.now();
    const res = await request(gatehouse.origin, "GET", "/gate/auth-request", ask);
    if (res.status !== 200) throw new Error(`the gate answered ${res.status}`);
    return performance.now() - began;
  };
  const b = await load("floor", watched(floors), floorStep);
  show("(b) floor: Express + one users row by id", b);
  const g = await load("gate", watched(gatehouse), gateStep);
  show("(g) /gate/auth-request, signed in with a grant", g);

  // The decision's own latency, on a machine that is not saturated: one client, one request after the other.
  const alone = { concurrency: 1, warmupMs: 1000, durationMs: Math.min(DURATION_MS, 5000) };
  const bAlone = await load("floor alone", watched(floors), floorStep, alone);
  show("(b) floor, one client alone", bAlone);
  const gAlone = await load("gate alone", watched(gatehouse), gateStep, alone);
  show("(g) /gate/auth-request, one client alone", gAlone);
  const through = (proxy: RunningProxy, cookieHeader?: string) => async () => {
    const began = performance.now();
    const res = await request(`http://127.0.0.1:${proxy.port}`, "GET", "/ui/dashboard", { host: site, ...(cookieHeader ? { cookie: cookieHeader } : {}) });
    if (res.status !== 200) throw new Error(`nginx answered ${res.status}`);
    return performance.now() - began;
  };
  const without = await load("nginx", {}, through(plain), alone);
  show("nginx → upstream, no gate (one client)", without);
  const withGate = await load("nginx+gate", {}, through(gated, gateCookie), alone);
  show("nginx → gate → upstream (one client)", withGate);

  const ratio = g.perSecond / b.perSecond;
  const addedP50 = withGate.p50 - without.p50;
  const addedP99 = withGate.p99 - without.p99;
  console.log("");
  console.log(`gate ÷ floor: ${ratio.toFixed(2)} (target ≥ 0.7): ${ratio >= 0.7 ? "PASS" : "FAIL"}`);
  console.log(`gate p99 at ${CONCURRENCY} clients: ${g.p99.toFixed(2)} ms (target < 10 ms): ${g.p99 < 10 ? "PASS" : "FAIL"} (the floor's own: ${b.p99.toFixed(2)} ms)`);
  console.log(`gate p99 with one client: ${gAlone.p99.toFixed(2)} ms (target < 10 ms): ${gAlone.p99 < 10 ? "PASS" : "FAIL"} (the floor's own: ${bAlone.p99.toFixed(2)} ms)`);
  const cpuOf = (r: typeof g) => Object.entries(r.cpu.perRequest).filter(([name]) => name !== "load generator").reduce((sum, [, ms]) => sum + ms, 0);
  console.log(`server CPU per request (app + Postgres): gate ${cpuOf(g).toFixed(2)} ms, floor ${cpuOf(b).toFixed(2)} ms (${(cpuOf(g) / cpuOf(b)).toFixed(2)}×)`);
  console.log(`the gate adds through nginx: p50 ${addedP50.toFixed(2)} ms, p99 ${addedP99.toFixed(2)} ms per request`);
  console.log(
    JSON.stringify({
      bench: "gate",
      concurrency: CONCURRENCY,
      floorPerSecond: Math.round(b.perSecond),
      gatePerSecond: Math.round(g.perSecond),
      gateOverFloor: Number(ratio.toFixed(2)),
      gateP50Ms: Number(g.p50.toFixed(2)),
      gateP99Ms: Number(g.p99.toFixed(2)),
      floorP99Ms: Number(b.p99.toFixed(2)),
      gateAloneP50Ms: Number(gAlone.p50.toFixed(2)),
      gateAloneP99Ms: Number(gAlone.p99.toFixed(2)),
      gateCpuMs: Number(cpuOf(g).toFixed(3)),
      floorCpuMs: Number(cpuOf(b).toFixed(3)),
      nginxAddedP50Ms: Number(addedP50.toFixed(2)),
      nginxAddedP99Ms: Number(addedP99.toFixed(2)),
      targets: { gateOverFloor: ratio >= 0.7, p99: g.p99 < 10, p99Alone: gAlone.p99 < 10 },
    }),
  );
} finally {
  for (const proxy of proxies) await proxy.stop();
  await upstream?.close();
  for (const child of children) await stopChild(child);
  clientAgent.destroy();
  await db?.destroy();
  await rm(dataDir, { recursive: true, force: true });
  if (process.env.BENCH_KEEP_SCHEMA !== "1") await resetSchema(SCHEMA, false);
}
