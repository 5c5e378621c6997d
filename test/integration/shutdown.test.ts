import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import * as outbox from "../../src/repositories/outbox.ts";
import { httpRequest, schemaUrl, spawnMain } from "../helpers/app-process.ts";
import { createTestDb, usingPostgres } from "../helpers/db.ts";
import { configureSmtp, TestMailServer } from "../helpers/mail.ts";

/**
 * docs/security.md §4, "SIGTERM" and "Logging never stops the server": src/main.ts as `npm start` runs it, with its
 * stdout a pipe that this test does not read (the log collector that stalled). The server must keep answering, and
 * SIGTERM must end it with exit 0 within 10 s whatever is open: idle keep-alive connections, requests in flight,
 * mail being sent to a slow server. On Postgres when TEST_DATABASE_URL is set (the test queues mail in the
 * process's schema), else on the embedded database (then without the mail load).
 */

if (!usingPostgres) {
  if (process.env.CI === "true") throw new Error("test/integration/shutdown.test.ts: CI=true but TEST_DATABASE_URL is not set");
  console.warn("test/integration/shutdown.test.ts: SIGTERM 20 times is skipped: it queues mail in the process's database, which needs TEST_DATABASE_URL.");
}
const EXIT_WITHIN_MS = 10_000;

interface MainProcess {
  child: ChildProcess;
  port: number;
  /** Exit code, and the time from the signal to the exit. */
  exited: Promise<number | null>;
  running(): boolean;
  /** What the process wrote to stdout (only once the test reads it) and stderr. */
  stdout(): string;
  stderr(): string;
  /** Starts reading stdout (it is left unread until then); pause() stops reading again. */
  read(): void;
  pause(): void;
}

async function startMain(env: Record<string, string>): Promise<MainProcess> {
  const { child, port, exited, running, exitCode } = await spawnMain(env);
  let stdout = "";
  let stderr = "";
  // A listener, paused at once: nothing is read (the pipe fills), and what the pipe holds can still be read after
  // the exit (Node discards the output of a child's stdout that has no listener when the child exits).
  child.stdout?.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stdout?.pause();
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  const proc: MainProcess = {
    child,
    port,
    exited,
    running,
    stdout: () => stdout,
    stderr: () => stderr,
    read() {
      child.stdout?.resume();
    },
    pause() {
      child.stdout?.pause();
    },
  };
  // Not a byte of stdout is read: wait for the health probe instead of the "listening" line.
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (!proc.running()) throw new Error(`src/main.ts exited (${exitCode()}) before answering:\n${stderr}`);
    const answer = await httpRequest(`http://127.0.0.1:${port}/healthz`, { timeoutMs: 2_000 }).catch(() => undefined);
    if (answer?.status === 200) return proc;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`src/main.ts did not answer in time:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends `signal` and resolves with the exit code and how long the exit took; SIGKILL (and a failure) after 20 s. */
async function signalAndTime(proc: MainProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<{ code: number | null; ms: number }> {
  const sentAt = Date.now();
  proc.child.kill(signal);
  const killer = setTimeout(() => proc.child.kill("SIGKILL"), 20_000);
  try {
    const code = await proc.exited;
    return { code, ms: Date.now() - sentAt };
  } finally {
    clearTimeout(killer);
  }
}

/** `total` requests, `concurrency` at a time; their statuses and the slowest answer. */
async function load(port: number, total: number, concurrency: number, pathOf: (i: number) => string): Promise<{ statuses: Map<number, number>; slowestMs: number }> {
  const statuses = new Map<number, number>();
  let slowestMs = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const started = Date.now();
        const res = await httpRequest(`http://127.0.0.1:${port}${pathOf(i)}`, { headers: { Accept: "text/html" }, timeoutMs: 10_000 });
        slowestMs = Math.max(slowestMs, Date.now() - started);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  return { statuses, slowestMs };
}

/** How many requests were answered, and how many of them with a 5xx. */
function answered(statuses: Map<number, number>): { total: number; failed: number } {
  let total = 0;
  let failed = 0;
  for (const [status, count] of statuses) {
    total += count;
    if (status >= 500) failed += count;
  }
  return { total, failed };
}

/** A connection that asked for one page with keep-alive, read the answer, and now sits idle. */
async function idleKeepAlive(port: number): Promise<net.Socket> {
  const socket = net.connect(port, "127.0.0.1");
  let received = "";
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.on("data", (chunk) => {
      received += chunk;
      if (received.includes('{"status":"ok"}')) resolve();
    });
    socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: keep-alive\r\n\r\n`);
  });
  socket.on("error", () => undefined);
  return socket;
}

/** A connection that was opened and has sent nothing yet. */
async function silentConnection(port: number): Promise<net.Socket> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  socket.on("error", () => undefined);
  return socket;
}

/**
 * A sign-in post taken up by the server (its "100 Continue") whose body has half arrived; finish() sends the rest,
 * and `response` is what the server wrote once it closed the connection.
 */
async function postInFlight(port: number): Promise<{ finish: () => void; response: Promise<string> }> {
  const body = "username=nobody&password=not-the-password";
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => undefined);
  let received = "";
  const continued = new Promise<void>((resolve) =>
    socket.on("data", (chunk) => {
      received += chunk;
      if (received.startsWith("HTTP/1.1 100 Continue")) resolve();
    }),
  );
  const response = new Promise<string>((resolve) => socket.on("close", () => resolve(received.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, ""))));
  socket.write(
    [
      "POST /login HTTP/1.1",
      `Host: 127.0.0.1:${port}`,
      "Content-Type: application/x-www-form-urlencoded",
      `Content-Length: ${body.length}`,
      "Accept: text/html",
      "Expect: 100-continue",
      "",
      "",
    ].join("\r\n"),
  );
  await continued;
  socket.write(body.slice(0, 10));
  return { finish: () => void socket.write(body.slice(10)), response };
}

describe("shutdown and a stdout nobody reads", () => {
  let db: Db | undefined;
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "gatehouse-shutdown-"));
    env = { DATA_DIR: dataDir };
    if (usingPostgres) {
      db = await createTestDb();
      env.DATABASE_URL = await schemaUrl(db);
    }
  });
  afterAll(async () => {
    await db?.destroy();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("keeps answering under load while stdout is not read, drops log lines past its buffer and counts them, and exits 0 on SIGTERM", async () => {
    const proc = await startMain(env);
    // Every request writes a log line that names its path (a page nobody may see: sent to sign in): an 8 KB path makes
    // 8 KB lines, so 900 requests hold
    // more than the 4 MiB buffer (LOG_BUFFER_BYTES in src/lib/logger.ts) besides the pipe's own.
    const longPath = (i: number) => `/no-such-page-${i}-${"x".repeat(8_000)}`;
    const first = await load(proc.port, 900, 16, longPath);
    expect(answered(first.statuses)).toEqual({ total: 900, failed: 0 });
    expect(first.slowestMs).toBeLessThan(5_000);
    expect((await httpRequest(`http://127.0.0.1:${proc.port}/healthz`, { timeoutMs: 2_000 })).status).toBe(200);

    // The reader comes back: what the buffer held arrives, then one line says how many were dropped.
    proc.read();
    const deadline = Date.now() + 20_000;
    while (!proc.stdout().includes("log lines were dropped") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const dropLine = proc
      .stdout()
      .split("\n")
      .find((line) => line.includes("log lines were dropped"));
    expect(dropLine).toBeDefined();
    const dropped = (JSON.parse(dropLine ?? "{}") as { droppedLogLines?: number }).droppedLogLines ?? 0;
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(900);

    // It stops reading again, for good; more load, then SIGTERM.
    proc.pause();
    const second = await load(proc.port, 900, 16, longPath);
    expect(answered(second.statuses)).toEqual({ total: 900, failed: 0 });
    const { code, ms } = await signalAndTime(proc);
    expect({ code, stderr: proc.stderr() }).toEqual({ code: 0, stderr: "" });
    expect(ms).toBeLessThan(EXIT_WITHIN_MS);
  }, 180_000);

  it("exits at once on a second signal", async () => {
    const proc = await startMain(env);
    proc.read();
    const held = await postInFlight(proc.port);
    proc.child.kill("SIGTERM");
    while (!proc.stdout().includes("shutting down")) await new Promise((r) => setTimeout(r, 20));
    const { code, ms } = await signalAndTime(proc, "SIGINT");
    expect(code).toBe(1);
    expect(ms).toBeLessThan(1_000);
    expect(proc.stdout()).toContain("second signal; exiting now");
    held.finish();
  }, 120_000);

  describe.skipIf(!usingPostgres)("SIGTERM 20 times under different loads", () => {
    let mailServer: TestMailServer;
    beforeAll(async () => {
      if (!db) throw new Error("no database");
      // A mail server that takes each message and answers only after 30 s: a send is in flight at every SIGTERM.
      mailServer = await TestMailServer.start({ answerDelayMs: 30_000 });
      await configureSmtp(db, mailServer);
    });
    afterAll(async () => {
      await mailServer?.stop();
    });

    type Load = "idle keep-alive connections" | "requests in flight" | "mail being sent" | "all three";
    const loads: Load[] = ["idle keep-alive connections", "requests in flight", "mail being sent", "all three"];

    it("exits 0 within 10 s each time, with stdout not read", async () => {
      const timings: string[] = [];
      for (let round = 0; round < 20; round++) {
        const kind = loads[round % loads.length] as Load;
        const withMail = kind === "mail being sent" || kind === "all three";
        if (withMail && db) {
          await db("outbox").delete();
          const before = mailServer.dataStarted;
          for (let i = 0; i < 3; i++)
            await outbox.enqueue(db, { kind: "test", to: `person${i}@example.test`, subject: `Round ${round}`, text: "Hello", html: "<p>Hello</p>" });
          const proc = await startMain(env);
          // The outbox sends at start; wait until the slow server is taking a message.
          const deadline = Date.now() + 15_000;
          while (mailServer.dataStarted === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
          expect(mailServer.dataStarted).toBeGreaterThan(before);
          timings.push(await shutDownUnder(proc, kind, round));
          // The message being sent was not lost: it waits for its next attempt, with the reason.
          const rows = await db("outbox").select("status", "last_error");
          expect(rows.filter((r) => r.status === "sent")).toEqual([]);
          expect(rows.some((r) => r.status === "queued" && /interrupted by a shutdown/.test(r.last_error ?? ""))).toBe(true);
        } else {
          timings.push(await shutDownUnder(await startMain(env), kind, round));
        }
      }
      console.info(`SIGTERM 20 times: ${timings.join("; ")}`);
    }, 600_000);

    async function shutDownUnder(proc: MainProcess, kind: Load, round: number): Promise<string> {
      const idle = kind === "idle keep-alive connections" || kind === "all three";
      const inFlight = kind === "requests in flight" || kind === "all three";
      const sockets = idle ? [...(await Promise.all(Array.from({ length: 10 }, () => idleKeepAlive(proc.port)))), await silentConnection(proc.port)] : [];
      const held = inFlight ? await Promise.all(Array.from({ length: 5 }, () => postInFlight(proc.port))) : [];
      // And requests still arriving as the signal comes: answered, or refused once the listener has closed.
      const arriving = inFlight
        ? Array.from({ length: 10 }, () =>
            httpRequest(`http://127.0.0.1:${proc.port}/login`, { timeoutMs: 10_000 }).then(
              (res) => res.status,
              (error: NodeJS.ErrnoException) => error.code ?? error.message,
            ),
          )
        : [];
      const exit = signalAndTime(proc);
      await new Promise((r) => setTimeout(r, 200));
      for (const request of held) request.finish();
      const { code, ms } = await exit;
      const answers = await Promise.all(held.map((r) => r.response));
      for (const socket of sockets) socket.destroy();
      if (code !== 0) {
        proc.read();
        await new Promise((r) => setTimeout(r, 500));
      }
      expect({ round, kind, code, output: code === 0 ? "" : proc.stdout() + proc.stderr() }).toEqual({ round, kind, code: 0, output: "" });
      expect(ms).toBeLessThan(EXIT_WITHIN_MS);
      // Each request taken up before the signal was answered in full (403: a sign-in post without its CSRF token).
      for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 403 /);
      for (const status of await Promise.all(arriving)) expect(typeof status === "number" ? status < 500 : ["ECONNREFUSED", "ECONNRESET"].includes(status)).toBe(true);
      return `${kind} ${ms} ms`;
    }
  });
});
