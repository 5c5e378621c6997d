import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser } from "../helpers/app-process.ts";
import { pageText } from "../helpers/html.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

function startMain(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/**
 * A form post on a connection of its own, held in flight: the headers go out with "Expect: 100-continue", so the
 * server's "100 Continue" says that it has taken the request up; then only the first half of the body is sent.
 * finish() sends the rest; `response` is everything the server wrote, once it closes the connection.
 */
async function postInFlight(port: number, path: string, body: string, cookie = ""): Promise<{ finish: () => void; response: Promise<string> }> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  let received = "";
  const continued = new Promise<void>((resolve) => {
    socket.on("data", (chunk) => {
      received += chunk;
      if (received.startsWith("HTTP/1.1 100 Continue")) resolve();
    });
  });
  const response = new Promise<string>((resolve) => socket.on("close", () => resolve(received.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, ""))));
  const half = Math.floor(body.length / 2);
  socket.write(
    [
      `POST ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      "Content-Type: application/x-www-form-urlencoded",
      `Content-Length: ${Buffer.byteLength(body)}`,
      "Accept: text/html",
      "Expect: 100-continue",
      "Connection: close",
      ...(cookie ? [`Cookie: ${cookie}`] : []),
      "",
      "",
    ].join("\r\n"),
  );
  await continued;
  socket.write(body.slice(0, half));
  return { finish: () => void socket.write(body.slice(half)), response };
}

async function waitForListening(output: () => string, exited: Promise<number | null>): Promise<void> {
  let done = false;
  exited.then(() => {
    done = true;
  });
  while (!output().includes("Gatehouse is listening")) {
    if (done) throw new Error(`main exited before listening:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("src/main.ts as a process", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "gatehouse-main-"));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("refuses to start with one clear line per bad variable", async () => {
    const { output, exited } = startMain({ PORT: "eighty", LOG_LEVEL: "loud", DATA_DIR: dataDir });
    expect(await exited).toBe(1);
    const lines = output().trim().split("\n");
    expect(lines[0]).toBe("Gatehouse cannot start; fix these environment variables:");
    expect(lines.filter((l) => l.startsWith("  PORT:"))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith("  LOG_LEVEL:"))).toHaveLength(1);
    expect(output()).not.toMatch(/at .*\.ts:\d+/);
  });

  it("writes JSON lines to a pipe, and one readable line per event with LOG_FORMAT=pretty", async () => {
    for (const format of ["", "pretty"]) {
      const port = await freePort();
      const { child, output, exited } = startMain({ PORT: String(port), DATA_DIR: dataDir, LOG_FORMAT: format });
      await waitForListening(output, exited);
      await fetch(`http://127.0.0.1:${port}/login`, { redirect: "manual" });
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      const lines = output().trim().split("\n");
      const listening = lines.find((line) => line.includes("Gatehouse is listening")) ?? "";
      if (format === "pretty") {
        expect(listening).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: Gatehouse is listening \{"url":/);
        expect(lines.filter((line) => line.startsWith("{"))).toEqual([]);
        expect(lines.find((line) => line.includes("request completed"))).toMatch(
          /\] INFO: request completed: GET \/login 303 \d+ ms from 127\.0\.0\.1 \{"reqId":"[0-9a-f-]{36}"\}$/,
        );
      } else {
        expect(JSON.parse(listening)).toMatchObject({ level: 30, msg: "Gatehouse is listening", port });
      }
      expect(lines.at(-1)).toContain("stopped");
    }
  });

  it("writes readable lines on a terminal without being told", async () => {
    const port = await freePort();
    // util-linux's script(1) runs the process on a pseudo-terminal, as a person's shell would.
    const child = spawn("script", ["-qec", `${process.execPath} --import tsx src/main.ts`, "/dev/null"], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "info", PORT: String(port), DATA_DIR: dataDir, TERM: "dumb" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let output = "";
    child.stdout?.on("data", (chunk) => {
      output += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await waitForListening(() => output, exited);
    const plain = stripVTControlCharacters(output);
    expect(plain).toMatch(/\] INFO: Gatehouse is listening/);
    expect(plain).not.toContain('"msg":"Gatehouse is listening"');
    child.kill("SIGTERM");
    await exited;
  });

  it("finishes a request in flight on SIGTERM, then exits 0", async () => {
    const port = await freePort();
    const { child, output, exited } = startMain({ PORT: String(port), DATA_DIR: dataDir, ADMIN_USERNAME: "chief", ADMIN_PASSWORD: "a long enough admin password" });
    await waitForListening(output, exited);

    // A request whose body is still arriving when the signal comes.
    const socket = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    const body = "username=chief&password=x";
    socket.write(`POST /login HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\nusername=`);
    let response = "";
    socket.on("data", (chunk) => {
      response += chunk;
    });
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    await new Promise((r) => setTimeout(r, 200));

    child.kill("SIGTERM");
    while (!output().includes("shutting down")) await new Promise((r) => setTimeout(r, 50));
    socket.write(body.slice("username=".length));
    await closed;

    expect(response).toMatch(/^HTTP\/1\.1 403 /);
    expect(await exited).toBe(0);
    expect(output()).toContain('"msg":"stopped"');
  });

  it("finishes several requests in flight on SIGTERM, writes among them, keeps what they wrote, and refuses new connections", async () => {
    const env = { DATA_DIR: dataDir, ADMIN_USERNAME: "chief", ADMIN_PASSWORD: "a long enough admin password" };
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const first = startMain({ ...env, PORT: String(port) });
    await waitForListening(first.output, first.exited);

    const admin = new Browser();
    await admin.signIn(base, "chief", "a long enough admin password");
    const visitor = new Browser();
    await visitor.refreshToken(base, "/login");
    const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

    // Three requests taken up and waiting for the rest of their bodies: an administrator creating a team, someone
    // signing in, and a form without its token; and a keep-alive connection that sits idle.
    const inFlight = await Promise.all([
      postInFlight(port, "/admin/teams", form({ _csrf: admin.token ?? "", name: "made-during-shutdown", description: "" }), admin.cookieHeader()),
      postInFlight(port, "/login", form({ _csrf: visitor.token ?? "", username: "chief", password: "a long enough admin password" }), visitor.cookieHeader()),
      postInFlight(port, "/login", form({ username: "chief", password: "x" })),
    ]);
    const idle = net.connect(port, "127.0.0.1");
    let idleAnswer = "";
    idle.on("data", (chunk) => {
      idleAnswer += chunk;
    });
    const idleClosed = new Promise<void>((resolve) => idle.on("close", () => resolve()));
    idle.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: keep-alive\r\n\r\n`);
    while (!idleAnswer.includes('{"status":"ok"}')) await new Promise((r) => setTimeout(r, 20));

    first.child.kill("SIGTERM");
    while (!first.output().includes("shutting down")) await new Promise((r) => setTimeout(r, 50));
    // The idle connection is closed at once, and a new connection is refused.
    await idleClosed;
    const refused = await new Promise<string>((resolve) => {
      const late = net.connect(port, "127.0.0.1");
      late.once("connect", () => {
        late.destroy();
        resolve("connected");
      });
      late.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    expect(refused).toBe("ECONNREFUSED");

    for (const request of inFlight) request.finish();
    const [created, signedIn, tokenless] = await Promise.all(inFlight.map((r) => r.response));
    expect(created).toMatch(/^HTTP\/1\.1 303 /);
    expect(created).toMatch(/\r\nLocation: \/admin\/teams\/\d+\r\n/i);
    expect(signedIn).toMatch(/^HTTP\/1\.1 303 /);
    const sessionCookie = /\r\nSet-Cookie: (gatehouse\.sid=[^;]+);/i.exec(signedIn ?? "")?.[1];
    expect(sessionCookie).toBeDefined();
    expect(tokenless).toMatch(/^HTTP\/1\.1 403 /);
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain('"msg":"stopped"');

    // Started again on the same data: the team is there, and the session of the sign-in that finished during the
    // shutdown is still signed in.
    const second = startMain({ ...env, PORT: String(port) });
    try {
      await waitForListening(second.output, second.exited);
      const teams = await admin.get(base, "/admin/teams");
      expect(teams.status).toBe(200);
      expect(pageText(teams.text)).toContain("made-during-shutdown");
      const [name = "", value = ""] = (sessionCookie ?? "").split("=");
      const returning = new Browser();
      returning.restore(new Map([[name, value]]));
      const profile = await returning.get(base, "/profile");
      expect(profile.status).toBe(200);
      expect(profile.text).toContain("Sign out");
    } finally {
      second.child.kill("SIGTERM");
      expect(await second.exited).toBe(0);
    }
  });
});
