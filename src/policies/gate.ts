import type { GateMode } from "../lib/web-address.ts";
import type { PermissionLevel } from "../types/access.ts";

/**
 * What the gate lets through to a system's own web interface: the same effective permission the console uses
 * (docs/domain.md, "Grants and the resolver"), read against what the request does. Pure; the caller brings the
 * level from the resolver, computed for this request.
 */

/** Methods that only read (RFC 9110 §9.2.1 safe methods, less TRACE, which no interface needs). */
const READING_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export interface GateRequest {
  /** The method of the request the proxy is asking about, as it sent it. */
  method: string;
  /** True when the request asks to become a WebSocket (`Upgrade: websocket`): a channel that can carry changes. */
  websocket: boolean;
}

/** The level a request needs: read for reading methods, read/write for anything else (unknown methods included). */
export function levelNeeded(mode: GateMode, request: GateRequest): 1 | 2 {
  if (mode === "read-write-only" || request.websocket) return 2;
  return READING_METHODS.has(request.method.toUpperCase()) ? 1 : 2;
}

export type GateRefusal = "no_access" | "read_only";

export type GateDecision = { allowed: true; permission: "read" | "read/write" } | { allowed: false; reason: GateRefusal; needs: 1 | 2 };

/** Whether a person with `level` on the system may make `request` to it. */
export function decide(level: PermissionLevel, mode: GateMode, request: GateRequest): GateDecision {
  const needs = levelNeeded(mode, request);
  if (level >= needs) return { allowed: true, permission: level === 2 ? "read/write" : "read" };
  return { allowed: false, reason: level === 0 ? "no_access" : "read_only", needs };
}

/** Whether a person may be handed a gate session for a system at all: with at least read (else nothing would pass). */
export function mayEnter(level: PermissionLevel): boolean {
  return level >= 1;
}
