import type { Express } from "express";
import supertest from "supertest";
import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { grant, makeSystem } from "../helpers/access.ts";
import { signedInAgent, type TestAgent } from "../helpers/agent.ts";
import { createTestApp, createTestAppParts } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import { agentSessionCookie } from "../helpers/sign-in.ts";

let db: Db;
useTestDb((created) => {
  db = created;
});

const NAS = "https://nas.example.test";
const LAB = "http://lab.example.test:8080";

/** What a browser sends through Caddy's forward_auth for `method url`, with the cookies it holds for that host. */
function forwardAuth(app: Express, url: string, method = "GET", cookie?: string) {
  const target = new URL(url);
  let request = supertest(app)
    .get("/gate/forward-auth")
    .set("Accept", "text/html,application/xhtml+xml")
    .set("X-Forwarded-Proto", target.protocol.replace(":", ""))
    .set("X-Forwarded-Host", target.host)
    .set("X-Forwarded-Uri", `${target.pathname}${target.search}`)
    .set("X-Forwarded-Method", method);
  if (cookie) request = request.set("Cookie", cookie);
  return request.redirects(0);
}

/** The browser at the system's host, following the code to the callback the proxy routes to Gatehouse. */
function callback(app: Express, location: string) {
  const url = new URL(location);
  return supertest(app)
    .get(`${url.pathname}${url.search}`)
    .set("X-Forwarded-Proto", url.protocol.replace(":", ""))
    .set("X-Forwarded-Host", url.host)
    .redirects(0);
}

/** Where /gate/start's page moves on to: its Refresh header's address. */
function onwardOf(res: supertest.Response): string {
  const url = /^0; url=(.+)$/.exec(String(res.headers.refresh ?? ""))?.[1];
  if (!url) throw new Error(`no Refresh header (status ${res.status})`);
  return url;
}

function cookiePair(res: supertest.Response): string {
  const header = ([] as string[]).concat(res.headers["set-cookie"] ?? []);
  const gate = header.find((c) => c.includes("gatehouse-gate="));
  if (!gate) throw new Error(`no gate cookie in ${JSON.stringify(header)}`);
  return gate.split(";")[0]!;
}

async function fleet() {
  const nas = await makeSystem(db, { name: "nas", webAddress: NAS });
  const lab = await makeSystem(db, { name: "lab", webAddress: LAB });
  const reader = await buildUser(db, { username: "reader", fullName: "Rita Reader" });
  const stranger = await buildUser(db, { username: "stranger" });
  await grant(db, { kind: "user", id: reader.id }, { kind: "system", id: nas.id }, "read");
  await grant(db, { kind: "user", id: reader.id }, { kind: "system", id: lab.id }, "read");
  const app = createTestApp(db);
  return { nas, lab, reader, stranger, app };
}

/** Signs in through the gate as a browser would: forward-auth → /gate/start → callback; the gate cookie it got. */
async function signInThroughGate(app: Express, agent: TestAgent, url: string): Promise<string> {
  const redirect = await forwardAuth(app, url);
  expect(redirect.status).toBe(302);
  const start = new URL(redirect.headers.location as string);
  const handshake = await agent.get(`${start.pathname}${start.search}`).redirects(0);
  expect(handshake.status).toBe(200);
  const done = await callback(app, onwardOf(handshake));
  expect(done.status).toBe(302);
  expect(done.headers.location).toBe(url);
  return cookiePair(done);
}

describe("signing a browser in through the gate", () => {
  it("a browser without a gate cookie is sent to sign in, comes back through the handshake, and is let through with its permission", async () => {
    const { app, reader } = await fleet();
    const url = `${NAS}/ui/dashboard?tab=pools`;
    const first = await forwardAuth(app, url);
    expect(first.status).toBe(302);
    expect(first.headers.location).toBe(`http://127.0.0.1/gate/start?rd=${encodeURIComponent(url)}`);

    // Not signed in to the console: the normal sign-in first, which leads back to /gate/start.
    const anonymous = await supertest(app).get(`/gate/start?rd=${encodeURIComponent(url)}`).set("Accept", "text/html").redirects(0);
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.location).toBe(`/login?returnTo=${encodeURIComponent(`/gate/start?rd=${encodeURIComponent(url)}`)}`);

    const agent = await signedInAgent(app, reader);
    const handshake = await agent.get(`/gate/start?rd=${encodeURIComponent(url)}`).redirects(0);
    // A page that moves on by itself (a redirect after the sign-in form would break the console's form-action CSP).
    expect(handshake.status).toBe(200);
    expect(onwardOf(handshake)).toMatch(/^https:\/\/nas\.example\.test\/\.gatehouse\/callback\?code=[A-Za-z0-9_-]{43}$/);
    expect(handshake.text).toContain(`<a href="${onwardOf(handshake)}" id="gate-continue">continue to nas</a>`);

    const done = await callback(app, onwardOf(handshake));
    expect(done.status).toBe(302);
    expect(done.headers.location).toBe(url);
    const setCookie = ([] as string[]).concat(done.headers["set-cookie"] ?? []).join("\n");
    expect(setCookie).toMatch(/^__Host-gatehouse-gate=[A-Za-z0-9_-]{43}; Path=\/; Expires=[^;]+; HttpOnly; Secure; SameSite=Lax$/m);
    expect(setCookie).not.toMatch(/Domain=/i);
    const [event] = await listAuditEvents(db, { action: "gate.signed_in" });
    expect(event).toMatchObject({ actorId: reader.id, targetLabel: "nas" });

    const allowed = await forwardAuth(app, url, "GET", cookiePair(done));
    expect([allowed.status, allowed.headers["remote-user"], allowed.headers["remote-permission"]]).toEqual([200, "reader", "read"]);
    const write = await forwardAuth(app, `${NAS}/api/pool`, "POST", cookiePair(done));
    expect([write.status, write.headers["x-gatehouse-reason"]]).toEqual([403, "read_only"]);
  });

  it("an address nginx passes on unescaped keeps its whole query string, through the sign-in and back", async () => {
    const { app, reader } = await fleet();
    // nginx cannot escape $request_uri: its redirect reads /gate/start?rd=https://host/path?a=1&b=2 as is.
    const url = `${NAS}/ui/pools?tab=disks&sort=name%20desc`;
    const raw = `/gate/start?rd=${url}`;
    const anonymous = await supertest(app).get(raw).set("Accept", "text/html").redirects(0);
    expect(anonymous.headers.location).toBe(`/login?returnTo=${encodeURIComponent(raw)}`);

    const agent = await signedInAgent(app, reader);
    const done = await callback(app, onwardOf(await agent.get(raw).redirects(0)));
    expect(done.status).toBe(302);
    expect(done.headers.location).toBe(url);
  });

  it("a handshake code works once, for its own system, for 60 seconds", async () => {
    const { app, reader } = await fleet();
    const agent = await signedInAgent(app, reader);
    const code = async () => onwardOf(await agent.get(`/gate/start?rd=${encodeURIComponent(`${NAS}/`)}`).redirects(0));

    const once = await code();
    expect((await callback(app, once)).status).toBe(302);
    const replay = await callback(app, once);
    expect(replay.status).toBe(400);
    expect(replay.text).toContain("This sign-in link has expired or was already used.");

    // A13-style input: two codes, or none, is no code at all.
    for (const query of ["code=a&code=b", "", "code[x]=1"]) {
      const odd = await supertest(app).get(`/.gatehouse/callback?${query}`).set("X-Forwarded-Proto", "https").set("X-Forwarded-Host", "nas.example.test");
      expect(odd.status, query).toBe(400);
    }

    // The code of nas presented at lab's host.
    const elsewhere = new URL(await code());
    expect((await callback(app, `${LAB}${elsewhere.pathname}${elsewhere.search}`)).status).toBe(400);

    const late = await code();
    await db("gate_codes").update({ expires_at: db.raw("now() - interval '1 second'") });
    expect((await callback(app, late)).status).toBe(400);
    expect(Number((await db("gate_sessions").count({ n: "*" }).first())?.n)).toBe(1);
  });

  it("rd is honoured only for a registered system's web address: anything else lands on /systems (no open redirect)", async () => {
    const { app, reader } = await fleet();
    const agent = await signedInAgent(app, reader);
    for (const rd of ["https://evil.example.com/", "//evil.example.com", "javascript:alert(1)", "https://nas.example.test.evil.com/", ""]) {
      const res = await agent.get(`/gate/start?rd=${encodeURIComponent(rd)}`).redirects(0);
      expect([res.status, res.headers.location], rd).toEqual([303, "/systems"]);
    }
    expect(Number((await db("gate_codes").count({ n: "*" }).first())?.n)).toBe(0);
  });

  it("A1: a person without any permission on the system gets a page that says so, and no code", async () => {
    const { app, stranger } = await fleet();
    const agent = await signedInAgent(app, stranger);
    const res = await agent.get(`/gate/start?rd=${encodeURIComponent(`${NAS}/`)}`).redirects(0);
    expect(res.status).toBe(403);
    expect(res.text).toContain("No access to nas");
    expect(res.text).toContain("Ask one of your Gatehouse administrators for read or read/write on nas.");
    expect(Number((await db("gate_codes").count({ n: "*" }).first())?.n)).toBe(0);
  });

  it("the gate cookie ends with the console session: signing out ends it at the next request", async () => {
    const { app, reader } = await fleet();
    const agent = await signedInAgent(app, reader);
    const gate = await signInThroughGate(app, agent, `${NAS}/`);
    expect((await forwardAuth(app, `${NAS}/`, "GET", gate)).status).toBe(200);
    await agent.post("/logout");
    const after = await forwardAuth(app, `${NAS}/`, "GET", gate);
    expect(after.status).toBe(302);
    expect(after.headers.location).toMatch(/\/gate\/start\?rd=/);
  });

  it("S7: ending the account's sessions (a version bump) ends its gate cookies at the next request", async () => {
    const { app, reader } = await fleet();
    const agent = await signedInAgent(app, reader);
    const gate = await signInThroughGate(app, agent, `${NAS}/`);
    await db("users").where({ id: reader.id }).increment("session_version", 1);
    expect((await forwardAuth(app, `${NAS}/`, "GET", gate)).status).toBe(302);
  });

  it("one system's gate cookie counts for nothing at another system; the console's cookie counts for nothing at the gate, and the gate cookie for nothing in the console", async () => {
    const { app, reader } = await fleet();
    const agent = await signedInAgent(app, reader);
    const gate = await signInThroughGate(app, agent, `${NAS}/`);
    const atLab = await forwardAuth(app, `${LAB}/`, "GET", gate);
    expect(atLab.status).toBe(302);

    const consoleCookie = agentSessionCookie(agent);
    expect((await forwardAuth(app, `${NAS}/`, "GET", consoleCookie)).status).toBe(302);
    const scripted = await supertest(app)
      .get("/gate/auth-request")
      .set("X-Original-URL", `${NAS}/`)
      .set("X-Original-Method", "GET")
      .set("Cookie", consoleCookie);
    expect(scripted.status).toBe(401);

    const profile = await supertest(app).get("/profile").set("Accept", "text/html").set("Cookie", gate).redirects(0);
    expect(profile.status).toBe(303);
    expect(profile.headers.location).toMatch(/^\/login/);
  });

  it("forward-auth tells a script (no text/html) 401, and sends a browser's form post through 303", async () => {
    const { app } = await fleet();
    const script = await supertest(app)
      .get("/gate/forward-auth")
      .set("Accept", "application/json")
      .set("X-Forwarded-Proto", "https")
      .set("X-Forwarded-Host", "nas.example.test")
      .set("X-Forwarded-Uri", "/api")
      .set("X-Forwarded-Method", "GET")
      .redirects(0);
    expect(script.status).toBe(401);
    const post = await forwardAuth(app, `${NAS}/form`, "POST");
    expect(post.status).toBe(303);
  });
});

describe("what the gate keeps and shows of its answers", () => {
  it("a refusal is a page the person can read, and one gate.denied event a minute per person, system and reason", async () => {
    const { app, reader } = await fleet();
    const agent = await signedInAgent(app, reader);
    const gate = await signInThroughGate(app, agent, `${NAS}/`);
    const refused = await forwardAuth(app, `${NAS}/api/pool?secret=1`, "POST", gate);
    expect(refused.status).toBe(403);
    expect(refused.headers["content-type"]).toMatch(/^text\/html/);
    const text = refused.text.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ");
    expect(text).toContain("Not allowed on nas");
    expect(text).toContain("You tried POST /api/pool");
    expect(text).toContain("Your permission read");
    expect(text).toContain("It needs read/write");
    expect(text).toContain("Ask a Gatehouse administrator for read/write");
    expect(refused.text).not.toContain("secret=1");
    expect(refused.text).not.toContain('<link rel="stylesheet"');
    expect(refused.headers["content-security-policy"]).toBe("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");

    await forwardAuth(app, `${NAS}/api/pool`, "DELETE", gate);
    await forwardAuth(app, `${NAS}/api/other`, "PUT", gate);
    const events = await listAuditEvents(db, { action: "gate.denied" });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actorId: reader.id, targetLabel: "nas" });
    expect(events[0]?.details).toEqual({ reason: "read_only", method: "POST", path: "/api/pool", permission: "read", needs: "read/write" });

    // A minute later (the mark aged by hand), the next refusal is written again.
    await db("gate_denial_marks").update({ last_recorded_at: db.raw("now() - interval '61 seconds'") });
    await forwardAuth(app, `${NAS}/api/pool`, "DELETE", gate);
    expect(await listAuditEvents(db, { action: "gate.denied" })).toHaveLength(2);
  });

  it("allowed requests are counted per system, not audited one by one; the system's page shows the count and the last access", async () => {
    const { nas, reader } = await fleet();
    const parts = createTestAppParts(db);
    const agent = await signedInAgent(parts.app, reader);
    const gate = await signInThroughGate(parts.app, agent, `${NAS}/`);
    for (let i = 0; i < 3; i++) expect((await forwardAuth(parts.app, `${NAS}/page/${i}`, "GET", gate)).status).toBe(200);
    await parts.gateCounters.flush();
    expect(Number((await db("system_gate_counts").where({ system_id: nas.id }).first("requests"))?.requests)).toBe(3);
    expect(await listAuditEvents(db, { action: "gate.allowed" })).toEqual([]);

    const admin = await buildAdmin(db, { username: "root" });
    const adminAgent = await signedInAgent(parts.app, admin);
    const page = (await adminAgent.get(`/admin/systems/${nas.id}`)).text.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ");
    expect(page).toContain("Requests let through today 3");
    expect(page).toMatch(/Last access \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    expect(page).toContain("location = /gatehouse-auth {");
    expect(page).toContain("forward_auth http://127.0.0.1 {");
  });
});
