import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { unsharedPort } from "./ports.ts";

/**
 * Debian's nginx and Caddy, started by the tests on loopback ports in front of a small upstream that answers with
 * the headers it received: what the gate's tests need to see a real proxy ask Gatehouse and pass its answer on.
 */

function installed(command: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const onCi = process.env.CI === "true";
export const nginxInstalled = installed("nginx");
export const caddyInstalled = installed("caddy");
/** Skipped with a notice outside CI when the proxy is missing; under CI=true the tests run and fail instead. */
export const skipProxyTests = (!nginxInstalled || !caddyInstalled) && !onCi;

if (skipProxyTests) {
  console.warn(
    [
      "",
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
      "!!  GATE PROXY TESTS SKIPPED: nginx or caddy is not installed.",
      "!!  Install them (apt-get install -y nginx caddy) to run them. Under CI=true they fail instead.",
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
      "",
    ].join("\n"),
  );
}

/** What the upstream saw of one request. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** The system's own web interface: answers 200 with what it received, and remembers it. */
export async function startUpstream(): Promise<{ port: number; seen: SeenRequest[]; close: () => Promise<void> }> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    req.resume();
    req.on("end", () => res.writeHead(200, { "Content-Type": "text/plain" }).end("upstream answered\n"));
  });
  // A WebSocket handshake is accepted and the connection closed at once: what got through is what counts.
  server.on("upgrade", (req, socket) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    socket.end("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  });
  const port = await unsharedPort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { port, seen, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`the proxy exited (${child.exitCode}):\n${output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the proxy did not listen on ${port}:\n${output()}`);
}

export interface RunningProxy {
  port: number;
  stop: () => Promise<void>;
}

function run(command: string, args: string[], env: Record<string, string>, dir: string, port: number): Promise<RunningProxy> {
  const child = spawn(command, args, { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return waitForPort(port, child, () => output).then(
    () => ({ port, stop }),
    async (error) => {
      await stop();
      throw error;
    },
  );
}

/** The server block that docker-compose.yml's nginx runs, which the tests fill in the same way (envsubst's `${NAME}`). */
const NGINX_TEMPLATE = readFileSync(new URL("../../docker/gate/nginx.conf.template", import.meta.url), "utf8");

export function fillNginxTemplate(values: Record<string, string>): string {
  return NGINX_TEMPLATE.replace(/\$\{([A-Z_]+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`docker/gate/nginx.conf.template needs ${name}`);
    return value;
  });
}

/**
 * nginx with docker/gate/nginx.conf.template (every host on its port is the system), or, with `gate: false`, the
 * same proxy without the gate (for bench:gate's comparison).
 */
export async function startNginx(options: { gatehousePort: number; upstreamPort: number; signInBase: string; gate?: boolean }): Promise<RunningProxy> {
  const dir = mkdtempSync(path.join(tmpdir(), "gatehouse-nginx-"));
  const port = await unsharedPort();
  const upstream = `http://127.0.0.1:${options.upstreamPort}`;
  const server =
    options.gate === false
      ? `server { listen 127.0.0.1:${port}; location / { proxy_pass ${upstream}; } }`
      : fillNginxTemplate({
          GATE_LISTEN: `127.0.0.1:${port}`,
          GATE_SERVER_NAME: "_",
          GATEHOUSE_INTERNAL: `127.0.0.1:${options.gatehousePort}`,
          GATEHOUSE_PUBLIC: options.signInBase,
          SYSTEM_UPSTREAM: upstream,
        });
  const config = `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
${server}
}
`;
  writeFileSync(path.join(dir, "nginx.conf"), config);
  return run("nginx", ["-c", path.join(dir, "nginx.conf"), "-p", dir, "-e", path.join(dir, "error.log")], {}, dir, port);
}

/**
 * Caddy with the two handle blocks the README shows, for any host on its port (the README names one host; here
 * every host is sent to the gate, so that a host no system has is Gatehouse's to refuse).
 */
export async function startCaddy(options: { gatehousePort: number; upstreamPort: number }): Promise<RunningProxy> {
  const dir = mkdtempSync(path.join(tmpdir(), "gatehouse-caddy-"));
  const port = await unsharedPort();
  const gatehouse = `127.0.0.1:${options.gatehousePort}`;
  const caddyfile = `{
  admin off
  auto_https off
}
http://:${port} {
  bind 127.0.0.1
  handle /.gatehouse/* {
    reverse_proxy ${gatehouse}
  }
  handle {
    forward_auth ${gatehouse} {
      uri /gate/forward-auth
      copy_headers Remote-User Remote-Name Remote-Email Remote-Groups Remote-Permission X-Gatehouse-Jwt
    }
    reverse_proxy 127.0.0.1:${options.upstreamPort}
  }
}
`;
  writeFileSync(path.join(dir, "Caddyfile"), caddyfile);
  return run(
    "caddy",
    ["run", "--config", path.join(dir, "Caddyfile"), "--adapter", "caddyfile"],
    { HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
    dir,
    port,
  );
}

/** One request to the proxy for `host` (node:http, since fetch will not send a Host header of the caller's). */
export function throughProxy(
  port: number,
  host: string,
  options: { method?: string; path?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method: options.method ?? "GET", path: options.path ?? "/", headers: { Host: host, ...options.headers } },
      (res) => {
        let body = "";
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    // A 101 answer to an upgrade: the status and headers are all there is to see.
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: "" });
    });
    req.on("error", reject);
    req.end();
  });
}
