import { describe, expect, it } from "vitest";
import { BREAKER_POLICY, DirectoryBreaker } from "../../src/ldap/circuit-breaker.ts";

const server = { id: 1, url: "ldap://dir.example.test" };

function breakerAt(start = 1_000_000) {
  let now = start;
  const breaker = new DirectoryBreaker(() => now);
  return { breaker, pass: (seconds: number) => (now += seconds * 1000) };
}

describe("the directory's circuit breaker", () => {
  it("marks a server down after 2 timeouts or refused connections in a row, once, and skips it for 30 seconds", () => {
    const { breaker, pass } = breakerAt();
    expect(breaker.failed(server, "timeout", "no answer")).toBeUndefined();
    expect(breaker.admit(server)).toEqual({ ask: true });
    expect(breaker.failed(server, "connection", "ECONNREFUSED")).toEqual({ serverId: 1, url: server.url, to: "down", detail: "ECONNREFUSED" });
    const admitted = breaker.admit(server);
    expect(admitted.ask).toBe(false);
    pass(BREAKER_POLICY.openSeconds - 1);
    expect(breaker.admit(server).ask).toBe(false);
    // Another failure reported meanwhile (a sign-in that started before) is no second "down".
    expect(breaker.failed(server, "timeout", "no answer")).toBeUndefined();
  });

  it("an answer of any kind in between starts the count again; TLS and other faults are not counted", () => {
    const { breaker } = breakerAt();
    breaker.failed(server, "timeout", "x");
    expect(breaker.answered(server)).toBeUndefined();
    breaker.failed(server, "timeout", "x");
    expect(breaker.failed(server, "tls", "bad certificate")).toBeUndefined();
    expect(breaker.failed(server, "error", "service account refused")).toBeUndefined();
    expect(breaker.admit(server)).toEqual({ ask: true });
  });

  it("after 30 seconds one sign-in tries again: others still skip it; a failure keeps it down, an answer marks it up", () => {
    const { breaker, pass } = breakerAt();
    breaker.failed(server, "timeout", "x");
    breaker.failed(server, "timeout", "x");
    pass(BREAKER_POLICY.openSeconds);
    expect(breaker.admit(server)).toEqual({ ask: true });
    expect(breaker.admit(server).ask).toBe(false);
    expect(breaker.failed(server, "timeout", "x")).toBeUndefined();
    expect(breaker.admit(server).ask).toBe(false);
    pass(BREAKER_POLICY.openSeconds);
    expect(breaker.admit(server)).toEqual({ ask: true });
    expect(breaker.answered(server)).toEqual({ serverId: 1, url: server.url, to: "up" });
    expect(breaker.admit(server)).toEqual({ ask: true });
  });

  it("knows servers by id and address: another server, or the same id at a new address, is asked", () => {
    const { breaker } = breakerAt();
    breaker.failed(server, "timeout", "x");
    breaker.failed(server, "timeout", "x");
    expect(breaker.admit({ id: 2, url: server.url })).toEqual({ ask: true });
    expect(breaker.admit({ id: 1, url: "ldap://new.example.test" })).toEqual({ ask: true });
  });
});
