import { describe, expect, it } from "vitest";
import { decide, levelNeeded, mayEnter } from "../../../src/policies/gate.ts";
import type { GateMode } from "../../../src/lib/web-address.ts";

describe("the gate's policy", () => {
  const needs: [GateMode, string, boolean, 1 | 2][] = [
    ["by-method", "GET", false, 1],
    ["by-method", "get", false, 1],
    ["by-method", "HEAD", false, 1],
    ["by-method", "OPTIONS", false, 1],
    ["by-method", "POST", false, 2],
    ["by-method", "PUT", false, 2],
    ["by-method", "PATCH", false, 2],
    ["by-method", "DELETE", false, 2],
    ["by-method", "TRACE", false, 2],
    ["by-method", "PROPFIND", false, 2],
    ["by-method", "", false, 2],
    ["by-method", "GET", true, 2],
    ["read-write-only", "GET", false, 2],
    ["read-write-only", "HEAD", false, 2],
    ["read-write-only", "POST", false, 2],
  ];
  it.each(needs)("%s: %s (websocket %s) needs level %i", (mode, method, websocket, level) => {
    expect(levelNeeded(mode, { method, websocket })).toBe(level);
  });

  const decisions: [string, 0 | 1 | 2, GateMode, string, boolean, ReturnType<typeof decide>][] = [
    ["no grant, GET", 0, "by-method", "GET", false, { allowed: false, reason: "no_access", needs: 1 }],
    ["no grant, POST", 0, "by-method", "POST", false, { allowed: false, reason: "no_access", needs: 2 }],
    ["read, GET", 1, "by-method", "GET", false, { allowed: true, permission: "read" }],
    ["read, POST", 1, "by-method", "POST", false, { allowed: false, reason: "read_only", needs: 2 }],
    ["read, WebSocket", 1, "by-method", "GET", true, { allowed: false, reason: "read_only", needs: 2 }],
    ["read, GET on read/write only", 1, "read-write-only", "GET", false, { allowed: false, reason: "read_only", needs: 2 }],
    ["read/write, GET", 2, "by-method", "GET", false, { allowed: true, permission: "read/write" }],
    ["read/write, DELETE", 2, "by-method", "DELETE", false, { allowed: true, permission: "read/write" }],
    ["read/write, WebSocket on read/write only", 2, "read-write-only", "GET", true, { allowed: true, permission: "read/write" }],
  ];
  it.each(decisions)("%s", (_label, level, mode, method, websocket, expected) => {
    expect(decide(level, mode, { method, websocket })).toEqual(expected);
  });

  it.each([
    [0, false],
    [1, true],
    [2, true],
  ] as const)("level %i may be handed a gate session: %s", (level, expected) => {
    expect(mayEnter(level)).toBe(expected);
  });
});
