import supertest from "supertest";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { findUserById } from "../../src/repositories/users/index.ts";
import { createTestApp } from "../helpers/app.ts";
import { csrfTokenFrom, signedInAgent, TestAgent } from "../helpers/agent.ts";
import { useTestDb } from "../helpers/db.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import {
  agentSessionCookie,
  attemptSignIn,
  auditEvents,
  sessionCookieFrom,
  sessionCountOf,
  sessionExists,
  setSessionClocks,
  sidOf,
  signedSessionCookie,
} from "../helpers/sign-in.ts";

let db: Db;
useTestDb((created) => {
  db = created;
});

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A request carrying exactly this cookie, as a different browser (or an attacker) holding it would send. */
function withCookie(app: TestAgent["app"], cookie: string, url: string) {
  return supertest(app).get(url).set("Accept", "text/html").set("Cookie", cookie);
}

describe("S1: session fixation", () => {
  it("S1: the session cookie and id change at sign-in; the pre-sign-in id is gone from the store", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const agent = new TestAgent(createTestApp(db));
    await agent.refreshToken("/login");
    const before = agentSessionCookie(agent);
    expect(await sessionExists(db, sidOf(before))).toBe(true);

    const res = await agent.post("/login", { username: "alice", password: alice.password });
    expect(res.status).toBe(303);
    const after = sessionCookieFrom(res);
    expect(after).toBeDefined();
    expect(sidOf(after!)).not.toBe(sidOf(before));
    expect(await sessionExists(db, sidOf(before))).toBe(false);
    const row = await db("sessions").where({ sid: sidOf(after!) }).first("user_id");
    expect(Number(row?.user_id)).toBe(alice.id);
  });

  it("S1: a cookie planted by an attacker before the victim signs in gives the attacker nothing", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const app = createTestApp(db);
    const attacker = new TestAgent(app);
    const token = await attacker.refreshToken("/login");
    const planted = agentSessionCookie(attacker);

    // The victim's browser carries the planted cookie and signs in with it.
    const victim = await supertest(app)
      .post("/login")
      .set("Cookie", planted)
      .type("form")
      .send({ username: "alice", password: alice.password, _csrf: token });
    expect(victim.status).toBe(303);

    const res = await attacker.get("/profile");
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/login/);
  });
});

describe("S4: tampered or unknown session cookies", () => {
  it("S4: a tampered signature is treated as anonymous: redirect to /login, no error page", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const app = createTestApp(db);
    const agent = await signedInAgent(app, alice);
    const cookie = agentSessionCookie(agent);
    const last = cookie.at(-1);
    const tampered = `${cookie.slice(0, -1)}${last === "A" ? "B" : "A"}`;

    const res = await withCookie(app, tampered, "/profile");
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/login?returnTo=%2Fprofile");
    // The genuine cookie still works: tampering did not end the real session either.
    expect((await withCookie(app, cookie, "/profile")).status).toBe(200);
  });

  it("S4: a correctly signed but unknown session id is treated as anonymous", async () => {
    await buildUser(db, { username: "alice" });
    const app = createTestApp(db);
    for (const url of ["/", "/profile", "/admin/users"]) {
      const res = await withCookie(app, signedSessionCookie("no-such-session-id-0123456789abcdef"), url);
      expect(res.status, url).toBe(303);
      expect(res.headers.location).toMatch(/^\/login/);
    }
  });

  it("S4: malformed cookies (unsigned, bad encoding, empty) are anonymous too, never a 500", async () => {
    await buildUser(db, { username: "alice" });
    const app = createTestApp(db);
    for (const cookie of ["gatehouse.sid=plain-unsigned-value", "gatehouse.sid=%E0%A4%A", "gatehouse.sid=", "gatehouse.sid=s%3A.", "gatehouse.sid=s%3Aabc"]) {
      const res = await withCookie(app, cookie, "/profile");
      expect(res.status, cookie).toBe(303);
      expect(res.headers.location).toBe("/login?returnTo=%2Fprofile");
      const login = await withCookie(app, cookie, "/login");
      expect(login.status, cookie).toBe(200);
    }
  });

  it("S4: a JSON client with an unknown session gets a 401, not an error page", async () => {
    await buildUser(db, { username: "alice" });
    const res = await supertest(createTestApp(db))
      .get("/profile")
      .set("Accept", "application/json")
      .set("Cookie", signedSessionCookie("no-such-session"));
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("sign_in_required");
  });
});

describe("S5: timeouts", () => {
  async function signedInSid(app: TestAgent["app"]) {
    const alice = await buildUser(db, { username: "alice" });
    const agent = await signedInAgent(app, alice);
    return { agent, alice, sid: sidOf(agentSessionCookie(agent)) };
  }

  it("S5: idle for more than 30 minutes: redirect to /login, which says the session expired", async () => {
    const app = createTestApp(db);
    const { agent, sid } = await signedInSid(app);
    await setSessionClocks(db, sid, { lastSeenAt: Date.now() - 31 * MINUTE });

    const res = await agent.get("/profile");
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/login\?/);
    expect(await sessionExists(db, sid)).toBe(false);
    const page = await agent.get(String(res.headers.location));
    expect(page.status).toBe(200);
    expect(page.text).toContain("Your session expired");
    // And the returnTo survives, so signing in again leads back.
    expect(page.text).toContain('name="returnTo" value="/profile"');
  });

  it("S5: idle for 29 minutes is fine, and each request restarts the idle clock", async () => {
    const app = createTestApp(db);
    const { agent, sid } = await signedInSid(app);
    await setSessionClocks(db, sid, { lastSeenAt: Date.now() - 29 * MINUTE });
    expect((await agent.get("/profile")).status).toBe(200);
    const row = await db("sessions").where({ sid }).first("sess");
    const sess = typeof row.sess === "string" ? JSON.parse(row.sess) : row.sess;
    expect(Date.now() - sess.lastSeenAt).toBeLessThan(5 * MINUTE);
  });

  describe("S5: idle expiry is exact, whatever the last request wrote", () => {
    // The app's clock stands still (only Date is faked; timers and sockets run as usual), so no time passes between
    // moving the stored clock and the request that judges it: the boundary can be tested to the second.
    const T = Date.now();
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ["Date"], now: T });
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    async function storedLastSeen(sid: string): Promise<number> {
      const row = await db("sessions").where({ sid }).first("sess");
      const sess = typeof row.sess === "string" ? JSON.parse(row.sess) : row.sess;
      return Number(sess.lastSeenAt);
    }

    it("S5: a request half a minute after the last recorded one counts from its own time: idle 30 minutes less a second later is still signed in", async () => {
      const app = createTestApp(db);
      const { agent, sid } = await signedInSid(app);
      await setSessionClocks(db, sid, { lastSeenAt: T - 30_000 });
      expect((await agent.get("/profile")).status).toBe(200);
      expect(await storedLastSeen(sid)).toBe(T);

      await setSessionClocks(db, sid, { lastSeenAt: (await storedLastSeen(sid)) - (30 * MINUTE - 1000) });
      expect((await agent.get("/profile")).status).toBe(200);
      expect(await sessionExists(db, sid)).toBe(true);
    });

    it("S5: idle 30 minutes and a second: signed out; 30 minutes less a second: still signed in", async () => {
      const app = createTestApp(db);
      const { agent, sid } = await signedInSid(app);
      await setSessionClocks(db, sid, { lastSeenAt: T - (30 * MINUTE - 1000) });
      expect((await agent.get("/profile")).status).toBe(200);

      await setSessionClocks(db, sid, { lastSeenAt: T - (30 * MINUTE + 1000) });
      const res = await agent.get("/profile");
      expect(res.status).toBe(303);
      expect(res.headers.location).toMatch(/^\/login\?/);
      expect(await sessionExists(db, sid)).toBe(false);
    });
  });

  it("S5: more than 12 hours since sign-in ends the session even when it was never idle", async () => {
    const app = createTestApp(db);
    const { agent, sid } = await signedInSid(app);
    await setSessionClocks(db, sid, { authAt: Date.now() - 12 * HOUR - MINUTE, lastSeenAt: Date.now() - MINUTE });

    const res = await agent.get("/");
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/login\?/);
    expect(await sessionExists(db, sid)).toBe(false);
    const page = await agent.get(String(res.headers.location));
    expect(page.text).toContain("Your session expired");
  });

  it("S5: an expired session that arrives at /login directly shows the notice, not an error", async () => {
    const app = createTestApp(db);
    const { agent, sid } = await signedInSid(app);
    await setSessionClocks(db, sid, { lastSeenAt: Date.now() - 2 * HOUR });
    const page = await agent.get("/login");
    expect(page.status).toBe(200);
    expect(page.text).toContain("Your session expired");
    // The page's form works: the fresh session carries a CSRF token.
    csrfTokenFrom(page.text);
  });

  it("S5: a form submitted after the session expired leads to sign-in, not to an error, and changes nothing", async () => {
    const app = createTestApp(db);
    const { agent, alice, sid } = await signedInSid(app);
    await setSessionClocks(db, sid, { lastSeenAt: Date.now() - 31 * MINUTE });

    const res = await agent.post("/profile", { fullName: "Changed After Expiry", title: "", phone: "" });
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/login\?/);
    expect((await findUserById(db, alice.id))?.fullName).toBe(alice.fullName);
    const page = await agent.get(String(res.headers.location));
    expect(page.text).toContain("Your session expired");
  });
});

describe("S6: sign-out", () => {
  it("S6: POST /logout destroys the session on the server; the old cookie no longer works; the event is audited", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const app = createTestApp(db);
    const agent = await signedInAgent(app, alice);
    const cookie = agentSessionCookie(agent);
    const sid = sidOf(cookie);
    expect(await sessionExists(db, sid)).toBe(true);

    const res = await agent.post("/logout");
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/login");
    expect(await sessionExists(db, sid)).toBe(false);
    expect(await sessionCountOf(db, alice.id)).toBe(0);

    // Replaying the old cookie (the Back button, or a copy of it) finds no session.
    const replay = await withCookie(app, cookie, "/profile");
    expect(replay.status).toBe(303);
    expect(replay.headers.location).toMatch(/^\/login/);

    const [event] = await auditEvents(db, "sign_out");
    expect(event?.actorId).toBe(alice.id);
    expect(event?.targetId).toBe(String(alice.id));
  });

  it("S6: signed-in pages carry Cache-Control: no-store", async () => {
    const admin = await buildAdmin(db, { username: "admin" });
    const agent = await signedInAgent(createTestApp(db), admin);
    for (const url of ["/", "/profile", "/admin/users", `/admin/users/${admin.id}`]) {
      const res = await agent.get(url);
      expect(res.status, url).toBe(200);
      expect(res.headers["cache-control"], url).toBe("no-store");
    }
  });

  it("sign-out is POST only: GET /logout is a 405 and does not sign out", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const agent = await signedInAgent(createTestApp(db), alice);
    const res = await agent.get("/logout");
    expect(res.status).toBe(405);
    expect((await agent.get("/profile")).status).toBe(200);
    expect(await auditEvents(db, "sign_out")).toHaveLength(0);
  });

  it("sign-out without a session just goes to /login and writes nothing", async () => {
    await buildUser(db, { username: "alice" });
    const agent = new TestAgent(createTestApp(db));
    const res = await agent.post("/logout");
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/login");
    expect(await auditEvents(db, "sign_out")).toHaveLength(0);
  });
});

describe("sessions end with the account's rights", () => {
  it("S7: disabling a user ends their sessions at their next request", async () => {
    const admin = await buildAdmin(db, { username: "admin" });
    const alice = await buildUser(db, { username: "alice" });
    const app = createTestApp(db);
    const user = await signedInAgent(app, alice);
    expect((await user.get("/profile")).status).toBe(200);

    const adminAgent = await signedInAgent(app, admin);
    await adminAgent.refreshToken(`/admin/users/${alice.id}`);
    const current = await findUserById(db, alice.id);
    const res = await adminAgent.post(`/admin/users/${alice.id}/disable`, { version: String(current?.version) });
    expect(res.status).toBe(303);
    expect((await findUserById(db, alice.id))?.disabled).toBe(true);

    const next = await user.get("/profile");
    expect(next.status).toBe(303);
    expect(next.headers.location).toMatch(/^\/login/);
    expect(await sessionCountOf(db, alice.id)).toBe(0);
  });

  it("S7: a disabled flag set behind the app's back also ends the session at the next request", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const agent = await signedInAgent(createTestApp(db), alice);
    await db("users").where({ id: alice.id }).update({ disabled: true });
    const res = await agent.get("/profile");
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/login/);
  });

  it("S7: a password change on /profile/password ends the account's other sessions and keeps the current one", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const bob = await buildUser(db, { username: "bob" });
    const app = createTestApp(db);
    const here = await signedInAgent(app, alice);
    const elsewhere = await signedInAgent(app, alice);
    const bystander = await signedInAgent(app, bob);
    expect(await sessionCountOf(db, alice.id)).toBe(2);
    const oldSid = sidOf(agentSessionCookie(here));

    const newPassword = "a brand new passphrase 2027";
    const res = await here.post("/profile/password", { currentPassword: alice.password, newPassword, confirmPassword: newPassword });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/profile");

    const kept = await here.get("/profile");
    expect(kept.status).toBe(200);
    expect(kept.text).toContain("Password changed");
    // Kept, under a new id.
    expect(sidOf(agentSessionCookie(here))).not.toBe(oldSid);
    expect(await sessionExists(db, oldSid)).toBe(false);

    const ended = await elsewhere.get("/profile");
    expect(ended.status).toBe(303);
    expect(ended.headers.location).toMatch(/^\/login/);
    expect(await sessionCountOf(db, alice.id)).toBe(1);
    expect((await bystander.get("/profile")).status).toBe(200);

    const [event] = await auditEvents(db, "password.changed");
    expect(JSON.stringify(event?.details)).not.toContain(newPassword);
    expect((await attemptSignIn(new TestAgent(app), "alice", alice.password)).status).toBe(401);
    expect((await attemptSignIn(new TestAgent(app), "alice", newPassword)).status).toBe(303);
  });

  it("S7: a wrong current password changes nothing and ends no session", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const app = createTestApp(db);
    const here = await signedInAgent(app, alice);
    const elsewhere = await signedInAgent(app, alice);
    const newPassword = "a brand new passphrase 2027";
    const res = await here.post("/profile/password", { currentPassword: "wrong current password", newPassword, confirmPassword: newPassword });
    expect(res.status).toBe(422);
    expect((await elsewhere.get("/profile")).status).toBe(200);
    expect(await sessionCountOf(db, alice.id)).toBe(2);
  });
});

describe("health endpoints", () => {
  it("/healthz and /readyz answer JSON, even to a browser and before setup", async () => {
    const app = createTestApp(db);
    for (const accept of ["application/json", "text/html"]) {
      const health = await supertest(app).get("/healthz").set("Accept", accept);
      expect(health.status).toBe(200);
      expect(health.headers["content-type"]).toMatch(/^application\/json/);
      expect(health.body).toEqual({ status: "ok" });
      const ready = await supertest(app).get("/readyz").set("Accept", accept);
      expect(ready.status).toBe(200);
      expect(ready.headers["content-type"]).toMatch(/^application\/json/);
      expect(ready.body).toEqual({ status: "ready", database: "ok" });
    }
  });
});
