import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import { fileURLToPath } from "node:url";
import type { Db } from "../../src/db/index.ts";
import { csrfTokenFrom } from "./agent.ts";
import { TEST_APP_SECRET } from "./app.ts";
import { unsharedPort } from "./ports.ts";

/**
 * src/main.ts run as a real process (as `npm start` runs it), and a small browser-like HTTP client for it: what
 * the tests of several instances and of database faults need, where the app must be a process of its own (its
 * own pool, its own timers, a process that can crash or be signalled).
 */

const root = fileURLToPath(new URL("../..", import.meta.url));

/**
 * A port that was free a moment ago and that the kernel hands out to nobody else (ports.ts): src/main.ts binds it
 * only once it has started, a second or more later, and a restarted instance binds it again.
 */
export function freePort(): Promise<number> {
  return unsharedPort();
}

/**
 * The URL of the schema `db` works in (createTestDb's own), on the server TEST_DATABASE_URL names, optionally
 * reached through another host and port (a proxy): a child process given it sees the same tables as the test.
 */
export async function schemaUrl(db: Db, via?: { host: string; port: number }): Promise<string> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) throw new Error("schemaUrl needs TEST_DATABASE_URL");
  const schema = (await db.raw("SELECT current_schema() AS s")).rows[0].s as string;
  const url = new URL(base);
  url.searchParams.set("options", `-c search_path=${schema}`);
  if (via) {
    url.hostname = via.host;
    url.port = String(via.port);
  }
  return url.toString();
}

/** Where TEST_DATABASE_URL's server listens. */
export function postgresAddress(): { host: string; port: number } {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) throw new Error("postgresAddress needs TEST_DATABASE_URL");
  const url = new URL(base);
  return { host: url.hostname || "127.0.0.1", port: Number(url.port || 5432) };
}

export interface AppProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  /** Everything the process wrote (stdout and stderr) so far. */
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** True while the process runs. */
  running(): boolean;
  /** SIGTERM, then the exit code; SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * src/main.ts as a child process on a free port: LOG_LEVEL info, production, the test app secret, then `env`; its
 * stdout and stderr are pipes for the caller to read (or not), and its exit is watched.
 */
export async function spawnMain(env: Record<string, string>) {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      LOG_LEVEL: "info",
      NODE_ENV: "production",
      APP_SECRET: TEST_APP_SECRET,
      BASE_URL: "http://127.0.0.1",
      PORT: String(port),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      exitCode = code;
      resolve(code);
    }),
  );
  return { child, port, exited, running: () => exitCode === undefined, exitCode: () => exitCode };
}

/**
 * Starts src/main.ts on a free port with `env` (DATABASE_URL and the like) and the test app secret, and waits until
 * it says it is listening. LOG_LEVEL is info, so its log (JSON lines) can be read through output().
 */
export async function startAppProcess(env: Record<string, string>): Promise<AppProcess> {
  const { child, port, exited, running, exitCode } = await spawnMain(env);
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const proc: AppProcess = {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    exited,
    running,
    async stop(graceMs = 25_000) {
      if (!running()) return exited;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  const deadline = Date.now() + 90_000;
  while (!output.includes("Gatehouse is listening")) {
    if (!running()) throw new Error(`src/main.ts exited (${exitCode()}) before listening:\n${output}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`src/main.ts did not start listening in time:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return proc;
}

/** The log lines (parsed JSON) of a process whose message is `msg`. */
export function logLines(proc: AppProcess, msg: string): Record<string, unknown>[] {
  return proc
    .output()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return {};
      }
    })
    .filter((entry) => entry.msg === msg);
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The Location header (redirects), if any. */
  location: string | undefined;
}

/**
 * One HTTP request on a connection of its own. Rejects on a network error, and on no complete answer within
 * `timeoutMs`: a request that hangs is a failure of the app, not something to wait out.
 */
export function httpRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<HttpResponse> {
  const { method = "GET", headers = {}, body, timeoutMs = 30_000 } = options;
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, agent: false, headers: { Connection: "close", ...headers, ...(body !== undefined ? { "Content-Length": String(Buffer.byteLength(body)) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString("utf8"),
            location: typeof res.headers.location === "string" ? res.headers.location : undefined,
          });
        });
        res.on("error", (error) => {
          clearTimeout(timer);
          reject(error);
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * A browser as the tests need one: it keeps its cookies and the CSRF token of its session, and can send each
 * request to any instance (`base`), as a load balancer in front of several instances would.
 */
export class Browser {
  private readonly cookies = new Map<string, string>();
  token: string | undefined;

  cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  /** The cookies as they are now, to replay later (an old, signed-out session). */
  snapshot(): Map<string, string> {
    return new Map(this.cookies);
  }

  restore(cookies: Map<string, string>): void {
    this.cookies.clear();
    for (const [name, value] of cookies) this.cookies.set(name, value);
  }

  private remember(res: HttpResponse): void {
    const setCookie = res.headers["set-cookie"] ?? [];
    for (const cookie of setCookie) {
      const [pair = "", ...attributes] = cookie.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || value === "";
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(base: string, method: string, path: string, body?: string, timeoutMs?: number): Promise<HttpResponse> {
    const headers: Record<string, string> = { Accept: "text/html" };
    const cookie = this.cookieHeader();
    if (cookie) headers.Cookie = cookie;
    if (body !== undefined) headers["Content-Type"] = "application/x-www-form-urlencoded";
    const res = await httpRequest(`${base}${path}`, { method, headers, body, timeoutMs });
    this.remember(res);
    return res;
  }

  get(base: string, path: string, timeoutMs?: number): Promise<HttpResponse> {
    return this.request(base, "GET", path, undefined, timeoutMs);
  }

  /** A form post with the session's CSRF token (load a page with a form first, or sign in). */
  post(base: string, path: string, fields: Record<string, string> = {}, timeoutMs?: number): Promise<HttpResponse> {
    const body = new URLSearchParams({ ...(this.token ? { _csrf: this.token } : {}), ...fields }).toString();
    return this.request(base, "POST", path, body, timeoutMs);
  }

  /** Loads a page with a form and keeps its CSRF token. */
  async refreshToken(base: string, path = "/login"): Promise<string> {
    const res = await this.get(base, path);
    if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}`);
    this.token = csrfTokenFrom(res.text);
    return this.token;
  }

  /** Loads /login, posts the form, and returns the answer to the post (303 on success). */
  async attemptSignIn(base: string, username: string, password: string): Promise<HttpResponse> {
    await this.refreshToken(base, "/login");
    return this.post(base, "/login", { username, password });
  }

  /** Signs in (throws unless it worked), then keeps the new session's token from the Profile page. */
  async signIn(base: string, username: string, password: string): Promise<void> {
    const res = await this.attemptSignIn(base, username, password);
    if (res.status !== 303) throw new Error(`sign-in as ${username} answered ${res.status}`);
    await this.refreshToken(base, "/profile");
  }
}

/** A stack trace as Node prints one ("at fn (file.ts:12:3)"), which no page may show. */
export const STACK_TRACE = /\bat [^\n]*\(?[^\s()]+\.[cm]?[jt]s:\d+:\d+\)?/;
