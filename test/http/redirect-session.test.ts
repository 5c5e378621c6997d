import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { createTestApp } from "../helpers/app.ts";
import { signedInAgent } from "../helpers/agent.ts";
import { useTestDb, usingPostgres } from "../helpers/db.ts";
import { buildAdmin } from "../helpers/factories.ts";

let db: Db;
useTestDb(
  (created) => {
    db = created;
  },
  { reset: "once" },
);

/**
 * A redirect must not reach the browser before the session it depends on is stored; otherwise the next page is
 * loaded with the old session and the flash message ("Team x created.") is lost. The session write is held back
 * with a lock, and the redirect must arrive only after the lock is released.
 */
describe.skipIf(!usingPostgres)("redirects wait for the session to be stored (Postgres only)", () => {
  it("sends the 303 only after the session with its flash message is written", async () => {
    const admin = await buildAdmin(db, { username: "root" });
    const app = createTestApp(db);
    const agent = await signedInAgent(app, admin);
    const cookie = (await agent.get("/profile")).request.cookies as unknown as string;
    const token = /name="_csrf" value="([^"]+)"/.exec((await agent.get("/admin/teams/new")).text)![1]!;

    const server = http.createServer(app).listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    const { port } = server.address() as AddressInfo;
    // The write that carries the flash message waits on a lock the test holds; the read of the session at the start
    // of the request (itself an UPDATE: it moves the idle clock) does not carry one and goes through.
    await db.raw(`CREATE FUNCTION hold_flash_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NEW; END; $$`);
    await db.raw(`CREATE TRIGGER hold_flash_write BEFORE UPDATE OR INSERT ON sessions FOR EACH ROW
      WHEN (NEW.sess -> 'flash' IS NOT NULL) EXECUTE FUNCTION hold_flash_write()`);
    const blocker = await db.transaction();
    let releasedAt = 0;
    let respondedAt = 0;
    try {
      await blocker.raw("SELECT pg_advisory_xact_lock(4242)");
      const body = new URLSearchParams({ _csrf: token, name: "storage", description: "" }).toString();
      const response = new Promise<number>((resolve, reject) => {
        const req = http.request(
          { port, host: "127.0.0.1", method: "POST", path: "/admin/teams", headers: { Cookie: cookie, "Content-Type": "application/x-www-form-urlencoded", "Content-Length": Buffer.byteLength(body) } },
          (res) => {
            respondedAt = performance.now();
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end(body);
      });
      // Wait until the session write is really waiting on the lock (an UPDATE: the session was read from the store).
      for (;;) {
        const waiting = await db.raw(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND (query LIKE 'INSERT INTO sessions%' OR query LIKE 'UPDATE sessions%')",
        );
        if (Number(waiting.rows[0].n) > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 300));
      releasedAt = performance.now();
      await blocker.rollback();
      expect(await response).toBe(303);
    } finally {
      if (!blocker.isCompleted()) await blocker.rollback();
      server.close();
      await db.raw("DROP TRIGGER hold_flash_write ON sessions");
      await db.raw("DROP FUNCTION hold_flash_write()");
    }
    expect(respondedAt).toBeGreaterThan(releasedAt);
    const next = await agent.get("/admin/teams");
    expect(next.text).toContain("Team storage created.");
  });
});
