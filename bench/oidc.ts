/**
 * Sign in with Gatehouse's benchmark (issue 17), on the real Postgres with bench:access's data (100,000 users, 10,000
 * systems; seed-access.ts) in a scratch schema. Gatehouse runs as a child process as `npm start` runs it; one system
 * gets a client, BENCH_CONCURRENCY users with read on it sign in to the console, and each virtual client then
 * completes OpenID Connect code flows as a system and a browser with a session would:
 *   GET /oidc/auth (PKCE S256; the provider's session answers at once with a code) → POST /oidc/token
 *   (client_secret_basic, code_verifier) → GET /oidc/me.
 * Prints complete flows per second, their p50/p99, the token endpoint's own p50/p99, and the CPU per flow of
 * Gatehouse, Postgres and the load generator. The last line is JSON. Drops its schema at the end
 * (BENCH_KEEP_SCHEMA=1 keeps it).
 *
 * Usage: npm run bench:oidc   (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test; schema
 *   gatehouse_bench_oidc; BENCH_CONCURRENCY, BENCH_WARMUP_S, BENCH_DURATION_S as in bench/harness.ts)
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Db } from "../src/db/index.ts";
import { SYSTEM_ACTOR } from "../src/services/audit.ts";
import { enableOidcClient } from "../src/services/oidc-clients.ts";
import { hashPassword } from "../src/services/passwords.ts";
import {
  type Answer,
  agent as clientAgent,
  type Child,
  CONCURRENCY,
  cpuLine,
  load,
  percentile,
  request,
  serverWithPostgres,
  signIn,
  startGatehouse,
  stopChild,
  WARMUP_MS,
} from "./harness.ts";
import { freshSchema, resetSchema, schemaUrl, seedAccess } from "./seed-access.ts";

const SCHEMA = "gatehouse_bench_oidc";
const PASSWORD = "correct horse battery staple, benchmark edition";
const REDIRECT_URI = "http://127.0.0.1:9/callback";

/** A browser's cookies for Gatehouse's origin: the console's session and the provider's own. */
class CookieJar {
  private readonly cookies = new Map<string, string>();
  constructor(initial: string) {
    this.take([initial]);
  }
  take(setCookie: string[] | undefined): void {
    for (const line of setCookie ?? []) {
      const [pair = ""] = line.split(";");
      const i = pair.indexOf("=");
      if (i > 0) this.cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
  }
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }
}

const children: Child[] = [];
let db: Db | undefined;
const dataDir = await mkdtemp(path.join(os.tmpdir(), "gatehouse-bench-oidc-"));
try {
  // One connection, without the app's 10 s statement timeout: seeding ends with a VACUUM ANALYZE of 100,000 users.
  db = await freshSchema(SCHEMA, 1);
  await db.raw("SET statement_timeout = 0");
  const version = (await db.raw("SHOW server_version")).rows[0].server_version as string;
  console.log(`machine: ${os.availableParallelism()} cores, node ${process.version}, PostgreSQL ${version}; ${CONCURRENCY} concurrent clients`);
  await seedAccess(db, { passwordHash: await hashPassword(PASSWORD) });

  const system = (await db("systems").orderBy("id").first("id", "name")) as { id: string; name: string };
  const { client, clientSecret } = await enableOidcClient(db, SYSTEM_ACTOR, Number(system.id), { redirectUris: [REDIRECT_URI] });
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(clientSecret)}`).toString("base64")}`;

  const gatehouse = await startGatehouse(schemaUrl(SCHEMA), dataDir);
  children.push(gatehouse);
  const origin = gatehouse.origin;

  // Non-administrators, each given read on the system directly (seeded grants may differ per user).
  const people = (await db("users").where("is_admin", false).orderBy("id").limit(CONCURRENCY).select("id", "username")) as { id: string; username: string }[];
  await db("user_system_grants")
    .insert(people.map((p) => ({ user_id: p.id, system_id: system.id, permission: 1 })))
    .onConflict(["user_id", "system_id"])
    .merge();
  const jars = await Promise.all(people.map(async (p) => new CookieJar((await signIn(origin, p.username, PASSWORD)).cookie)));
  console.log(`system ${system.name} has client ${client.clientId}; ${people.length} users signed in to the console`);

  const tokenSamples: { at: number; ms: number }[] = [];
  let browserHops = 0;
  const get = async (jar: CookieJar, where: string): Promise<Answer> => {
    const res = await request(origin, "GET", where, { cookie: jar.header(), accept: "text/html" });
    jar.take(res.headers["set-cookie"]);
    return res;
  };

  /** One complete flow; returns its milliseconds. The first of each client goes through the interaction page. */
  const flow = async (i: number): Promise<number> => {
    const jar = jars[i]!;
    const began = performance.now();
    const verifier = randomBytes(32).toString("base64url");
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    const state = randomBytes(8).toString("base64url");
    const query = new URLSearchParams({
      client_id: client.clientId,
      response_type: "code",
      scope: "openid profile email groups",
      redirect_uri: REDIRECT_URI,
      state,
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    let where = `/oidc/auth?${query}`;
    let code: string | null = null;
    for (let hop = 0; hop < 6 && code === null; hop++) {
      const res = await get(jar, where);
      browserHops++;
      const next = res.headers.location ?? /^0; url=(.+)$/.exec(String(res.headers.refresh ?? ""))?.[1];
      if (!next) throw new Error(`${where} answered ${res.status}`);
      const url = new URL(next, origin);
      if (url.href.startsWith(REDIRECT_URI)) {
        code = url.searchParams.get("code");
        if (!code || url.searchParams.get("state") !== state) throw new Error(`came back without a code: ${url.search}`);
      } else where = `${url.pathname}${url.search}`;
    }
    if (!code) throw new Error("no code after six hops");
    const tokenStart = performance.now();
    const form = new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, code_verifier: verifier }).toString();
    const token = await request(origin, "POST", "/oidc/token", { authorization: basic, "content-type": "application/x-www-form-urlencoded" }, form);
    tokenSamples.push({ at: tokenStart, ms: performance.now() - tokenStart });
    if (token.status !== 200) throw new Error(`the token endpoint answered ${token.status}: ${token.body}`);
    const accessToken = (JSON.parse(token.body) as { access_token: string }).access_token;
    const me = await request(origin, "GET", "/oidc/me", { authorization: `Bearer ${accessToken}` });
    if (me.status !== 200 || !me.body.includes('"gatehouse_permission":"read')) throw new Error(`userinfo answered ${me.status}: ${me.body}`);
    return performance.now() - began;
  };

  const loadStart = performance.now();
  const result = await load("oidc", serverWithPostgres(db, gatehouse), flow);
  const measured = tokenSamples
    .filter((s) => s.at >= loadStart + WARMUP_MS)
    .map((s) => s.ms)
    .sort((a, b) => a - b);
  console.log(
    `code flows (authorize → token → userinfo)  ${result.perSecond.toFixed(0).padStart(6)} flows/s  p50 ${result.p50.toFixed(1)} ms  p99 ${result.p99.toFixed(1)} ms  (n=${result.requests})`,
  );
  console.log(cpuLine(result).replace("per request", "per flow"));
  const tokenP50 = percentile(measured, 50);
  const tokenP99 = percentile(measured, 99);
  console.log(`browser requests per flow (authorize and its redirects): ${(browserHops / tokenSamples.length).toFixed(2)}`);
  console.log(`token endpoint: p50 ${tokenP50.toFixed(1)} ms, p99 ${tokenP99.toFixed(1)} ms (n=${measured.length})`);
  console.log(
    JSON.stringify({
      bench: "oidc",
      concurrency: CONCURRENCY,
      flowsPerSecond: Math.round(result.perSecond),
      flowP50Ms: Number(result.p50.toFixed(1)),
      flowP99Ms: Number(result.p99.toFixed(1)),
      tokenP50Ms: Number(tokenP50.toFixed(1)),
      tokenP99Ms: Number(tokenP99.toFixed(1)),
      cpuMsPerFlow: Object.fromEntries(Object.entries(result.cpu.perRequest).map(([k, v]) => [k, Number(v.toFixed(2))])),
    }),
  );
} finally {
  for (const child of children) await stopChild(child);
  clientAgent.destroy();
  await db?.destroy();
  await rm(dataDir, { recursive: true, force: true });
  if (process.env.BENCH_KEEP_SCHEMA !== "1") await resetSchema(SCHEMA, false);
}
