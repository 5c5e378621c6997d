/**
 * Access report benchmark. Seeds a schema of its own with 100,000 users and 10,000 systems (1,000 teams of about 20,
 * 500 groups of 20 systems, about 170,000 grants from all four sources, three administrators), starts Gatehouse as
 * `npm start` runs it (a process of its own: its heap cap, one malloc arena), signs in as an administrator over HTTP
 * and streams /admin/reports/access.csv to the end, counting rows and bytes. Prints the time, the rate, the rows
 * streamed, the server process's peak RSS (VmHWM, target < 250 MB) sampled while it streams, then times a page of
 * the report and of the API; the last line is the figures as JSON. Drops its schema at the end.
 *
 * Usage: npm run bench:report
 *   BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bench_report, created when missing);
 *   schema gatehouse_bench_report.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { createDb, type Db } from "../src/db/index.ts";
import { migrateLatest } from "../src/db/migrate.ts";
import { hashPassword } from "../src/services/passwords.ts";
import { resetSchema, schemaUrl } from "./seed-access.ts";

const BASE_URL = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/bench_report";
const SCHEMA = "gatehouse_bench_report";
const USERS = 100_000;
const SYSTEMS = 10_000;
const TEAMS = 1_000;
const GROUPS = 500;
const ADMIN = "bench-admin";
const PASSWORD = "correct horse battery staple, benchmark edition";
const RSS_TARGET_MB = 250;
const root = fileURLToPath(new URL("..", import.meta.url));

/** Creates the bench's database when it does not exist yet (through the server's maintenance database). */
async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = target.pathname.slice(1);
  const maintenance = new URL(url);
  maintenance.pathname = "/postgres";
  const admin = createDb({ databaseUrl: maintenance.toString(), embeddedDir: undefined, poolMax: 1 });
  try {
    const exists = await admin.raw("SELECT 1 FROM pg_database WHERE datname = ?", [name]);
    if (exists.rows.length === 0) await admin.raw(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } finally {
    await admin.destroy();
  }
}

/**
 * The data: users `user1` … `user100000`, systems `nas-1` … `nas-10000`. Every user has one or two direct grants;
 * one in ten has a group grant (20 systems); every user is in about 0.2 teams, and teams hold grants on systems and
 * on groups. About 900,000 rows of report: a realistic share (about nine systems a user), streamed in minutes.
 */
async function seed(db: Db, passwordHash: string): Promise<void> {
  await db.transaction(async (trx) => {
    await trx.raw("SET LOCAL statement_timeout = 0");
    await trx.raw(`INSERT INTO users (username, username_key, full_name) SELECT 'user' || g, 'user' || g, 'User ' || g FROM generate_series(1, ${USERS}) g`);
    await trx.raw(`UPDATE users SET is_admin = true WHERE id IN (1000, 50000)`);
    await trx("users").insert({ username: ADMIN, username_key: ADMIN, full_name: "Bench Administrator", is_admin: true, password_hash: passwordHash });
    await trx.raw(`INSERT INTO systems (name, name_key, host)
      SELECT 'nas-' || g, 'nas-' || g, '10.' || (g / 65536) || '.' || ((g / 256) % 256) || '.' || (g % 256) FROM generate_series(1, ${SYSTEMS}) g`);
    await trx.raw(`INSERT INTO teams (name, name_key) SELECT 'team-' || g, 'team-' || g FROM generate_series(1, ${TEAMS}) g`);
    await trx.raw(`INSERT INTO system_groups (name, name_key) SELECT 'group-' || g, 'group-' || g FROM generate_series(1, ${GROUPS}) g`);
    await trx.raw(`INSERT INTO team_members (team_id, user_id)
      SELECT t, ((t * 97 + i * 4099) % ${USERS}) + 1 FROM generate_series(1, ${TEAMS}) t, generate_series(1, 20) i ON CONFLICT DO NOTHING`);
    await trx.raw(`INSERT INTO system_group_members (group_id, system_id)
      SELECT gr, ((gr * 31 + i * 199) % ${SYSTEMS}) + 1 FROM generate_series(1, ${GROUPS}) gr, generate_series(1, 20) i ON CONFLICT DO NOTHING`);
    // A: 150,000 direct grants, one or two per user.
    await trx.raw(`INSERT INTO user_system_grants (user_id, system_id, permission)
      SELECT (i % ${USERS}) + 1, ((i * 7 + (i / ${USERS}) * 3331) % ${SYSTEMS}) + 1, 1 + (i % 2) FROM generate_series(0, 149999) i ON CONFLICT DO NOTHING`);
    // B: 10,000 group grants (20 systems each).
    await trx.raw(`INSERT INTO user_group_grants (user_id, group_id, permission)
      SELECT ((i * 37) % ${USERS}) + 1, (i % ${GROUPS}) + 1, 1 + (i % 2) FROM generate_series(0, 9999) i ON CONFLICT DO NOTHING`);
    // C: 5,000 team grants on systems; D: 1,000 team grants on groups.
    await trx.raw(`INSERT INTO team_system_grants (team_id, system_id, permission)
      SELECT (i % ${TEAMS}) + 1, ((i * 13 + (i / ${TEAMS}) * 101) % ${SYSTEMS}) + 1, 1 + (i % 2) FROM generate_series(0, 4999) i ON CONFLICT DO NOTHING`);
    await trx.raw(`INSERT INTO team_group_grants (team_id, group_id, permission)
      SELECT (i % ${TEAMS}) + 1, ((i * 7) % ${GROUPS}) + 1, 1 + (i % 2) FROM generate_series(0, 999) i ON CONFLICT DO NOTHING`);
  });
  await db.raw("VACUUM ANALYZE");
}

// ---------------------------------------------------------------------------------------------------------------
// The server process and an HTTP client

async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** This process's environment without Gatehouse's own settings, which the bench sets itself. */
function inheritedEnv(): Record<string, string> {
  const own = ["NODE_ENV", "PORT", "BASE_URL", "DATABASE_URL", "DATA_DIR", "APP_SECRET", "LOG_LEVEL", "ADMIN_USERNAME", "ADMIN_PASSWORD", "TRUST_PROXY"];
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !own.includes(e[0])));
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(origin: string, method: string, pathAndQuery: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(pathAndQuery, origin);
    const req = http.request(
      { host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers: body === undefined ? headers : { ...headers, "content-length": Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Starts Gatehouse as `npm start` does (heap cap, one malloc arena) and waits for /readyz. */
async function startGatehouse(databaseUrl: string, dataDir: string): Promise<{ child: ChildProcess; origin: string }> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ["--max-old-space-size=128", "--import", "tsx", "src/main.ts"], {
    cwd: root,
    env: {
      ...inheritedEnv(),
      MALLOC_ARENA_MAX: "1",
      NODE_ENV: "production",
      LOG_LEVEL: "warn",
      PORT: String(port),
      BASE_URL: origin,
      DATABASE_URL: databaseUrl,
      DATA_DIR: dataDir,
      APP_SECRET: randomBytes(32).toString("base64url"),
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Gatehouse exited with ${child.exitCode} before it was ready`);
    try {
      if ((await request(origin, "GET", "/readyz")).status === 200) return { child, origin };
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error("Gatehouse was not ready within 60 s");
    await sleep(200);
  }
}

/** VmHWM (peak resident set) and VmRSS of a running process in MB (10^6 bytes), from /proc. */
function memoryOf(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const mb = (field: string) => (Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN) * 1024) / 1e6;
  return { peak: mb("VmHWM"), now: mb("VmRSS") };
}

/** A browser's sign-in through the real form: the page's cookie and CSRF token, then the POST. */
async function signIn(origin: string): Promise<string> {
  const page = await request(origin, "GET", "/login");
  const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? "";
  const cookie = (page.headers["set-cookie"]?.[0] ?? "").split(";")[0] ?? "";
  const form = new URLSearchParams({ _csrf: token, username: ADMIN, password: PASSWORD }).toString();
  const res = await request(origin, "POST", "/login", { cookie, origin, "content-type": "application/x-www-form-urlencoded" }, form);
  if (res.status !== 303) throw new Error(`sign-in answered ${res.status}`);
  return (res.headers["set-cookie"]?.[0] ?? cookie).split(";")[0] ?? cookie;
}

/** Downloads `pathAndQuery` to the end without keeping it, counting bytes and CSV records (CRLF ends each). */
function streamDownload(origin: string, pathAndQuery: string, cookie: string): Promise<{ status: number; bytes: number; records: number; firstByteMs: number }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const url = new URL(pathAndQuery, origin);
    const req = http.get({ host: url.hostname, port: url.port, path: url.pathname + url.search, headers: { cookie } }, (res) => {
      let bytes = 0;
      let records = 0;
      let firstByteMs = -1;
      let previous = 0;
      res.on("data", (chunk: Buffer) => {
        if (firstByteMs < 0) firstByteMs = performance.now() - start;
        bytes += chunk.length;
        for (let i = 0; i < chunk.length; i++) {
          const byte = chunk[i] as number;
          if (byte === 10 && previous === 13) records += 1;
          previous = byte;
        }
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes, records, firstByteMs }));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

async function timed(task: () => Promise<Answer>): Promise<{ ms: number; status: number }> {
  const start = performance.now();
  const res = await task();
  return { ms: performance.now() - start, status: res.status };
}

// ---------------------------------------------------------------------------------------------------------------

await ensureDatabase(BASE_URL);
await resetSchema(SCHEMA, true, BASE_URL);
const databaseUrl = schemaUrl(SCHEMA, BASE_URL);
const db = createDb({ databaseUrl, embeddedDir: undefined });
const dataDir = await mkdtemp(path.join(os.tmpdir(), "gatehouse-bench-report-"));
let gatehouse: ChildProcess | undefined;

try {
  await migrateLatest(db);
  const seedStart = performance.now();
  await seed(db, await hashPassword(PASSWORD));
  const counts = (
    await db.raw(`SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM systems) AS systems, (SELECT count(*) FROM teams) AS teams,
      (SELECT count(*) FROM team_members) AS memberships, (SELECT count(*) FROM system_groups) AS groups,
      (SELECT count(*) FROM user_system_grants) + (SELECT count(*) FROM user_group_grants) + (SELECT count(*) FROM team_system_grants)
        + (SELECT count(*) FROM team_group_grants) AS grants`)
  ).rows[0];
  console.log(`seeded in ${((performance.now() - seedStart) / 1000).toFixed(1)} s:`, counts);

  const started = await startGatehouse(databaseUrl, dataDir);
  gatehouse = started.child;
  const pid = gatehouse.pid as number;
  const origin = started.origin;
  const cookie = await signIn(origin);
  const before = memoryOf(pid);
  console.log(`Gatehouse pid ${pid} at ${origin}: RSS ${before.now.toFixed(0)} MB after sign-in`);

  // Sample the server's RSS while it streams: VmHWM is the peak, the samples show the shape.
  let sampledMax = 0;
  const sampler = setInterval(() => {
    sampledMax = Math.max(sampledMax, memoryOf(pid).now);
  }, 250);
  const start = performance.now();
  const download = await streamDownload(origin, "/admin/reports/access.csv", cookie);
  const seconds = (performance.now() - start) / 1000;
  clearInterval(sampler);
  const after = memoryOf(pid);
  if (download.status !== 200) throw new Error(`the download answered ${download.status}`);
  const rows = download.records - 1;
  console.log(
    `access report CSV: ${rows.toLocaleString("en")} rows streamed, ${(download.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s ` +
      `(${Math.round(rows / seconds).toLocaleString("en")} rows/s, first byte after ${download.firstByteMs.toFixed(0)} ms)`,
  );
  console.log(
    `Gatehouse RSS: peak (VmHWM) ${after.peak.toFixed(0)} MB, highest sample while streaming ${sampledMax.toFixed(0)} MB, at the end ${after.now.toFixed(0)} MB ` +
      `(target < ${RSS_TARGET_MB} MB: ${after.peak < RSS_TARGET_MB ? "PASS" : "FAIL"})`,
  );

  const filtered = await streamDownload(origin, "/admin/reports/access.csv?team=team-7", cookie);
  const page = await timed(() => request(origin, "GET", "/admin/reports/access?user=user4242", { cookie }));
  const wholePage = await timed(() => request(origin, "GET", "/admin/reports/access", { cookie }));
  console.log(`filtered download (team-7): ${filtered.records - 1} rows; page of one user: ${page.ms.toFixed(0)} ms (${page.status}); first page of the whole report: ${wholePage.ms.toFixed(0)} ms (${wholePage.status})`);

  console.log(
    JSON.stringify({
      rows,
      bytes: download.bytes,
      seconds: Number(seconds.toFixed(2)),
      rowsPerSecond: Math.round(rows / seconds),
      firstByteMs: Math.round(download.firstByteMs),
      peakRssMb: Number(after.peak.toFixed(1)),
      sampledMaxRssMb: Number(sampledMax.toFixed(1)),
      rssTargetMb: RSS_TARGET_MB,
      rssPass: after.peak < RSS_TARGET_MB,
      userPageMs: Math.round(page.ms),
      wholeReportFirstPageMs: Math.round(wholePage.ms),
      wholeReportFirstPageStatus: wholePage.status,
    }),
  );
} finally {
  if (gatehouse && gatehouse.exitCode === null) {
    const exited = new Promise((resolve) => gatehouse?.once("exit", resolve));
    gatehouse.kill("SIGTERM");
    await Promise.race([exited, sleep(25_000)]);
  }
  await db.destroy();
  await resetSchema(SCHEMA, false, BASE_URL);
  await rm(dataDir, { recursive: true, force: true });
}
