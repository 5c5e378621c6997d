import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import net, { type AddressInfo } from "node:net";

/**
 * Loopback ports for the servers tests start, stop and start again on the same port (TestMailServer, TestDirectory,
 * src/main.ts processes), or leave closed so that connections are refused.
 *
 * A port from `listen(0)` is taken from the kernel's ephemeral range, which the kernel hands out again to anyone:
 * to supertest's server of each request, to every outgoing connection, in this process, in the other test worker
 * (files run in parallel) and in any other process on the machine. Once such a port is closed, the next
 * `listen(0)` anywhere may get it, and "start again on the same port" fails with EADDRINUSE, or a "refused" URL
 * reaches some other server. A port outside that range (net.ipv4.ip_local_port_range) is never handed out by the
 * kernel: only a process that asks for it by number can take it, so tests pick one at random from a wide range.
 */

/** The kernel's ephemeral range (Linux; the usual default elsewhere). */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (low && high && low <= high) return [low, high];
  } catch {
    // Not Linux: assume its default.
  }
  return [32768, 60999];
}

/** At least 1 000 ports that the kernel does not hand out, below the ephemeral range or above it. */
function unsharedRange(): [number, number] | undefined {
  const [low, high] = ephemeralRange();
  if (low - 1 - 20_000 >= 1_000) return [20_000, low - 1];
  if (65_535 - (high + 1) >= 1_000) return [high + 1, 65_535];
  return undefined;
}

function listenOn(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(undefined));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => resolve(server));
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port from the ephemeral range that was free a moment ago (listen on 0, read it, close). */
export async function ephemeralPort(): Promise<number> {
  const server = await listenOn(0);
  if (!server) throw new Error("could not listen on 127.0.0.1:0");
  const { port } = server.address() as AddressInfo;
  await close(server);
  return port;
}

/**
 * A port on 127.0.0.1 that is free now and that the kernel does not hand out to others (see above): a server may
 * close it and listen on it again, and a URL with it stays refused while nothing listens. Falls back to an
 * ephemeral port where the kernel leaves no such range.
 */
export async function unsharedPort(): Promise<number> {
  const range = unsharedRange();
  if (!range) return ephemeralPort();
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = randomInt(range[0], range[1] + 1);
    const server = await listenOn(port);
    if (!server) continue;
    await close(server);
    return port;
  }
  return ephemeralPort();
}
