import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { type AppProcess, Browser, type HttpResponse, httpRequest, logLines, postgresAddress, STACK_TRACE, schemaUrl, startAppProcess } from "../helpers/app-process.ts";
import { createTestApiToken } from "../helpers/api-tokens.ts";
import { createTestDb, usingPostgres } from "../helpers/db.ts";
import { buildAdmin } from "../helpers/factories.ts";
import { pageText } from "../helpers/html.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";

/**
 * docs/security.md §4, "Postgres restarts mid-traffic": an app process (src/main.ts) whose database connections are killed
 * or cut keeps running, answers 503 (never a 500 with a stack trace) while it lasts, leaves no half-written rows, and
 * serves again once the database is back, without a restart. The app reaches Postgres through a TCP proxy the test
 * controls, so the test can kill exactly the app's backends (and no other test run's) and can cut the network.
 * Postgres only: the embedded PGlite has no connections to kill. TEST_DATABASE_URL is always set under CI=true.
 */

const skipFaults = !usingPostgres;
if (skipFaults) {
  if (process.env.CI === "true") throw new Error("test/integration/database-faults.test.ts: CI=true but TEST_DATABASE_URL is not set");
  console.warn(
    [
      "",
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
      "!!  DATABASE FAULT TESTS SKIPPED: TEST_DATABASE_URL is not set.",
      "!!  They kill and cut the app's Postgres connections; point TEST_DATABASE_URL at a Postgres to run them.",
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
      "",
    ].join("\n"),
  );
}

interface Outcome {
  what: string;
  res: HttpResponse;
}

/** What a person may see while the database goes away: the page, a redirect, or the 503 page; never a 500 or a trace. */
function expectNoInternalErrors(outcomes: Outcome[]): void {
  for (const { what, res } of outcomes) {
    expect([200, 303, 503], `${what} answered ${res.status}: ${pageText(res.text).slice(0, 300)}`).toContain(res.status);
    expect(res.text, `${what} showed a stack trace`).not.toMatch(STACK_TRACE);
    if (res.status === 503) expect(pageText(res.text)).toMatch(/Temporarily unavailable/);
  }
}

describe.skipIf(skipFaults)("an app process whose database goes away (Postgres only)", () => {
  let db: Db;
  let dataDir: string;
  let proxy: TcpProxy;
  let app: AppProcess;
  let admin: { id: number; username: string; password: string };

  beforeAll(async () => {
    db = await createTestDb();
    admin = await buildAdmin(db, { username: "chief" });
    proxy = await TcpProxy.start(postgresAddress());
    dataDir = await mkdtemp(path.join(tmpdir(), "gatehouse-faults-"));
    app = await startAppProcess({ DATABASE_URL: await schemaUrl(db, { host: "127.0.0.1", port: proxy.port }), DATA_DIR: dataDir });
  });

  afterAll(async () => {
    const code = await app?.stop();
    await proxy?.close();
    await db?.destroy();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    expect(code).toBe(0);
  });

  /** The app's backends, found by the proxy's ports (so neither this test's own connection nor another run's). */
  async function terminateAppBackends(): Promise<number> {
    const ports = proxy.upstreamPorts();
    if (ports.length === 0) return 0;
    const result = await db.raw(
      `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
        WHERE application_name = 'gatehouse' AND datname = current_database() AND pid <> pg_backend_pid()
          AND client_port IN (${ports.map(() => "?").join(", ")})`,
      ports,
    );
    return (result.rows as { killed: boolean }[]).filter((r) => r.killed).length;
  }

  /** Teams named `prefix…` and their team.created events: each team has exactly one, and each event its team. */
  async function expectTeamsWholeOrAbsent(prefix: string): Promise<string[]> {
    const teams = (await db("teams").select("id", "name").whereLike("name", `${prefix}%`)) as { id: string | number; name: string }[];
    const events = (await db("audit_events").select("target_id", "target_label").where({ action: "team.created" }).whereLike("target_label", `${prefix}%`)) as {
      target_id: string;
      target_label: string;
    }[];
    const teamIds = teams.map((t) => String(t.id)).sort();
    expect(events.map((e) => e.target_id).sort()).toEqual(teamIds);
    return teams.map((t) => t.name);
  }

  it("survives its connections being killed mid-traffic: 503 or success meanwhile, whole writes only, and serves again at once", async () => {
    const errorsBefore = logLines(app, "unhandled error").length;
    const chief = new Browser();
    await chief.signIn(app.url, admin.username, admin.password);

    const outcomes: Outcome[] = [];
    const created: string[] = [];
    const WORKERS = 6;
    const ROUNDS = 12;
    let done = 0;
    const worker = async (w: number) => {
      for (let i = 0; i < ROUNDS; i += 1) {
        const name = `kill-${w}-${i}`;
        const step =
          i % 3 === 0
            ? { what: `GET /profile (${w}/${i})`, send: () => chief.get(app.url, "/profile") }
            : i % 3 === 1
              ? { what: `GET /admin/teams (${w}/${i})`, send: () => chief.get(app.url, "/admin/teams") }
              : { what: `POST /admin/teams ${name}`, send: () => chief.post(app.url, "/admin/teams", { name, description: "made while connections die" }) };
        const res = await step.send();
        outcomes.push({ what: step.what, res });
        if (step.what.startsWith("POST") && res.status === 303) created.push(name);
        done += 1;
      }
    };
    // Kills the app's backends again and again while the workers run: each time another 3 requests have been
    // answered, up to the last tenth of the traffic (kills land at whatever point the requests have reached).
    let killed = 0;
    let kills = 0;
    const killer = async () => {
      const total = WORKERS * ROUNDS;
      for (let next = 3; next < total * 0.9; next += 3) {
        while (done < next) await new Promise((r) => setTimeout(r, 2));
        killed += await terminateAppBackends();
        kills += 1;
      }
    };
    await Promise.all([...Array.from({ length: WORKERS }, (_, w) => worker(w)), killer()]);

    expect(killed).toBeGreaterThan(0);
    expect(app.running()).toBe(true);
    expect(outcomes).toHaveLength(WORKERS * ROUNDS);
    expectNoInternalErrors(outcomes);
    const statuses = outcomes.map((o) => o.res.status);
    console.info(`${kills} kills ended ${killed} connections; answers: ${statuses.filter((s) => s === 503).length} × 503 of ${statuses.length}`);

    // No restart: the very next requests work, with the same session.
    expect((await chief.get(app.url, "/profile")).status).toBe(200);
    expect((await chief.post(app.url, "/admin/teams", { name: "kill-after", description: "" })).status).toBe(303);
    expect((await httpRequest(`${app.url}/readyz`)).status).toBe(200);

    const teams = await expectTeamsWholeOrAbsent("kill-");
    for (const name of [...created, "kill-after"]) expect(teams).toContain(name);
    expect(logLines(app, "uncaught exception; exiting")).toHaveLength(0);
    expect(logLines(app, "unhandled promise rejection; exiting")).toHaveLength(0);
    expect(logLines(app, "unhandled error")).toHaveLength(errorsBefore);
  });

  it("answers 503 while the database is unreachable (/readyz red, /healthz green), stays up, and recovers without a restart", async () => {
    const errorsBefore = logLines(app, "unhandled error").length;
    const chief = new Browser();
    await chief.signIn(app.url, admin.username, admin.password);
    // A visitor who opened the sign-in page before the outage and sends it during it.
    const visitor = new Browser();
    await visitor.refreshToken(app.url, "/login");
    expect((await httpRequest(`${app.url}/readyz`)).status).toBe(200);
    const pid = app.child.pid;
    const outboxWarningsBefore = logLines(app, "outbox: could not read the queue").length;

    await proxy.cut();
    try {
      const health = await httpRequest(`${app.url}/healthz`);
      expect(health.status).toBe(200);
      expect(JSON.parse(health.text)).toEqual({ status: "ok" });

      const ready = await httpRequest(`${app.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.headers["content-type"]).toMatch(/^application\/json/);
      expect(JSON.parse(ready.text)).toEqual({ status: "unavailable", database: "unreachable" });

      const during = await Promise.all([
        chief.get(app.url, "/profile").then((res) => ({ what: "GET /profile", res })),
        chief.get(app.url, "/admin/teams").then((res) => ({ what: "GET /admin/teams", res })),
        chief.post(app.url, "/admin/teams", { name: "cut-during", description: "" }).then((res) => ({ what: "POST /admin/teams", res })),
        visitor.post(app.url, "/login", { username: admin.username, password: admin.password }).then((res) => ({ what: "POST /login", res })),
      ]);
      for (const { what, res } of during) {
        expect(res.status, `${what} answered ${res.status}`).toBe(503);
        expect(pageText(res.text)).toContain("Temporarily unavailable");
        expect(res.text).not.toMatch(STACK_TRACE);
      }

      // The outage outlasts a round of the outbox's background timer (every 5 s), which finds no database either;
      // meanwhile the process keeps running and keeps answering.
      const deadline = Date.now() + 30_000;
      while (logLines(app, "outbox: could not read the queue").length === outboxWarningsBefore) {
        if (Date.now() > deadline) throw new Error("the outbox timer never reported the outage");
        expect(app.running()).toBe(true);
        expect((await httpRequest(`${app.url}/readyz`)).status).toBe(503);
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(app.running()).toBe(true);
      expect((await chief.get(app.url, "/profile")).status).toBe(503);
    } finally {
      await proxy.restore();
    }

    // Back: /readyz turns green by itself (the app reconnects on its own), and everything works with the same session.
    let readyAgain = await httpRequest(`${app.url}/readyz`);
    for (let tries = 0; readyAgain.status !== 200 && tries < 100; tries += 1) {
      await new Promise((r) => setTimeout(r, 200));
      readyAgain = await httpRequest(`${app.url}/readyz`);
    }
    expect(readyAgain.status).toBe(200);
    expect(JSON.parse(readyAgain.text)).toEqual({ status: "ready", database: "ok" });
    expect(app.running()).toBe(true);
    expect(app.child.pid).toBe(pid);

    expect((await chief.get(app.url, "/profile")).status).toBe(200);
    expect((await chief.post(app.url, "/admin/teams", { name: "cut-after", description: "" })).status).toBe(303);
    const teams = await expectTeamsWholeOrAbsent("cut-");
    expect(teams).toContain("cut-after");
    expect(teams).not.toContain("cut-during");
    const signIn = await visitor.attemptSignIn(app.url, admin.username, admin.password);
    expect(signIn.status).toBe(303);
    expect(logLines(app, "unhandled error")).toHaveLength(errorsBefore);
  });

  it("a database that swallows its traffic: 503 within 10 s on pages and the API, /readyz within 2 s, no request left hanging, and back by itself", async () => {
    const chief = new Browser();
    await chief.signIn(app.url, admin.username, admin.password);
    const token = await createTestApiToken(db, admin);
    expect((await httpRequest(`${app.url}/readyz`)).status).toBe(200);
    const timed = async (what: string, request: Promise<HttpResponse>) => {
      const started = Date.now();
      const res = await request;
      return { what, res, ms: Date.now() - started };
    };

    proxy.swallow();
    try {
      const answers = await Promise.all([
        timed("GET /readyz", httpRequest(`${app.url}/readyz`)),
        timed("GET /profile", chief.get(app.url, "/profile")),
        timed("GET /systems", chief.get(app.url, "/systems")),
        timed("GET /api/v1/systems", httpRequest(`${app.url}/api/v1/systems`, { headers: { Authorization: `Bearer ${token}`, Accept: "application/json" } })),
      ]);
      for (const { what, res, ms } of answers) {
        expect(res.status, `${what} answered ${res.status}`).toBe(503);
        expect(res.text, what).not.toMatch(STACK_TRACE);
        expect(ms, `${what} took ${ms} ms`).toBeLessThan(what === "GET /readyz" ? 4_000 : 10_000);
      }
      // Every connection of the pool is now stuck on a statement nobody answers, and another round still answers.
      const again = await timed("GET /profile", chief.get(app.url, "/profile"));
      expect(again.res.status).toBe(503);
      expect(again.ms).toBeLessThan(10_000);
    } finally {
      await proxy.restore();
    }

    // The database answers again: the swallowed connections are dropped, not reused, and the console comes back.
    let ready = await httpRequest(`${app.url}/readyz`);
    for (let tries = 0; ready.status !== 200 && tries < 100; tries += 1) {
      await new Promise((r) => setTimeout(r, 200));
      ready = await httpRequest(`${app.url}/readyz`);
    }
    expect(ready.status).toBe(200);
    let page = await chief.get(app.url, "/profile");
    for (let tries = 0; page.status !== 200 && tries < 50; tries += 1) {
      await new Promise((r) => setTimeout(r, 200));
      page = await chief.get(app.url, "/profile");
    }
    expect(page.status).toBe(200);
    expect(app.running()).toBe(true);
  }, 90_000);
});
