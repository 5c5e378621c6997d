/**
 * What the HTTP benchmarks share (bench:http, bench:gate): child processes started as `npm start` runs them, a
 * keep-alive HTTP client, and a load loop of virtual clients that measures requests/s, p50/p99 and the CPU each
 * process group spent per request.
 *   BENCH_CONCURRENCY (16), BENCH_WARMUP_S (3), BENCH_DURATION_S (10).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

export const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
export const WARMUP_MS = Number(process.env.BENCH_WARMUP_S ?? 3) * 1000;
export const DURATION_MS = Number(process.env.BENCH_DURATION_S ?? 10) * 1000;
const root = fileURLToPath(new URL("..", import.meta.url));

// ---------------------------------------------------------------------------------------------------------------
// Child processes

export async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Child {
  name: string;
  process: ChildProcess;
  port: number;
  origin: string;
  stderr: string[];
}

/**
 * This process's environment without Gatehouse's own settings (an ADMIN_PASSWORD or TRUST_PROXY of the shell must not
 * change what is measured); the rest (NODE_OPTIONS, UV_THREADPOOL_SIZE, …) reaches the children.
 */
export function inheritedEnv(): Record<string, string> {
  const own = ["NODE_ENV", "PORT", "BASE_URL", "DATABASE_URL", "DATA_DIR", "APP_SECRET", "LOG_LEVEL", "ADMIN_USERNAME", "ADMIN_PASSWORD", "TRUST_PROXY"];
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !own.includes(e[0])));
}

/** How `npm start` runs Gatehouse (package.json): the heap cap and one glibc malloc arena for argon2's buffers. */
export const AS_NPM_START = { nodeFlags: ["--max-old-space-size=128"], env: { MALLOC_ARENA_MAX: "1" } };

/** Starts `node --import tsx <script>` with `env` and PORT=`port`, and waits until `readyPath` answers 200. */
export async function startChild(
  name: string,
  script: string,
  port: number,
  env: Record<string, string>,
  readyPath: string,
  nodeFlags: string[] = [],
): Promise<Child> {
  const child = spawn(process.execPath, [...nodeFlags, "--import", "tsx", script], {
    cwd: root,
    env: { ...inheritedEnv(), ...env, PORT: String(port) },
    stdio: ["ignore", "inherit", "pipe"],
  });
  const stderr: string[] = [];
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr.push(chunk);
    process.stderr.write(`[${name}] ${chunk}`);
  });
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} before it was ready: ${stderr.join("")}`);
    try {
      const res = await request(origin, "GET", readyPath);
      if (res.status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${name} was not ready within 60 s`);
    await sleep(200);
  }
  return { name, process: child, port, origin, stderr };
}

/** VmHWM (peak resident set) and VmRSS of a running process, in MB (10^6 bytes; /proc counts KiB), from /proc. */
export function memoryOf(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const mb = (field: string) => (Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN) * 1024) / 1e6;
  return { peak: mb("VmHWM"), now: mb("VmRSS") };
}

export async function stopChild(child: Child): Promise<void> {
  if (child.process.exitCode !== null) return;
  const exited = new Promise((resolve) => child.process.once("exit", resolve));
  child.process.kill("SIGTERM");
  await Promise.race([exited, sleep(25_000)]);
  if (child.process.exitCode === null) child.process.kill("SIGKILL");
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP client: one keep-alive agent, as many sockets as virtual clients

export const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(origin: string, method: string, pathAndQuery: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(pathAndQuery, origin);
    const req = http.request(
      { agent, host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers: body === undefined ? headers : { ...headers, "content-length": Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${pathAndQuery}: no answer within 60 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** The session cookie (name=value) a response sets, or `fallback`. */
export function sessionCookie(res: Answer, fallback = ""): string {
  const set = res.headers["set-cookie"]?.find((c) => c.startsWith("gatehouse.sid="));
  return set ? (set.split(";")[0] ?? fallback) : fallback;
}

/** A browser's sign-in: the form (its cookie and CSRF token), then the POST, which alone is timed. */
export async function signIn(origin: string, username: string, password: string): Promise<{ cookie: string; postMs: number }> {
  const page = await request(origin, "GET", "/login");
  const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
  const cookie = sessionCookie(page);
  if (page.status !== 200 || !token || !cookie) throw new Error(`GET /login answered ${page.status} without a token or cookie`);
  const form = new URLSearchParams({ _csrf: token, username, password }).toString();
  const start = performance.now();
  const res = await request(origin, "POST", "/login", { cookie, origin, "content-type": "application/x-www-form-urlencoded" }, form);
  const postMs = performance.now() - start;
  if (res.status !== 303 || res.headers.location !== "/") throw new Error(`POST /login as ${username} answered ${res.status} (location ${res.headers.location})`);
  return { cookie: sessionCookie(res, cookie), postMs };
}

// ---------------------------------------------------------------------------------------------------------------
// Load: CONCURRENCY virtual clients, a warm-up, then a fixed time

export interface Result {
  label: string;
  requests: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** CPU milliseconds per measured request, by process group, and the share of the machine other processes took. */
  cpu: { perRequest: Record<string, number>; machineBusy: number; others: number };
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** CPU time (user + system) of a process in ms, from /proc/<pid>/stat (USER_HZ = 100 on Linux); 0 once it is gone. */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/** Busy CPU time of the whole machine in ms, all cores together. */
export function machineBusyMs(): number {
  return os.cpus().reduce((sum, c) => sum + c.times.user + c.times.nice + c.times.sys + c.times.irq, 0);
}

/** The local ports of a process's TCP sockets (its connections to Postgres among them), from /proc. */
export function tcpPortsOf(pid: number): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode) inodes.add(inode);
    } catch {
      // Closed meanwhile.
    }
  }
  const ports = new Set<number>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[9] && inodes.has(fields[9])) ports.add(Number.parseInt(fields[1]?.split(":")[1] ?? "", 16));
    }
  }
  return ports;
}

/** The processes whose CPU is counted, by group: listed again at the start and the end of the window. */
export type Watched = Record<string, () => Promise<number[]>>;

/** Anything that runs SQL with knex's `raw` (the benchmark's own connection). */
interface RawQueryable {
  raw(sql: string): PromiseLike<{ rows: unknown[] }>;
}

/**
 * Postgres's share of a server's work: the backends serving that process (found by their client port, since other
 * suites may share this Postgres) plus Postgres's background processes.
 */
export function postgresServing(statsDb: RawQueryable, server: Child): () => Promise<number[]> {
  return async () => {
    const ports = tcpPortsOf(server.process.pid!);
    const { rows } = await statsDb.raw("SELECT pid, client_port, backend_type FROM pg_stat_activity");
    return (rows as { pid: number; client_port: number | null; backend_type: string }[])
      .filter((r) => r.backend_type !== "client backend" || (r.client_port !== null && ports.has(r.client_port)))
      .map((r) => r.pid);
  };
}

/** A server, the Postgres work it causes, and the load generator (this process): what a benchmark's CPU lines show. */
export function serverWithPostgres(statsDb: RawQueryable, server: Child): Watched {
  return { [server.name]: async () => [server.process.pid!], postgres: postgresServing(statsDb, server), "load generator": async () => [process.pid] };
}

/** One line: CPU per request by group, and how busy the machine was. */
export function cpuLine(result: Result): string {
  const perRequest = Object.entries(result.cpu.perRequest).map(([name, ms]) => `${name} ${ms.toFixed(2)} ms`);
  return `    CPU per request: ${perRequest.join(", ")}; machine busy ${(result.cpu.machineBusy * 100).toFixed(0)}%, other processes ${(result.cpu.others * 100).toFixed(0)}%`;
}

export async function cpuSnapshot(watched: Watched): Promise<{ busy: number; groups: Record<string, Map<number, number>> }> {
  const groups: Record<string, Map<number, number>> = {};
  for (const [name, pids] of Object.entries(watched)) groups[name] = new Map((await pids()).map((pid) => [pid, cpuMsOf(pid)]));
  return { busy: machineBusyMs(), groups };
}

/**
 * Runs `step(client)` in a loop on every virtual client: WARMUP_MS unmeasured, then (once every client is done
 * warming up) DURATION_MS measured. A step returns the milliseconds to record (its timed part). Every step started in
 * the measured window counts, and the rate is their number over the time from the window's start to the last one's end.
 * The CPU of the watched processes is read at both ends of the window.
 */
export async function load(
  label: string,
  watched: Watched,
  step: (client: number) => Promise<number>,
  { concurrency = CONCURRENCY, warmupMs = WARMUP_MS, durationMs = DURATION_MS } = {},
): Promise<Result> {
  const clients = Array.from({ length: concurrency }, (_, i) => i);
  const warmEnd = performance.now() + warmupMs;
  await Promise.all(
    clients.map(async (i) => {
      while (performance.now() < warmEnd) await step(i);
    }),
  );
  const before = await cpuSnapshot(watched);
  const samples: number[] = [];
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(
    clients.map(async (i) => {
      while (performance.now() < end) samples.push(await step(i));
    }),
  );
  const elapsedMs = performance.now() - start;
  const after = await cpuSnapshot(watched);
  const perRequest: Record<string, number> = {};
  let ours = 0;
  for (const [name, pids] of Object.entries(after.groups)) {
    // A process that started inside the window counts whole; one that ended inside it is lost (Postgres backends rarely do).
    let ms = 0;
    for (const [pid, cpu] of pids) ms += cpu - (before.groups[name]?.get(pid) ?? 0);
    ours += ms;
    perRequest[name] = ms / samples.length;
  }
  const capacity = elapsedMs * os.availableParallelism();
  const busy = after.busy - before.busy;
  const sorted = samples.sort((x, y) => x - y);
  return {
    label,
    requests: samples.length,
    perSecond: samples.length / (elapsedMs / 1000),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    cpu: { perRequest, machineBusy: busy / capacity, others: Math.max(0, busy - ours) / capacity },
  };
}

/** A GET that must answer 200, timed. */
export async function timedGet(origin: string, pathAndQuery: string, cookie?: string): Promise<number> {
  const start = performance.now();
  const res = await request(origin, "GET", pathAndQuery, cookie ? { cookie } : {});
  const ms = performance.now() - start;
  if (res.status !== 200) throw new Error(`GET ${pathAndQuery} answered ${res.status}`);
  return ms;
}


/**
 * Gatehouse as `npm start` runs it (NODE_ENV=production, LOG_LEVEL=warn, the heap cap), on `databaseUrl`, with a
 * fresh app secret, ready once /readyz answers. `nodeFlags` come before the script (a CPU profile, say).
 */
export async function startGatehouse(databaseUrl: string, dataDir: string, nodeFlags: string[] = []): Promise<Child> {
  const port = await freePort();
  return startChild(
    "gatehouse",
    "src/main.ts",
    port,
    {
      DATABASE_URL: databaseUrl,
      NODE_ENV: "production",
      LOG_LEVEL: "warn",
      APP_SECRET: randomBytes(32).toString("base64url"),
      BASE_URL: `http://127.0.0.1:${port}`,
      DATA_DIR: dataDir,
      ...AS_NPM_START.env,
    },
    "/readyz",
    [...AS_NPM_START.nodeFlags, ...nodeFlags],
  );
}
