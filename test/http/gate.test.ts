import type { Express } from "express";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose";
import supertest from "supertest";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { deriveSecretKeys } from "../../src/lib/app-secret.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { GateAssertions } from "../../src/services/gate-assertions.ts";
import { rotateSigningKeys } from "../../src/services/signing-keys.ts";
import { grant, makeSystem, makeTeam } from "../helpers/access.ts";
import { signedInAgent } from "../helpers/agent.ts";
import { createTestApiToken } from "../helpers/api-tokens.ts";
import { createTestApp, TEST_APP_SECRET } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { buildUser } from "../helpers/factories.ts";
import { agentSessionCookie } from "../helpers/sign-in.ts";

let db: Db;
useTestDb((created) => {
  db = created;
});

const NAS = "https://nas.example.test";

/** nginx's auth_request subrequest for `method url`, as the proxy on this machine would send it. */
function authRequest(app: Express, url: string, method: string, token?: string, extra: Record<string, string> = {}) {
  let request = supertest(app).get("/gate/auth-request").set("X-Original-URL", url).set("X-Original-Method", method);
  if (token) request = request.set("Authorization", `Bearer ${token}`);
  for (const [name, value] of Object.entries(extra)) request = request.set(name, value);
  return request.redirects(0);
}

/** Traefik's or Caddy's forward-auth request for `method proto://host uri`. */
function forwardAuth(app: Express, proto: string, host: string, uri: string, method: string, token?: string) {
  let request = supertest(app)
    .get("/gate/forward-auth")
    .set("X-Forwarded-Proto", proto)
    .set("X-Forwarded-Host", host)
    .set("X-Forwarded-Uri", uri)
    .set("X-Forwarded-Method", method);
  if (token) request = request.set("Authorization", `Bearer ${token}`);
  return request.redirects(0);
}

async function fleet() {
  const nas = await makeSystem(db, { name: "nas", webAddress: NAS });
  const reader = await buildUser(db, { username: "reader", fullName: "José Müller 山田", email: "reader@example.test" });
  await db("users").where({ id: reader.id }).update({ email_verified: true });
  const writer = await buildUser(db, { username: "writer", email: "writer@example.test" });
  const outsider = await buildUser(db, { username: "outsider" });
  const storage = await makeTeam(db, "storage", [reader]);
  await makeTeam(db, "backup", [reader]);
  await grant(db, { kind: "team", id: storage.id }, { kind: "system", id: nas.id }, "read");
  await grant(db, { kind: "user", id: writer.id }, { kind: "system", id: nas.id }, "read/write");
  const tokens = {
    reader: await createTestApiToken(db, reader),
    writer: await createTestApiToken(db, writer),
    outsider: await createTestApiToken(db, outsider),
  };
  return { nas, reader, writer, outsider, storage, tokens, app: createTestApp(db) };
}

describe("the gate (bearer tokens)", () => {
  it("lets a reader read, with who they are in Authelia's headers; a write or a WebSocket needs read/write", async () => {
    const { app, tokens } = await fleet();
    const read = await authRequest(app, `${NAS}/ui/dashboard?tab=1`, "GET", tokens.reader);
    expect(read.status).toBe(200);
    expect(read.headers["remote-user"]).toBe("reader");
    expect(Buffer.from(read.headers["remote-name"] as string, "latin1").toString("utf8")).toBe("José Müller 山田");
    expect(read.headers["remote-email"]).toBe("reader@example.test");
    expect(read.headers["remote-groups"]).toBe("backup,storage");
    expect(read.headers["remote-permission"]).toBe("read");
    expect(read.headers["cache-control"]).toBe("no-store");

    const write = await authRequest(app, `${NAS}/api/pool`, "POST", tokens.reader);
    expect([write.status, write.headers["x-gatehouse-reason"]]).toEqual([403, "read_only"]);
    const socket = await authRequest(app, `${NAS}/websocket`, "GET", tokens.reader, { Upgrade: "websocket" });
    expect([socket.status, socket.headers["x-gatehouse-reason"]]).toEqual([403, "read_only"]);

    const writerPost = await authRequest(app, `${NAS}/api/pool`, "POST", tokens.writer);
    expect(writerPost.status).toBe(200);
    expect(writerPost.headers["remote-permission"]).toBe("read/write");
    // An unverified address is not passed on.
    expect(writerPost.headers["remote-email"]).toBeUndefined();
  });

  it("matches the host without regard to case or the default port, and refuses a host no system has", async () => {
    const { app, tokens } = await fleet();
    expect((await authRequest(app, "https://NAS.Example.TEST:443/", "GET", tokens.reader)).status).toBe(200);
    const other = await authRequest(app, "https://nas.example.test:8443/", "GET", tokens.reader);
    expect([other.status, other.headers["x-gatehouse-reason"]]).toEqual([403, "unknown_host"]);
    const unknown = await authRequest(app, "https://elsewhere.example.test/", "GET", tokens.reader);
    expect([unknown.status, unknown.headers["x-gatehouse-reason"]]).toEqual([403, "unknown_host"]);
  });

  it("A1: a person without a grant is refused (403), never let through", async () => {
    const { app, tokens } = await fleet();
    const res = await authRequest(app, `${NAS}/`, "GET", tokens.outsider);
    expect([res.status, res.headers["x-gatehouse-reason"]]).toEqual([403, "no_access"]);
    expect(res.headers["remote-user"]).toBeUndefined();
  });

  it("A7: a revoked grant, a removal from the team and a disabled account count at the very next request", async () => {
    const { app, tokens, nas, reader, writer, storage } = await fleet();
    expect((await authRequest(app, `${NAS}/`, "GET", tokens.reader)).status).toBe(200);
    await db("team_members").where({ team_id: storage.id, user_id: reader.id }).delete();
    expect((await authRequest(app, `${NAS}/`, "GET", tokens.reader)).status).toBe(403);

    expect((await authRequest(app, `${NAS}/`, "DELETE", tokens.writer)).status).toBe(200);
    await db("user_system_grants").where({ user_id: writer.id, system_id: nas.id }).update({ permission: 1 });
    expect((await authRequest(app, `${NAS}/`, "DELETE", tokens.writer)).headers["x-gatehouse-reason"]).toBe("read_only");
    await db("users").where({ id: writer.id }).update({ disabled: true });
    const disabled = await authRequest(app, `${NAS}/`, "GET", tokens.writer);
    expect([disabled.status, disabled.headers["x-gatehouse-reason"]]).toEqual([403, "disabled"]);
  });

  it("without a token (or with a bad one) answers 401, never a redirect; the console's session cookie counts for nothing here", async () => {
    const { app, reader } = await fleet();
    const none = await authRequest(app, `${NAS}/`, "GET");
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toBe('Bearer realm="gatehouse"');
    expect(none.headers.location).toBeUndefined();
    expect((await authRequest(app, `${NAS}/`, "GET", "gh_not-a-real-token")).status).toBe(401);
    expect((await authRequest(app, `${NAS}/`, "GET", `gh_${"A".repeat(43)}`)).status).toBe(401);

    const console = await signedInAgent(app, reader);
    const withCookie = await supertest(app)
      .get("/gate/auth-request")
      .set("X-Original-URL", `${NAS}/`)
      .set("X-Original-Method", "GET")
      .set("Cookie", agentSessionCookie(console))
      .redirects(0);
    expect(withCookie.status).toBe(401);
  });

  it("forward-auth reads X-Forwarded-Proto, -Host, -Uri and -Method", async () => {
    const { app, tokens } = await fleet();
    const read = await forwardAuth(app, "https", "nas.example.test", "/ui?x=1", "GET", tokens.reader);
    expect([read.status, read.headers["remote-user"], read.headers["remote-permission"]]).toEqual([200, "reader", "read"]);
    const write = await forwardAuth(app, "https", "nas.example.test", "/api", "PUT", tokens.reader);
    expect(write.status).toBe(403);
    const missing = await supertest(app).get("/gate/forward-auth").set("Authorization", `Bearer ${tokens.reader}`);
    expect([missing.status, missing.headers["x-gatehouse-reason"]]).toEqual([403, "missing_forwarded_host"]);
  });

  it("believes forwarded headers only from a trusted proxy: loopback by default, GATE_TRUSTED_PROXIES otherwise", async () => {
    const { tokens } = await fleet();
    const elsewhere = createTestApp(db, { GATE_TRUSTED_PROXIES: "10.20.0.0/16, fd00::7" });
    const forged = await authRequest(elsewhere, `${NAS}/`, "GET", tokens.reader);
    expect([forged.status, forged.headers["x-gatehouse-reason"]]).toEqual([403, "untrusted_proxy"]);
    expect(forged.headers["remote-user"]).toBeUndefined();
    const loopbackToo = createTestApp(db, { GATE_TRUSTED_PROXIES: "10.20.0.0/16,127.0.0.1" });
    expect((await authRequest(loopbackToo, `${NAS}/`, "GET", tokens.reader)).status).toBe(200);
  });
});

/** The keys the OpenID Connect provider publishes, as an upstream fetches them. */
async function publishedKeys(app: Express) {
  const res = await supertest(app).get("/oidc/jwks");
  expect(res.status).toBe(200);
  return createLocalJWKSet(res.body as JSONWebKeySet);
}

const realNow = Date.now.bind(Date);

/** Moves this process's Date.now() on by `seconds` more (the gate's clocks read it; the database keeps its own). */
function laterBy(seconds: number): void {
  const shift = Date.now() - realNow() + seconds * 1000;
  vi.spyOn(Date, "now").mockImplementation(() => realNow() + shift);
}

describe("X-Gatehouse-Jwt: the gate's answer, signed", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("a 200 carries a 60-second ES256 assertion that verifies against /oidc/jwks: iss BASE_URL, aud the system's web address, the OpenID Connect claims", async () => {
    const { app, tokens, reader, writer } = await fleet();
    const keys = await publishedKeys(app);
    const read = await authRequest(app, `${NAS}/ui`, "GET", tokens.reader);
    expect(read.status).toBe(200);
    const { payload, protectedHeader } = await jwtVerify(read.headers["x-gatehouse-jwt"] as string, keys, {
      issuer: "http://127.0.0.1",
      audience: NAS,
      algorithms: ["ES256"],
      typ: "JWT",
    });
    expect(protectedHeader.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(payload).toEqual({
      iss: "http://127.0.0.1",
      aud: NAS,
      sub: String(reader.id),
      preferred_username: "reader",
      name: "José Müller 山田",
      email: "reader@example.test",
      email_verified: true,
      groups: ["backup", "storage"],
      gatehouse_permission: "read",
      iat: expect.any(Number),
      exp: expect.any(Number),
    });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(60);
    expect(Math.abs((payload.iat ?? 0) - Date.now() / 1000)).toBeLessThan(5);

    // forward-auth answers the same way; an unverified address is not asserted.
    const write = await forwardAuth(app, "https", "nas.example.test", "/api/pool", "POST", tokens.writer);
    const { payload: writing } = await jwtVerify(write.headers["x-gatehouse-jwt"] as string, keys, { issuer: "http://127.0.0.1", audience: NAS });
    expect(writing).toMatchObject({ sub: String(writer.id), preferred_username: "writer", gatehouse_permission: "read/write", groups: [] });
    expect(writing).not.toHaveProperty("email");
    expect(writing).not.toHaveProperty("email_verified");
  });

  it("a refusal or an unknown caller carries none", async () => {
    const { app, tokens } = await fleet();
    const refusals = [
      await authRequest(app, `${NAS}/api/pool`, "POST", tokens.reader),
      await authRequest(app, `${NAS}/`, "GET", tokens.outsider),
      await authRequest(app, "https://elsewhere.example.test/", "GET", tokens.reader),
      await authRequest(app, `${NAS}/`, "GET"),
      await forwardAuth(app, "https", "nas.example.test", "/api", "PUT", tokens.reader),
      await authRequest(createTestApp(db, { GATE_TRUSTED_PROXIES: "10.20.0.0/16" }), `${NAS}/`, "GET", tokens.reader),
    ];
    expect(refusals.map((res) => res.status)).toEqual([403, 403, 403, 401, 403, 403]);
    for (const res of refusals) expect(res.headers["x-gatehouse-jwt"]).toBeUndefined();
  });

  it("is signed again when what it asserts changes, and otherwise reused while it has more than half its life left", async () => {
    const { app, tokens, reader, nas } = await fleet();
    const jwtOf = async () => (await authRequest(app, `${NAS}/`, "GET", tokens.reader)).headers["x-gatehouse-jwt"] as string;
    const first = await jwtOf();
    expect(await jwtOf()).toBe(first);

    // The claims are read at each decision: a new permission is a new assertion at once.
    await grant(db, { kind: "user", id: reader.id }, { kind: "system", id: nas.id }, "read/write");
    const upgraded = await jwtOf();
    expect(upgraded).not.toBe(first);
    expect(decodeJwt(upgraded).gatehouse_permission).toBe("read/write");

    laterBy(27);
    expect(await jwtOf()).toBe(upgraded);
    laterBy(4);
    const renewed = await jwtOf();
    expect(renewed).not.toBe(upgraded);
    expect(decodeJwt(renewed).iat).toBeGreaterThanOrEqual((decodeJwt(upgraded).iat ?? 0) + 31);
  });

  it("after a rotation of the signing keys, the new key signs (seen within 30 seconds); what the old key signed still verifies", async () => {
    const { app, tokens } = await fleet();
    const jwtOf = async () => (await authRequest(app, `${NAS}/`, "GET", tokens.reader)).headers["x-gatehouse-jwt"] as string;
    const before = await jwtOf();
    const oldKid = decodeProtectedHeader(before).kid;

    // As `npm run rotate-keys` does it, from another process: this one is not told.
    const rotation = await rotateSigningKeys(db, deriveSecretKeys(TEST_APP_SECRET), { ...SYSTEM_ACTOR, username: "cli" });
    const newKid = rotation.created.find((key) => key.alg === "ES256")?.kid;
    expect(newKid).not.toBe(oldKid);
    expect(decodeProtectedHeader(await jwtOf()).kid).toBe(oldKid);

    laterBy(31);
    const after = await jwtOf();
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    const keys = await publishedKeys(app);
    for (const jwt of [before, after]) {
      await expect(jwtVerify(jwt, keys, { issuer: "http://127.0.0.1", audience: NAS, currentDate: new Date(Date.now()) })).resolves.toBeTruthy();
    }
  });
});

describe("GateAssertions: what is kept for reuse", () => {
  it("keeps at most 1,000 assertions: past that, the oldest is signed anew when asked again", async () => {
    const assertions = new GateAssertions(db, deriveSecretKeys(TEST_APP_SECRET), "http://127.0.0.1");
    const claims = { sub: "1", gatehouse_permission: "read" };
    const first = await assertions.assertionFor("https://s0.example.test", claims);
    expect(await assertions.assertionFor("https://s0.example.test", claims)).toBe(first);
    // Another audience or other claims are other assertions.
    expect(await assertions.assertionFor("https://s1.example.test", claims)).not.toBe(first);
    expect(await assertions.assertionFor("https://s0.example.test", { ...claims, gatehouse_permission: "read/write" })).not.toBe(first);
    for (let i = 2; i <= 1_000; i++) await assertions.assertionFor(`https://s${i}.example.test`, claims);
    // ES256 signatures are randomised: one signed anew differs even within the same second.
    expect(await assertions.assertionFor("https://s0.example.test", claims)).not.toBe(first);
  });
});
