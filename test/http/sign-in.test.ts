import argon2 from "argon2";
import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { findUserByUsername } from "../../src/repositories/users/index.ts";
import { SIGN_IN_FAILED } from "../../src/routes/auth/index.ts";
import { IP_POLICY } from "../../src/services/sign-in.ts";
import { createTestApp } from "../helpers/app.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { useTestDb } from "../helpers/db.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import {
  attemptSignIn,
  auditCount,
  auditEvents,
  blockSeconds,
  endBlock,
  failureRow,
  failureRows,
  normalisedLoginPage,
  presetFailures,
} from "../helpers/sign-in.ts";

let db: Db;
useTestDb((created) => {
  db = created;
});

const WRONG = "not the password at all 99";

/** Posts a raw body (form-encoded or JSON) with the agent's CSRF token, as a hand-made request would. */
async function rawLoginPost(agent: TestAgent, body: string | Record<string, unknown>, type: "form" | "json") {
  const token = await agent.refreshToken("/login");
  const request = agent.http.post("/login").set("Accept", "text/html").type(type);
  return typeof body === "string" ? request.send(`${body}&_csrf=${encodeURIComponent(token)}`) : request.send({ ...body, _csrf: token });
}

/** Nothing reached the password check: no failure counted anywhere, no sign-in event. */
async function expectPasswordNeverChecked() {
  expect(await failureRows(db)).toEqual([]);
  expect(await auditCount(db, "sign_in.")).toBe(0);
}

describe("L2: username or password in a shape no form produces", () => {
  const cases: [string, string | Record<string, unknown>, "form" | "json"][] = [
    ["username[]=a&username[]=b (repeated field)", "username=admin&username=root&password=whatever%20password", "form"],
    ["username[$ne]=x (operator-shaped key)", "username%5B%24ne%5D=x&password=whatever%20password", "form"],
    ["JSON object username", { username: { $ne: "x" }, password: "whatever password" }, "json"],
    ["JSON array username", { username: ["admin"], password: "whatever password" }, "json"],
    ["JSON number username", { username: 42, password: "whatever password" }, "json"],
    ["JSON object password", { username: "admin", password: { $gt: "" } }, "json"],
  ];

  for (const [label, body, type] of cases) {
    it(`L2: ${label} is a 400 from validation, before passport, never a TypeError`, async () => {
      await buildAdmin(db, { username: "admin" });
      const agent = new TestAgent(createTestApp(db));
      const res = await rawLoginPost(agent, body, type);
      expect(res.status).toBe(400);
      expect(res.text).not.toMatch(/TypeError|at .*\.ts:\d+/);
      expect(res.text).toContain("Sign in");
      await expectPasswordNeverChecked();
    });
  }

  it("L2: a JSON client gets a JSON 400 naming the field", async () => {
    await buildAdmin(db, { username: "admin" });
    const agent = new TestAgent(createTestApp(db));
    const token = await agent.refreshToken("/login");
    const res = await agent.http
      .post("/login")
      .set("Accept", "application/json")
      .send({ username: { $ne: "" }, password: "whatever password", _csrf: token });
    expect(res.status).toBe(400);
    expect(res.body.error.fields.username).toBeTruthy();
    await expectPasswordNeverChecked();
  });
});

describe("L3: spellings of one username", () => {
  it("L3: 'Admin', ' admin ' and fullwidth 'ａｄｍｉｎ' all sign in to the one account 'admin'", async () => {
    const admin = await buildAdmin(db, { username: "admin" });
    for (const spelling of ["Admin", " admin ", "ａｄｍｉｎ", "ADMIN"]) {
      const agent = new TestAgent(createTestApp(db));
      const res = await attemptSignIn(agent, spelling, admin.password);
      expect(res.status, spelling).toBe(303);
    }
    const events = await auditEvents(db, "sign_in.succeeded");
    expect(events).toHaveLength(4);
    expect(new Set(events.map((e) => e.actorId))).toEqual(new Set([admin.id]));
  });

  it("L3: 'admin\\u200b' (an invisible character) is rejected by validation and never checked", async () => {
    const admin = await buildAdmin(db, { username: "admin" });
    const agent = new TestAgent(createTestApp(db));
    for (const spelling of ["admin\u200b", "ad\u00admin", "admin\u202e", "\u2060admin"]) {
      const res = await attemptSignIn(agent, spelling, admin.password);
      expect(res.status, JSON.stringify(spelling)).toBe(422);
      expect(res.text).toContain("Username cannot contain control, invisible or direction-changing characters.");
    }
    await expectPasswordNeverChecked();
  });

  it("L3: failures under different spellings feed the same lockout counter", async () => {
    const admin = await buildAdmin(db, { username: "admin" });
    const agent = new TestAgent(createTestApp(db));
    for (const spelling of ["Admin", " admin ", "ａｄｍｉｎ", "ADMIN", "admin"]) {
      expect((await attemptSignIn(agent, spelling, WRONG)).status).toBe(401);
    }
    const accountRows = (await failureRows(db)).filter((r) => r.scope === "account");
    expect(accountRows).toEqual([{ scope: "account", key: "admin", failures: 5 }]);
    // The fifth failure started a wait, whatever spelling comes next.
    expect((await attemptSignIn(agent, "Ａｄｍｉｎ", admin.password)).status).toBe(401);
    expect((await auditEvents(db, "sign_in.failed"))[0]?.details.reason).toBe("locked");
  });
});

describe("L4: oversized passwords", () => {
  it("L4: a 1 MB password is a 413 from the body limit and argon2 never runs", async () => {
    await buildAdmin(db, { username: "admin" });
    const agent = new TestAgent(createTestApp(db));
    const res = await attemptSignIn(agent, "admin", "x".repeat(1024 * 1024));
    expect(res.status).toBe(413);
    expect(res.text).toContain("too large");
    await expectPasswordNeverChecked();
  });

  it("L4: a 1 MB JSON password is a 413 too", async () => {
    await buildAdmin(db, { username: "admin" });
    const agent = new TestAgent(createTestApp(db));
    const res = await rawLoginPost(agent, { username: "admin", password: "x".repeat(1024 * 1024) }, "json");
    expect(res.status).toBe(413);
    await expectPasswordNeverChecked();
  });

  it("L4: 129 code points is refused by validation (422) and argon2 never runs", async () => {
    await buildAdmin(db, { username: "admin" });
    const agent = new TestAgent(createTestApp(db));
    for (const password of ["a".repeat(129), "🙂".repeat(129), "a".repeat(5000)]) {
      const res = await attemptSignIn(agent, "admin", password);
      expect(res.status).toBe(422);
      expect(res.text).toMatch(/Password must be at most 128 characters/);
      expect(res.text).not.toContain(password);
    }
    await expectPasswordNeverChecked();
  });

  it("L4: the limit counts code points: 128 emoji (256 UTF-16 units) is checked as a normal wrong password", async () => {
    await buildAdmin(db, { username: "admin" });
    const agent = new TestAgent(createTestApp(db));
    const res = await attemptSignIn(agent, "admin", "🙂".repeat(128));
    expect(res.status).toBe(401);
    expect(await auditCount(db, "sign_in.failed")).toBe(1);
  });
});

describe("L6: per-address limit", () => {
  it("L6: 30 failed attempts from one address in 15 minutes give 429 with Retry-After; successful sign-ins do not count", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const app = createTestApp(db);
    const agent = new TestAgent(app);
    for (let i = 0; i < IP_POLICY.maxFailures; i++) {
      // Credential stuffing: a different account every time, so no account throttle gets in the way.
      const res = await attemptSignIn(agent, `victim${i}`, WRONG);
      expect(res.status, `attempt ${i + 1}`).toBe(401);
      // Alice signs in now and then from the same office address; that never counts.
      if (i % 10 === 0) expect((await attemptSignIn(new TestAgent(app), "alice", alice.password)).status).toBe(303);
    }
    const ipRow = (await failureRows(db)).find((r) => r.scope === "ip");
    expect(ipRow?.failures).toBe(IP_POLICY.maxFailures);

    const blocked = await attemptSignIn(agent, "victim-next", WRONG);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(0);
    expect(Number(blocked.headers["retry-after"])).toBeLessThanOrEqual(IP_POLICY.windowSeconds);
    expect(blocked.text).toContain("Too many failed sign-ins");
    // Answered before any password check: the counter did not move and no event was written for it.
    expect((await failureRows(db)).find((r) => r.scope === "ip")?.failures).toBe(IP_POLICY.maxFailures);
    expect(await auditCount(db, "sign_in.failed")).toBe(IP_POLICY.maxFailures);
  });

  it("L6: once blocked, the answer is the same for every account, known or not, right password or not", async () => {
    const alice = await buildUser(db, { username: "alice" });
    await presetFailures(db, "ip", "127.0.0.1", IP_POLICY.maxFailures);
    const agent = new TestAgent(createTestApp(db));
    const pages: string[] = [];
    for (const [username, password] of [
      ["nobody", WRONG],
      ["alice", WRONG],
      ["alice", alice.password],
    ]) {
      const res = await attemptSignIn(agent, username!, password!);
      expect(res.status).toBe(429);
      expect(res.headers["retry-after"]).toBeDefined();
      pages.push(normalisedLoginPage(res.text));
    }
    expect(pages[1]).toBe(pages[0]);
    expect(pages[2]).toBe(pages[0]);
    expect(await auditCount(db, "sign_in.")).toBe(0);
  });

  it("L6: the limit is per address; another address still signs in", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const app = createTestApp(db, { TRUST_PROXY: "1" });
    await presetFailures(db, "ip", "203.0.113.7", IP_POLICY.maxFailures);
    const agent = new TestAgent(app);
    const token = await agent.refreshToken("/login");
    const blocked = await agent.http
      .post("/login")
      .set("X-Forwarded-For", "203.0.113.7")
      .type("form")
      .send({ username: "alice", password: alice.password, _csrf: token });
    expect(blocked.status).toBe(429);
    const other = await agent.http
      .post("/login")
      .set("X-Forwarded-For", "198.51.100.9")
      .type("form")
      .send({ username: "alice", password: alice.password, _csrf: token });
    expect(other.status).toBe(303);
  });

  it("L6: attempts against a locked account still count toward the address limit (no free argon2 work)", async () => {
    await buildUser(db, { username: "alice" });
    await presetFailures(db, "account", "alice", 20);
    await db("login_failures").where({ scope: "account", key: "alice" }).update({ blocked_until: db.raw("now() + interval '1 hour'") });
    const agent = new TestAgent(createTestApp(db));
    for (let i = 0; i < 3; i++) expect((await attemptSignIn(agent, "alice", WRONG)).status).toBe(401);
    const ipRow = (await failureRows(db)).find((r) => r.scope === "ip");
    expect(ipRow?.failures).toBe(3);
    // The owner's wait is not extended by them.
    expect((await failureRow(db, "account", "alice"))?.failures).toBe(20);
  });
});

describe("throttles hold under parallel attempts", () => {
  /** Fires the attempts at once from one browser session (one CSRF token), as a script would. */
  async function burst(agent: TestAgent, attempts: { username: string; password: string }[]) {
    const token = await agent.refreshToken("/login");
    return Promise.all(
      attempts.map((a) => agent.http.post("/login").set("Accept", "text/html").type("form").send({ ...a, _csrf: token })),
    );
  }

  it("L6: a burst of parallel attempts cannot get more than 30 failures per address past the limit", async () => {
    await buildUser(db, { username: "alice" });
    await presetFailures(db, "ip", "127.0.0.1", IP_POLICY.maxFailures - 3);
    const agent = new TestAgent(createTestApp(db));
    const responses = await burst(
      agent,
      Array.from({ length: 10 }, (_, i) => ({ username: `victim${i}`, password: WRONG })),
    );
    expect(responses.map((r) => r.status).sort()).toEqual([401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);
    // Only three attempts reached a password check.
    expect(await auditCount(db, "sign_in.failed")).toBe(3);
  });

  it("L5: a burst of parallel guesses at one account gets only the attempts before the wait through", async () => {
    await buildUser(db, { username: "alice" });
    await presetFailures(db, "account", "alice", 3);
    const agent = new TestAgent(createTestApp(db));
    const responses = await burst(
      agent,
      Array.from({ length: 8 }, (_, i) => ({ username: "alice", password: `${WRONG} ${i}` })),
    );
    expect(responses.every((r) => r.status === 401)).toBe(true);
    const reasons = (await auditEvents(db, "sign_in.failed")).map((e) => e.details.reason);
    // Failures 4 and 5 were checked; the fifth started the wait, and the other six were refused unchecked.
    expect(reasons.filter((r) => r === "wrong_password")).toHaveLength(2);
    expect(reasons.filter((r) => r === "locked")).toHaveLength(6);
    expect((await failureRow(db, "account", "alice"))?.failures).toBe(5);
    expect(await blockSeconds(db, "account", "alice")).toBe(60);
  });

  it("L6: successful sign-ins in a burst do not use up the address's allowance", async () => {
    const app = createTestApp(db);
    const people = await Promise.all(Array.from({ length: 6 }, (_, i) => buildUser(db, { username: `colleague${i}` })));
    // Separate browsers: each sign-in gives its browser a new session, which a shared one would lose.
    const agents = people.map(() => new TestAgent(app));
    const tokens = await Promise.all(agents.map((a) => a.refreshToken("/login")));
    const responses = await Promise.all(
      agents.map((a, i) =>
        a.http.post("/login").type("form").send({ username: people[i]!.username, password: people[i]!.password, _csrf: tokens[i] }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual([303, 303, 303, 303, 303, 303]);
    expect((await failureRows(db)).filter((r) => r.failures > 0)).toEqual([]);
  });
});

describe("L7: every refusal looks the same", () => {
  it("L7: unknown user, wrong password, disabled user and locked user get identical text and status; the reason is only in the audit trail", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const bob = await buildUser(db, { username: "bob" });
    await db("users").where({ id: bob.id }).update({ disabled: true });
    const carol = await buildUser(db, { username: "carol" });
    await presetFailures(db, "account", "carol", 20);
    await db("login_failures").where({ scope: "account", key: "carol" }).update({ blocked_until: db.raw("now() + interval '1 hour'") });

    const app = createTestApp(db);
    const attempts: [string, string, string][] = [
      ["unknown_user", "nobody", WRONG],
      ["wrong_password", "alice", WRONG],
      ["disabled", "bob", bob.password],
      ["locked", "carol", carol.password],
    ];
    const pages: string[] = [];
    for (const [reason, username, password] of attempts) {
      const res = await attemptSignIn(new TestAgent(app), username, password);
      expect(res.status, reason).toBe(401);
      expect(res.headers["content-type"]).toMatch(/^text\/html/);
      expect(res.headers["retry-after"]).toBeUndefined();
      expect(res.text).toContain(SIGN_IN_FAILED);
      pages.push(normalisedLoginPage(res.text));
    }
    for (const page of pages.slice(1)) expect(page).toBe(pages[0]);
    for (const word of ["disabled", "locked", "unknown", "does not exist", "Too many"]) expect(pages[0]).not.toContain(word);

    const events = (await auditEvents(db, "sign_in.failed")).reverse();
    expect(events.map((e) => e.details.reason)).toEqual(attempts.map(([reason]) => reason));
    expect(events.map((e) => e.actorId)).toEqual([null, alice.id, bob.id, carol.id]);
  });
});

describe("L8: credentials in the query string", () => {
  it("L8: GET /login?username=..&password=.. shows the form and never signs in", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const agent = new TestAgent(createTestApp(db));
    const res = await agent.get(`/login?username=alice&password=${encodeURIComponent(alice.password)}`);
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(alice.password);
    expect(res.text).not.toContain('value="alice"');
    expect((await agent.get("/profile")).status).toBe(303);
    expect(await auditCount(db, "sign_in.")).toBe(0);
  });

  it("L8: POST /login with the credentials only in the query string does not sign in", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const agent = new TestAgent(createTestApp(db));
    const res = await agent.post(`/login?username=alice&password=${encodeURIComponent(alice.password)}`);
    expect(res.status).toBe(422);
    expect((await agent.get("/profile")).status).toBe(303);
    expect(await auditCount(db, "sign_in.")).toBe(0);
  });
});

describe("L9: returnTo", () => {
  for (const target of ["//evil.com", "/\\evil.com", "https:evil.com", "javascript:alert(1)", "https://evil.com/", "/\t/evil.com", "\\\\evil.com"]) {
    it(`L9: returnTo=${JSON.stringify(target)} is ignored; sign-in goes to /`, async () => {
      const alice = await buildUser(db, { username: "alice" });
      const agent = new TestAgent(createTestApp(db));
      const page = await agent.get(`/login?returnTo=${encodeURIComponent(target)}`);
      expect(page.status).toBe(200);
      expect(page.text).not.toContain('name="returnTo"');
      const res = await attemptSignIn(agent, "alice", alice.password, { returnTo: target });
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe("/");
      // Already signed in, the login page redirects the same way.
      const again = await agent.get(`/login?returnTo=${encodeURIComponent(target)}`);
      expect(again.headers.location).toBe("/");
    });
  }

  it("L9: a local path is followed", async () => {
    const admin = await buildAdmin(db, { username: "admin" });
    const agent = new TestAgent(createTestApp(db));
    const res = await attemptSignIn(agent, "admin", admin.password, { returnTo: "/admin/users?page=1" });
    expect(res.headers.location).toBe("/admin/users?page=1");
  });
});

describe("per-account throttle (docs/domain.md, Sessions and throttling)", () => {
  it("L5: four failures cost nothing; the fifth starts a 1-minute wait that grows a minute per failure", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const agent = new TestAgent(createTestApp(db));
    for (let i = 1; i <= 4; i++) {
      expect((await attemptSignIn(agent, "alice", WRONG)).status).toBe(401);
      expect((await failureRow(db, "account", "alice"))?.blockedUntil).toBeNull();
    }
    expect((await attemptSignIn(agent, "alice", WRONG)).status).toBe(401);
    expect(await blockSeconds(db, "account", "alice")).toBe(60);

    await endBlock(db, "account", "alice");
    expect((await attemptSignIn(agent, "alice", WRONG)).status).toBe(401);
    expect(await blockSeconds(db, "account", "alice")).toBe(120);

    await endBlock(db, "account", "alice");
    expect((await attemptSignIn(agent, "alice", WRONG)).status).toBe(401);
    expect(await blockSeconds(db, "account", "alice")).toBe(180);
    expect((await failureRow(db, "account", "alice"))?.failures).toBe(7);
    expect(alice.id).toBeGreaterThan(0);
  });

  it("L5: the wait is capped at 15 minutes before the lock", async () => {
    await buildUser(db, { username: "alice" });
    await presetFailures(db, "account", "alice", 18);
    const agent = new TestAgent(createTestApp(db));
    expect((await attemptSignIn(agent, "alice", WRONG)).status).toBe(401);
    expect(await blockSeconds(db, "account", "alice")).toBe(15 * 60);
  });

  it("L5: while a wait runs, the correct password is refused with the same generic message, and attempts do not extend it", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const agent = new TestAgent(createTestApp(db));
    for (let i = 0; i < 5; i++) await attemptSignIn(agent, "alice", WRONG);
    const wrongPage = await attemptSignIn(agent, "alice", WRONG);
    const blocked = await attemptSignIn(agent, "alice", alice.password);
    expect(blocked.status).toBe(401);
    expect(blocked.text).toContain(SIGN_IN_FAILED);
    expect(normalisedLoginPage(blocked.text)).toBe(normalisedLoginPage(wrongPage.text));
    const row = await failureRow(db, "account", "alice");
    expect(row?.failures).toBe(5);
    expect(await blockSeconds(db, "account", "alice")).toBe(60);
    expect((await agent.get("/profile")).status).toBe(303);
  });

  it("L5: the account throttle follows the account across addresses", async () => {
    await buildUser(db, { username: "alice" });
    const agent = new TestAgent(createTestApp(db, { TRUST_PROXY: "1" }));
    for (let i = 0; i < 5; i++) {
      const token = await agent.refreshToken("/login");
      const res = await agent.http
        .post("/login")
        .set("X-Forwarded-For", `198.51.100.${i + 1}`)
        .type("form")
        .send({ username: "alice", password: WRONG, _csrf: token });
      expect(res.status).toBe(401);
    }
    expect((await failureRow(db, "account", "alice"))?.failures).toBe(5);
    expect(await blockSeconds(db, "account", "alice")).toBe(60);
  });

  it("L5: at 20 failures the account is locked for a while, never for good: after the lock the password works again", async () => {
    const alice = await buildUser(db, { username: "alice" });
    await presetFailures(db, "account", "alice", 19);
    const agent = new TestAgent(createTestApp(db));
    expect((await attemptSignIn(agent, "alice", WRONG)).status).toBe(401);
    expect((await failureRow(db, "account", "alice"))?.failures).toBe(20);
    expect(await blockSeconds(db, "account", "alice")).toBe(3600);

    const refused = await attemptSignIn(agent, "alice", alice.password);
    expect(refused.status).toBe(401);
    expect(refused.text).toContain(SIGN_IN_FAILED);

    await endBlock(db, "account", "alice");
    expect((await attemptSignIn(agent, "alice", alice.password)).status).toBe(303);
  });

  it("a successful sign-in resets the account counter", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const agent = new TestAgent(createTestApp(db));
    for (let i = 0; i < 4; i++) await attemptSignIn(agent, "alice", WRONG);
    expect((await failureRow(db, "account", "alice"))?.failures).toBe(4);
    expect((await attemptSignIn(agent, "alice", alice.password)).status).toBe(303);
    expect(await failureRow(db, "account", "alice")).toBeUndefined();
    // Counting starts over: four more failures still bring no wait.
    const other = new TestAgent(createTestApp(db));
    for (let i = 0; i < 4; i++) await attemptSignIn(other, "alice", WRONG);
    expect((await failureRow(db, "account", "alice"))?.blockedUntil).toBeNull();
  });

  it("an administrator can unlock a locked account (POST /admin/users/:id/unlock), audited", async () => {
    const admin = await buildAdmin(db, { username: "admin" });
    const alice = await buildUser(db, { username: "alice" });
    const app = createTestApp(db);
    await presetFailures(db, "account", "alice", 19);
    const user = new TestAgent(app);
    await attemptSignIn(user, "alice", WRONG);
    expect(await blockSeconds(db, "account", "alice")).toBe(3600);

    const adminAgent = await signedInAgent(app, admin);
    const page = await adminAgent.get(`/admin/users/${alice.id}`);
    expect(page.status).toBe(200);
    const current = await findUserByUsername(db, "alice");
    const res = await adminAgent.post(`/admin/users/${alice.id}/unlock`, { version: String(current?.version) });
    expect(res.status).toBe(303);
    expect(await failureRow(db, "account", "alice")).toBeUndefined();
    const [event] = await auditEvents(db, "user.unlocked");
    expect(event?.actorId).toBe(admin.id);
    expect(event?.targetId).toBe(String(alice.id));

    expect((await attemptSignIn(user, "alice", alice.password)).status).toBe(303);
  });

  it("a non-administrator cannot unlock", async () => {
    await buildAdmin(db, { username: "admin" });
    const alice = await buildUser(db, { username: "alice" });
    const mallory = await buildUser(db, { username: "mallory" });
    await presetFailures(db, "account", "alice", 20);
    const agent = await signedInAgent(createTestApp(db), mallory);
    const res = await agent.post(`/admin/users/${alice.id}/unlock`, { version: "1" });
    expect(res.status).toBe(403);
    expect((await failureRow(db, "account", "alice"))?.failures).toBe(20);
  });
});

describe("sign-in audit trail", () => {
  it("success and failure each write an event with the address; no password ever appears in it", async () => {
    const alice = await buildUser(db, { username: "alice", password: "Tr0ub4dor and 3 horses" });
    const agent = new TestAgent(createTestApp(db));
    await attemptSignIn(agent, "alice", "Tr0ub4dor and 3 horsez");
    await attemptSignIn(agent, "nobody", "Tr0ub4dor and 3 horsey");
    await attemptSignIn(agent, "alice", alice.password);

    const [succeeded] = await auditEvents(db, "sign_in.succeeded");
    expect(succeeded?.actorId).toBe(alice.id);
    expect(succeeded?.targetId).toBe(String(alice.id));
    expect(succeeded?.clientIp).toMatch(/127\.0\.0\.1/);
    expect(succeeded?.details).toEqual({ method: "password" });
    const failed = await auditEvents(db, "sign_in.failed");
    expect(failed).toHaveLength(2);
    expect(failed.map((e) => e.actorUsername).sort()).toEqual(["alice", "nobody"]);

    const dump = JSON.stringify(await db("audit_events").select("*"));
    for (const secret of ["Tr0ub4dor", "horses", "horsez", "horsey"]) expect(dump).not.toContain(secret);
  });

  it("rehashes on sign-in when the stored hash has other argon2 parameters", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const weak = await argon2.hash(alice.password, { type: argon2.argon2id, memoryCost: 8192, timeCost: 3, parallelism: 1 });
    await db("users").where({ id: alice.id }).update({ password_hash: weak });

    const agent = new TestAgent(createTestApp(db));
    expect((await attemptSignIn(agent, "alice", alice.password)).status).toBe(303);

    const { password_hash: stored } = await db("users").where({ id: alice.id }).first("password_hash");
    expect(stored).not.toBe(weak);
    expect(stored).toMatch(/^\$argon2id\$v=19\$/);
    expect(Object.fromEntries(stored.split("$")[3].split(",").map((kv: string) => kv.split("=")))).toEqual({ m: "19456", t: "2", p: "1" });
    expect(await argon2.verify(stored, alice.password)).toBe(true);
    const [event] = await auditEvents(db, "sign_in.succeeded");
    expect(event?.details).toEqual({ method: "password", rehashed: true });
    // The session of the sign-in that rehashed stays valid, and the new hash works next time.
    expect((await agent.get("/profile")).status).toBe(200);
    expect((await attemptSignIn(new TestAgent(agent.app), "alice", alice.password)).status).toBe(303);
  });

  it("a hash with current parameters is left alone", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const { password_hash: before } = await db("users").where({ id: alice.id }).first("password_hash");
    await attemptSignIn(new TestAgent(createTestApp(db)), "alice", alice.password);
    const { password_hash: after } = await db("users").where({ id: alice.id }).first("password_hash");
    expect(after).toBe(before);
  });
});
