import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import * as outbox from "../../src/repositories/outbox.ts";
import { type AppProcess, Browser, logLines, schemaUrl, startAppProcess } from "../helpers/app-process.ts";
import { createTestDb, usingPostgres } from "../helpers/db.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import { decodeEntities, pageText } from "../helpers/html.ts";
import { TestMailServer } from "../helpers/mail.ts";
import { presetFailures } from "../helpers/sign-in.ts";

/**
 * README.md, "Running on PostgreSQL": app processes are stateless, so several can run behind a load balancer against one Postgres. Two real
 * processes of src/main.ts (A and B, each with its own pool and its own outbox timer) share one database and one
 * APP_SECRET; a browser sends each request to whichever instance the test names, as a load balancer would.
 * PGlite is one process's database: these tests need TEST_DATABASE_URL (always set under CI=true).
 */

const skipInstances = !usingPostgres;
if (skipInstances) {
  if (process.env.CI === "true") throw new Error("test/integration/instances.test.ts: CI=true but TEST_DATABASE_URL is not set");
  console.warn(
    [
      "",
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
      "!!  SEVERAL-INSTANCES TESTS SKIPPED: TEST_DATABASE_URL is not set.",
      "!!  Two app processes cannot share the embedded PGlite; point TEST_DATABASE_URL at a Postgres to run them.",
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
      "",
    ].join("\n"),
  );
}

const SIGN_IN_FAILED = "Invalid username or password.";

describe.skipIf(skipInstances)("two instances against one Postgres", () => {
  let db: Db;
  let dataDir: string;
  let a: AppProcess;
  let b: AppProcess;
  let admin: { username: string; password: string };

  beforeAll(async () => {
    db = await createTestDb();
    admin = await buildAdmin(db, { username: "chief" });
    dataDir = await mkdtemp(path.join(tmpdir(), "gatehouse-instances-"));
    const env = { DATABASE_URL: await schemaUrl(db), DATA_DIR: dataDir };
    [a, b] = await Promise.all([startAppProcess(env), startAppProcess(env)]);
  });

  afterAll(async () => {
    const codes = await Promise.all([a?.stop(), b?.stop()]);
    await db?.destroy();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    // Both shut down cleanly (exit 0), which also says neither crashed along the way.
    expect(codes).toEqual([0, 0]);
  });

  // Every sign-in attempt of these tests comes from 127.0.0.1: each test starts with that address's counter clear.
  beforeEach(async () => {
    await db("login_failures").where({ scope: "ip" }).delete();
  });

  it("are two processes on two ports", () => {
    expect(a.port).not.toBe(b.port);
    expect(a.child.pid).not.toBe(b.child.pid);
  });

  it("a session started on A works on B, a form from A is accepted by B, and signing out on B ends it on A", async () => {
    const user = await buildUser(db, { username: "ada", fullName: "Ada Lovelace" });
    const browser = new Browser();
    await browser.signIn(a.url, user.username, user.password);

    const onB = await browser.get(b.url, "/profile");
    expect(onB.status).toBe(200);
    expect(pageText(onB.text)).toContain("Ada Lovelace");
    expect(onB.text).toContain("Sign out");
    const signedInCookies = browser.snapshot();

    // The token in the form comes from a page A rendered; the sign-out is sent to B.
    await browser.refreshToken(a.url, "/profile");
    const signOut = await browser.post(b.url, "/logout");
    expect(signOut.status).toBe(303);
    expect(signOut.location).toBe("/login");

    const afterOnA = await browser.get(a.url, "/profile");
    expect(afterOnA.status).toBe(303);
    expect(afterOnA.location).toMatch(/^\/login/);

    // The old cookie, replayed, opens nothing on either instance.
    browser.restore(signedInCookies);
    for (const base of [a.url, b.url]) {
      const replay = await browser.get(base, "/profile");
      expect(replay.status).toBe(303);
      expect(replay.location).toMatch(/^\/login/);
    }
  });

  it("counts failed sign-ins per account across instances: 3 on A and 2 on B start the wait, and the right password is refused on both", async () => {
    const user = await buildUser(db, { username: "grace" });
    const browser = new Browser();
    // Five failures in all: the per-account wait starts at the fifth (docs/domain.md, "Sessions and throttling"), which neither instance alone reached.
    for (const base of [a.url, a.url, a.url, b.url, b.url]) {
      const res = await browser.attemptSignIn(base, user.username, "not the password");
      expect(res.status).toBe(401);
      expect(decodeEntities(res.text)).toContain(SIGN_IN_FAILED);
    }
    for (const base of [a.url, b.url]) {
      const res = await browser.attemptSignIn(base, user.username, user.password);
      expect(res.status).toBe(401);
      expect(decodeEntities(res.text)).toContain(SIGN_IN_FAILED);
    }
    // An administrator, on either instance, sees the account waiting.
    const chief = new Browser();
    await chief.signIn(b.url, admin.username, admin.password);
    const page = await chief.get(a.url, `/admin/users/${user.id}`);
    expect(page.status).toBe(200);
    expect(pageText(page.text)).toMatch(/sign-in locked until/);
  });

  it("counts failed sign-ins per address across instances: of 36 at once, split over A and B, exactly 30 are checked and 6 refused", async () => {
    const browser = new Browser();
    await browser.refreshToken(a.url, "/login");
    // 36 different (unknown) accounts, so that only the address's limit (30 per 15 minutes) can refuse them.
    const attempts = Array.from({ length: 36 }, (_, i) =>
      browser.post(i % 2 === 0 ? a.url : b.url, "/login", { username: `nobody${i}`, password: "guess" }),
    );
    const answers = await Promise.all(attempts);
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(30);
    expect(statuses.filter((s) => s === 429)).toHaveLength(6);
    for (const refused of answers.filter((r) => r.status === 429)) {
      expect(decodeEntities(refused.text)).toContain("Too many failed sign-ins from your network.");
    }
    // And the next one, on either instance, is refused too.
    for (const base of [a.url, b.url]) expect((await browser.post(base, "/login", { username: "nobody", password: "guess" })).status).toBe(429);
  });

  it("a lock set through A refuses the right password on B, and an unlock on B lets the account in on A", async () => {
    const user = await buildUser(db, { username: "linus" });
    // 19 failures already, with no wait running: the next failure is the 20th, which locks the account for an hour.
    await presetFailures(db, "account", user.username, 19);
    const browser = new Browser();
    const locking = await browser.attemptSignIn(a.url, user.username, "still not it");
    expect(locking.status).toBe(401);

    const onB = await browser.attemptSignIn(b.url, user.username, user.password);
    expect(onB.status).toBe(401);
    expect(decodeEntities(onB.text)).toContain(SIGN_IN_FAILED);

    const chief = new Browser();
    await chief.signIn(b.url, admin.username, admin.password);
    const page = await chief.get(b.url, `/admin/users/${user.id}`);
    expect(pageText(page.text)).toMatch(/sign-in locked until/);
    const version = /name="version" value="(\d+)"/.exec(page.text)?.[1] ?? "";
    const unlock = await chief.post(b.url, `/admin/users/${user.id}/unlock`, { version });
    expect(unlock.status).toBe(303);

    const onA = await browser.attemptSignIn(a.url, user.username, user.password);
    expect(onA.status).toBe(303);
    expect(onA.location).toBe("/");
  });

  it("sends each queued message exactly once while both instances drain the same outbox", async () => {
    const mailServer = await TestMailServer.start();
    try {
      // 30 messages wait while email is not configured (neither instance's outbox timer claims anything yet).
      const count = 30;
      for (let i = 1; i <= count; i += 1) {
        await outbox.enqueue(db, { kind: "test", to: `reader${i}@example.test`, subject: `Message ${i}`, text: `Text ${i}`, html: `<p>HTML ${i}</p>` });
      }
      const sentBefore = [a, b].map((p) => logLines(p, "outbox: message sent").length);

      // An administrator saves Alert Services on A, then presses "Send queued mail now" on A and on B at once, while
      // both instances' outbox timers run too.
      const chief = new Browser();
      await chief.signIn(a.url, admin.username, admin.password);
      const form = await chief.get(a.url, "/admin/settings/smtp");
      const version = /name="version" value="(\d+)"/.exec(form.text)?.[1] ?? "0";
      const saved = await chief.post(a.url, "/admin/settings/smtp", {
        host: "127.0.0.1",
        port: String(mailServer.port),
        security: "none",
        authUser: "",
        authPass: "",
        from: "Gatehouse <gatehouse@example.test>",
        version,
      });
      expect(saved.status).toBe(303);
      const pressed = await Promise.all([chief.post(a.url, "/admin/settings/smtp/outbox/send"), chief.post(b.url, "/admin/settings/smtp/outbox/send")]);
      expect(pressed.map((r) => r.status)).toEqual([303, 303]);

      await mailServer.waitFor(() => mailServer.messages.length >= count, 60_000);
      const settled = async () => {
        const rows = await db("outbox").whereIn("status", ["queued", "sending"]).count<{ count: string }[]>("* as count");
        return Number(rows[0]?.count) === 0;
      };
      const deadline = Date.now() + 30_000;
      while (!(await settled())) {
        if (Date.now() > deadline) throw new Error("outbox messages still queued or being sent after 30 s");
        await new Promise((r) => setTimeout(r, 100));
      }
      // Pressing the button again on each instance finds nothing left to send.
      for (const base of [a.url, b.url]) {
        await chief.post(base, "/admin/settings/smtp/outbox/send");
        const page = await chief.get(base, "/admin/settings/smtp");
        expect(pageText(page.text)).toContain("No messages were waiting to be sent.");
      }

      expect(mailServer.messages).toHaveLength(count);
      for (let i = 1; i <= count; i += 1) {
        const received = mailServer.to(`reader${i}@example.test`);
        expect(received).toHaveLength(1);
        expect(received[0]?.subject).toBe(`Message ${i}`);
      }
      const rows = await db("outbox").select("status", "attempts");
      expect(rows).toHaveLength(count);
      for (const row of rows) expect(row).toEqual({ status: "sent", attempts: 1 });
      // What the two instances logged adds up to the same: each message was sent by one of them.
      const sentBy = [a, b].map((p, i) => logLines(p, "outbox: message sent").length - (sentBefore[i] ?? 0));
      expect((sentBy[0] ?? 0) + (sentBy[1] ?? 0)).toBe(count);
      console.info(`outbox: instance A sent ${sentBy[0]}, instance B sent ${sentBy[1]}`);
    } finally {
      await mailServer.stop();
    }
  });
});
