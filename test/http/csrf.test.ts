import supertest from "supertest";
import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { findUserById, findUserByUsername } from "../../src/repositories/users/index.ts";
import { createTestApp } from "../helpers/app.ts";
import { csrfTokenFrom, signedInAgent, TestAgent } from "../helpers/agent.ts";
import { useTestDb } from "../helpers/db.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import { auditCount, auditEvents, sessionCountOf } from "../helpers/sign-in.ts";

let db: Db;
useTestDb((created) => {
  db = created;
});

const EVIL = "https://evil.example";

/** A token that is valid, but for someone else's session (the attacker's own). */
async function foreignToken(app: TestAgent["app"]): Promise<string> {
  const res = await supertest(app).get("/login").set("Accept", "text/html");
  return csrfTokenFrom(res.text);
}

/** A forged form post from the agent's browser: its cookies go along, the fields are the attacker's. */
function forge(agent: TestAgent, url: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  const request = agent.http.post(url).set("Accept", "text/html").type("form");
  for (const [name, value] of Object.entries(headers)) request.set(name, value);
  return request.send(fields);
}

function expectPlain403(res: { status: number; text: string }) {
  expect(res.status).toBe(403);
  expect(res.text).not.toMatch(/ReferenceError|TypeError|at .*\.(ts|js):\d+/);
  expect(res.text).toContain("<h1>Forbidden</h1>");
}

describe("L10: login CSRF", () => {
  it("L10: a cross-site POST to /login without the token is a 403 and signs nobody in", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const agent = new TestAgent(createTestApp(db));
    await agent.refreshToken("/login");
    const res = await forge(agent, "/login", { username: "alice", password: alice.password });
    expectPlain403(res);
    expect((await agent.get("/profile")).status).toBe(303);
    expect(await auditCount(db, "sign_in.")).toBe(0);
  });

  it("L10: a browser with no session at all is refused the same way", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const res = await supertest(createTestApp(db))
      .post("/login")
      .set("Accept", "text/html")
      .type("form")
      .send({ username: "alice", password: alice.password });
    expectPlain403(res);
    expect(await sessionCountOf(db, alice.id)).toBe(0);
  });

  it("L10: the attacker's own valid token does not work in the victim's browser", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const app = createTestApp(db);
    const victim = new TestAgent(app);
    await victim.refreshToken("/login");
    const res = await forge(victim, "/login", { username: "alice", password: alice.password, _csrf: await foreignToken(app) });
    expectPlain403(res);
    expect(await auditCount(db, "sign_in.")).toBe(0);
  });

  it("L10: an Origin of another site is refused even with a valid token", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const agent = new TestAgent(createTestApp(db));
    const crossSite: Record<string, string>[] = [
      { Origin: EVIL },
      { Origin: "null" },
      { "Sec-Fetch-Site": "cross-site" },
      { Origin: "http://127.0.0.1.evil.example" },
    ];
    for (const headers of crossSite) {
      const token = await agent.refreshToken("/login");
      const res = await forge(agent, "/login", { username: "alice", password: alice.password, _csrf: token }, headers);
      expectPlain403(res);
    }
    expect(await auditCount(db, "sign_in.")).toBe(0);
  });

  it("L10: the same origin with the token signs in (control)", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const agent = new TestAgent(createTestApp(db));
    const token = await agent.refreshToken("/login");
    const res = await forge(
      agent,
      "/login",
      { username: "alice", password: alice.password, _csrf: token },
      { Origin: "http://127.0.0.1", "Sec-Fetch-Site": "same-origin" },
    );
    expect(res.status).toBe(303);
  });

  it("L10: a token sent twice (an array) is refused, not a 500", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const agent = new TestAgent(createTestApp(db));
    const token = await agent.refreshToken("/login");
    const res = await agent.http
      .post("/login")
      .set("Accept", "text/html")
      .type("form")
      .send(`username=alice&password=${encodeURIComponent(alice.password)}&_csrf=${token}&_csrf=${token}`);
    expectPlain403(res);
  });
});

describe("S2: cross-site posts to signed-in actions", () => {
  async function setUp() {
    const admin = await buildAdmin(db, { username: "admin" });
    const victim = await buildUser(db, { username: "victim" });
    const app = createTestApp(db);
    const agent = await signedInAgent(app, admin);
    return { admin, victim, app, agent };
  }

  const newUser = { username: "mallory", password: "a very long password 1", confirmPassword: "a very long password 1" };

  it("S2: creating a user without a token, or with a foreign one, is a 403 and creates nothing", async () => {
    const { app, agent } = await setUp();
    expectPlain403(await forge(agent, "/admin/users", newUser));
    expectPlain403(await forge(agent, "/admin/users", { ...newUser, _csrf: await foreignToken(app) }));
    expectPlain403(await forge(agent, "/admin/users", { ...newUser, _csrf: "" }));
    expect(await findUserByUsername(db, "mallory")).toBeUndefined();
    expect(await auditCount(db, "user.created")).toBe(2); // the two accounts of setUp only
  });

  it("S2: creating a user with the right token but from another site's page is a 403", async () => {
    const { agent } = await setUp();
    const token = await agent.refreshToken("/admin/users/new");
    expectPlain403(await forge(agent, "/admin/users", { ...newUser, _csrf: token }, { Origin: EVIL }));
    expectPlain403(await forge(agent, "/admin/users", { ...newUser, _csrf: token }, { "Sec-Fetch-Site": "cross-site" }));
    expect(await findUserByUsername(db, "mallory")).toBeUndefined();
  });

  it("S2: deleting a user without a token, or with a foreign one, is a 403 and deletes nothing", async () => {
    const { app, agent, victim } = await setUp();
    const version = String(victim.version);
    expectPlain403(await forge(agent, `/admin/users/${victim.id}/delete`, { version }));
    expectPlain403(await forge(agent, `/admin/users/${victim.id}/delete`, { version, _csrf: await foreignToken(app) }));
    expect(await findUserById(db, victim.id)).toBeDefined();
    expect(await auditCount(db, "user.deleted")).toBe(0);
  });

  it("S2: disabling a user without a token is a 403 and changes nothing", async () => {
    const { agent, victim } = await setUp();
    expectPlain403(await forge(agent, `/admin/users/${victim.id}/disable`, { version: String(victim.version) }));
    expect((await findUserById(db, victim.id))?.disabled).toBe(false);
  });

  it("S2: signing out without a token, or with a foreign one, is a 403 and the session lives on", async () => {
    const { app, agent, admin } = await setUp();
    expectPlain403(await forge(agent, "/logout", {}));
    expectPlain403(await forge(agent, "/logout", { _csrf: await foreignToken(app) }));
    expectPlain403(await forge(agent, "/logout", { _csrf: await agent.refreshToken("/profile") }, { Origin: EVIL }));
    expect((await agent.get("/profile")).status).toBe(200);
    expect(await sessionCountOf(db, admin.id)).toBe(1);
    expect(await auditEvents(db, "sign_out")).toHaveLength(0);
  });

  it("S2: a JSON client without the token gets a JSON 403", async () => {
    const { agent } = await setUp();
    const res = await agent.http.post("/admin/users").set("Accept", "application/json").send(newUser);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("csrf_failed");
    expect(await findUserByUsername(db, "mallory")).toBeUndefined();
  });

  it("S2: the token in the X-CSRF-Token header is accepted (control)", async () => {
    const { agent } = await setUp();
    const token = await agent.refreshToken("/admin/users/new");
    const res = await agent.http.post("/admin/users").set("Accept", "text/html").set("X-CSRF-Token", token).type("form").send(newUser);
    expect(res.status).toBe(303);
    expect(await findUserByUsername(db, "mallory")).toBeDefined();
  });
});

describe("S3: no state change through GET", () => {
  it("S3: GET /admin/users/:id/delete only shows a confirmation with a POST form", async () => {
    const admin = await buildAdmin(db, { username: "admin" });
    const victim = await buildUser(db, { username: "victim" });
    const agent = await signedInAgent(createTestApp(db), admin);
    const res = await agent.get(`/admin/users/${victim.id}/delete`);
    expect(res.status).toBe(200);
    expect(res.text).toContain(`<form method="post" action="/admin/users/${victim.id}/delete"`);
    expect(res.text).toContain('name="_csrf"');
    expect(await findUserById(db, victim.id)).toBeDefined();
    expect(await auditCount(db, "user.deleted")).toBe(0);
  });

  it("S3: GET on the disable, enable and unlock actions does nothing", async () => {
    const admin = await buildAdmin(db, { username: "admin" });
    const victim = await buildUser(db, { username: "victim" });
    const agent = await signedInAgent(createTestApp(db), admin);
    for (const action of ["disable", "enable", "unlock"]) {
      const res = await agent.get(`/admin/users/${victim.id}/${action}`);
      expect(res.status, action).toBe(404);
    }
    const after = await findUserById(db, victim.id);
    expect(after?.disabled).toBe(false);
    expect(after?.version).toBe(victim.version);
  });

  it("S3: GET /logout (an <img src>) is not a sign-out", async () => {
    const alice = await buildUser(db, { username: "alice" });
    const agent = await signedInAgent(createTestApp(db), alice);
    const res = await agent.get("/logout");
    expect(res.status).toBe(405);
    expect((await agent.get("/profile")).status).toBe(200);
    expect(await sessionCountOf(db, alice.id)).toBe(1);
  });
});
