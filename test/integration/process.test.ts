import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

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
});
