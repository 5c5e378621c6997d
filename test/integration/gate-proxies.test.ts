import { generateKeyPairSync } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { deriveSecretKeys } from "../../src/lib/app-secret.ts";
import { signCompactJws } from "../../src/lib/jws.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { rotateSigningKeys } from "../../src/services/signing-keys.ts";
import { grant, makeSystem } from "../helpers/access.ts";
import { signedInAgent } from "../helpers/agent.ts";
import { createTestApiToken } from "../helpers/api-tokens.ts";
import { createTestApp, TEST_APP_SECRET } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { buildUser } from "../helpers/factories.ts";
import { type RunningProxy, type SeenRequest, skipProxyTests, startCaddy, startNginx, startUpstream, throughProxy } from "../helpers/proxies.ts";

let db: Db;
useTestDb((created) => {
  db = created;
});

/**
 * The gate behind Debian's nginx (auth_request) and Caddy (forward_auth), configured as the README shows: each
 * request to the system's host is asked about, and the system sees only what Gatehouse let through, with who it is.
 */
describe.skipIf(skipProxyTests).each(["nginx", "caddy"] as const)("the gate behind a real %s", (kind) => {
  let gatehouse: http.Server;
  let base: string;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let proxy: RunningProxy;
  const host = () => `nas.example.test:${proxy.port}`;
  const webAddress = () => `http://${host()}`;
  let seen: SeenRequest[];

  beforeAll(async () => {
    upstream = await startUpstream();
    seen = upstream.seen;
    gatehouse = http.createServer((req, res) => app(req, res));
    await new Promise<void>((resolve) => gatehouse.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(gatehouse.address() as AddressInfo).port}`;
    const gatehousePort = (gatehouse.address() as AddressInfo).port;
    proxy =
      kind === "nginx"
        ? await startNginx({ gatehousePort, upstreamPort: upstream.port, signInBase: base })
        : await startCaddy({ gatehousePort, upstreamPort: upstream.port });
  }, 30_000);
  afterAll(async () => {
    await proxy?.stop();
    await upstream?.close();
    await new Promise((resolve) => gatehouse?.close(resolve));
  });

  let app: ReturnType<typeof createTestApp>;
  beforeEach(() => {
    app = createTestApp(db, { BASE_URL: base });
    seen.length = 0;
  });

  async function fleet() {
    const nas = await makeSystem(db, { name: "nas", webAddress: webAddress() });
    const reader = await buildUser(db, { username: "reader" });
    const writer = await buildUser(db, { username: "writer" });
    await grant(db, { kind: "user", id: reader.id }, { kind: "system", id: nas.id }, "read");
    await grant(db, { kind: "user", id: writer.id }, { kind: "system", id: nas.id }, "read/write");
    return { nas, reader, writer, readerToken: await createTestApiToken(db, reader), writerToken: await createTestApiToken(db, writer) };
  }

  it("a token with read: a GET reaches the system with who it is (a forged Remote-User replaced); a POST stops at the proxy", async () => {
    const { readerToken, writerToken } = await fleet();
    const read = await throughProxy(proxy.port, host(), {
      path: "/ui/pools?x=1",
      headers: { Authorization: `Bearer ${readerToken}`, "Remote-User": "admin", "Remote-Permission": "read/write" },
    });
    expect([read.status, read.body]).toEqual([200, "upstream answered\n"]);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: "GET", url: "/ui/pools?x=1" });
    expect(seen[0]?.headers["remote-user"]).toBe("reader");
    expect(seen[0]?.headers["remote-permission"]).toBe("read");

    const write = await throughProxy(proxy.port, host(), { method: "POST", path: "/api/pool", headers: { Authorization: `Bearer ${readerToken}` } });
    expect(write.status).toBe(403);
    // Why, for a script: the reason travels with the refusal whichever proxy passed it on.
    expect(write.headers["x-gatehouse-reason"]).toBe("read_only");
    expect(seen).toHaveLength(1);

    const writerPost = await throughProxy(proxy.port, host(), { method: "POST", path: "/api/pool", headers: { Authorization: `Bearer ${writerToken}` } });
    expect(writerPost.status).toBe(200);
    expect(seen.at(-1)).toMatchObject({ method: "POST", url: "/api/pool" });
    expect(seen.at(-1)?.headers["remote-permission"]).toBe("read/write");
  });

  it("a browser is sent to sign in, comes back through the handshake on the system's host, and then reads; a revoked grant stops the next request", async () => {
    const { reader, nas } = await fleet();
    const browser = { Accept: "text/html" };
    const first = await throughProxy(proxy.port, host(), { path: "/ui/dashboard", headers: browser });
    expect(first.status).toBe(302);
    const start = new URL(first.headers.location as string);
    expect(`${start.origin}${start.pathname}`).toBe(`${base}/gate/start`);
    expect(start.searchParams.get("rd")).toBe(`${webAddress()}/ui/dashboard`);
    expect(seen).toHaveLength(0);

    // Signed in to the console already: /gate/start hands a code to the system's host.
    const agent = await signedInAgent(app, reader);
    const handshake = await agent.get(`${start.pathname}${start.search}`).redirects(0);
    expect(handshake.status).toBe(200);
    const callback = new URL(/^0; url=(.+)$/.exec(String(handshake.headers.refresh))?.[1] ?? "");
    expect(callback.host).toBe(host());

    const done = await throughProxy(proxy.port, host(), { path: `${callback.pathname}${callback.search}`, headers: browser });
    expect(done.status).toBe(302);
    expect(done.headers.location).toBe(`${webAddress()}/ui/dashboard`);
    const cookie = ([] as string[]).concat(done.headers["set-cookie"] ?? []).find((c) => c.startsWith("gatehouse-gate="));
    expect(cookie).toMatch(/; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/);
    const pair = cookie!.split(";")[0]!;
    expect(seen).toHaveLength(0);

    const page = await throughProxy(proxy.port, host(), { path: "/ui/dashboard", headers: { ...browser, Cookie: pair } });
    expect(page.status).toBe(200);
    expect(seen.at(-1)?.headers["remote-user"]).toBe("reader");

    await db("user_system_grants").where({ user_id: reader.id, system_id: nas.id }).delete();
    const after = await throughProxy(proxy.port, host(), { path: "/ui/dashboard", headers: { ...browser, Cookie: pair } });
    expect(after.status).toBe(403);
    expect(seen).toHaveLength(1);
    // A page the person can read, from Gatehouse, whichever proxy passed it on.
    const said = after.body.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ");
    expect(said).toContain("Not allowed on nas");
    expect(said).toContain("Your permission none");
    expect(said).toContain("Ask a Gatehouse administrator for");
  });

  it("a WebSocket needs read/write: a reader's upgrade stops at the proxy, a writer's reaches the system", async () => {
    const { readerToken, writerToken } = await fleet();
    const upgrade = { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==" };
    const reader = await throughProxy(proxy.port, host(), { path: "/websocket", headers: { ...upgrade, Authorization: `Bearer ${readerToken}` } });
    expect(reader.status).toBe(403);
    expect(seen).toHaveLength(0);

    const writer = await throughProxy(proxy.port, host(), { path: "/websocket", headers: { ...upgrade, Authorization: `Bearer ${writerToken}` } });
    expect(writer.status).toBe(101);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers.upgrade).toBe("websocket");
    expect(seen[0]?.headers["remote-permission"]).toBe("read/write");
  });

  /** The keys an upstream fetches to verify X-Gatehouse-Jwt: the provider's JWKS, from Gatehouse itself. */
  const publishedKeys = async () => createLocalJWKSet((await (await fetch(`${base}/oidc/jwks`)).json()) as JSONWebKeySet);
  const verify = async (jwt: unknown) =>
    jwtVerify(String(jwt), await publishedKeys(), { issuer: base, audience: webAddress(), algorithms: ["ES256"], typ: "JWT", currentDate: new Date(Date.now()) });

  it("X-Gatehouse-Jwt: the system receives the gate's signed assertion, never the client's; a refusal carries none", async () => {
    const { reader, writer, readerToken, writerToken } = await fleet();
    // A client's own assertion, well-formed and signed, with a key Gatehouse never published.
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const forged = signCompactJws(
      privateKey,
      { alg: "ES256", kid: "forged", typ: "JWT" },
      { iss: base, aud: webAddress(), sub: String(reader.id), gatehouse_permission: "read/write", iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60 },
    );
    const read = await throughProxy(proxy.port, host(), { path: "/ui", headers: { Authorization: `Bearer ${readerToken}`, "X-Gatehouse-Jwt": forged } });
    expect(read.status).toBe(200);
    const received = seen.at(-1)?.headers["x-gatehouse-jwt"];
    expect(received).toBeTypeOf("string");
    expect(received).not.toBe(forged);
    const { payload } = await verify(received);
    expect(payload).toMatchObject({ iss: base, aud: webAddress(), sub: String(reader.id), preferred_username: "reader", gatehouse_permission: "read" });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(60);
    // The client's answer is the system's own; the assertion went only to the system.
    expect(read.headers["x-gatehouse-jwt"]).toBeUndefined();

    const write = await throughProxy(proxy.port, host(), { method: "POST", path: "/api/pool", headers: { Authorization: `Bearer ${writerToken}`, "X-Gatehouse-Jwt": forged } });
    expect(write.status).toBe(200);
    expect((await verify(seen.at(-1)?.headers["x-gatehouse-jwt"])).payload).toMatchObject({ sub: String(writer.id), gatehouse_permission: "read/write" });

    const count = seen.length;
    const refused = await throughProxy(proxy.port, host(), { method: "POST", path: "/api/pool", headers: { Authorization: `Bearer ${readerToken}`, "X-Gatehouse-Jwt": forged } });
    expect([refused.status, refused.headers["x-gatehouse-jwt"]]).toEqual([403, undefined]);
    const anonymous = await throughProxy(proxy.port, host(), { path: "/ui", headers: { "X-Gatehouse-Jwt": forged } });
    // nginx sends someone without a credential to sign in; Caddy passes the gate's 401 on to a script.
    expect([anonymous.status, anonymous.headers["x-gatehouse-jwt"]]).toEqual([kind === "nginx" ? 302 : 401, undefined]);
    expect(seen).toHaveLength(count);
  });

  it("X-Gatehouse-Jwt after `rotate-keys`: the new key signs (within 30 seconds), and the system verifies it with the keys it fetches then", async () => {
    const { readerToken } = await fleet();
    const ask = async () => {
      expect((await throughProxy(proxy.port, host(), { headers: { Authorization: `Bearer ${readerToken}` } })).status).toBe(200);
      return String(seen.at(-1)?.headers["x-gatehouse-jwt"]);
    };
    const before = await ask();
    const rotation = await rotateSigningKeys(db, deriveSecretKeys(TEST_APP_SECRET), { ...SYSTEM_ACTOR, username: "cli" });
    const newKid = rotation.created.find((key) => key.alg === "ES256")?.kid;
    expect(newKid).not.toBe(decodeProtectedHeader(before).kid);
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + 31_000);
    try {
      const after = await ask();
      expect(decodeProtectedHeader(after).kid).toBe(newKid);
      await verify(after);
      // Still published: what the old key signed verifies until it expires.
      await verify(before);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it("a host no system has is refused", async () => {
    const { readerToken } = await fleet();
    const other = await throughProxy(proxy.port, `other.example.test:${proxy.port}`, { headers: { Authorization: `Bearer ${readerToken}` } });
    expect(other.status).toBe(403);
    expect(seen).toHaveLength(0);
  });
});
