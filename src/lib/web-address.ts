import { z } from "zod";
import { isValidHost } from "./host.ts";

/**
 * A system's web address: where its own web interface answers, `http(s)://host[:port]` and nothing more. Stored as
 * the URL's origin (scheme and host lower-cased, an IDN host in its ASCII form, the scheme's default port dropped),
 * so that `HTTPS://NAS1.example.com:443/` and `https://nas1.example.com` are one address.
 */
export interface WebAddress {
  /** The origin, as links use it: "https://nas1.example.com", "http://10.0.0.5:8080". */
  address: string;
  /** Host and port as a request's Host header names it: what makes the address unique ("nas1.example.com"). */
  hostKey: string;
}

const PROBLEM =
  "Web address must be an http:// or https:// address with a host and an optional port and nothing after it, like https://nas1.example.com or http://10.0.0.5:8080.";

/** The web address `typed` names, or undefined when it is not one. */
export function parseWebAddress(typed: string): WebAddress | undefined {
  if (!/^https?:\/\//i.test(typed) || /[\s\\]/.test(typed)) return undefined;
  let url: URL;
  try {
    url = new URL(typed);
  } catch {
    return undefined;
  }
  // Only a bare origin: a path, query, fragment or credentials would be lost (or worse, trusted) at the gate.
  const rest = typed.replace(/^https?:\/\/[^/?#]*/i, "");
  if ((rest !== "" && rest !== "/") || url.username || url.password) return undefined;
  if (!isValidHost(url.host)) return undefined;
  return { address: url.origin, hostKey: url.host };
}

/** The Web address field of a system: blank means none (null). */
export const webAddressField = z
  .string()
  .default("")
  .transform((v) => v.trim())
  .transform((v, ctx) => {
    if (v === "") return null;
    const parsed = v.length <= 300 ? parseWebAddress(v) : undefined;
    if (!parsed) {
      ctx.addIssue({ code: "custom", message: PROBLEM });
      return z.NEVER;
    }
    return parsed.address;
  });

/** How the gate reads a request: by its method, or every request as a change. */
export const GATE_MODES = ["by-method", "read-write-only"] as const;
export type GateMode = (typeof GATE_MODES)[number];
export const GATE_MODE_LABELS: Record<GateMode, string> = { "by-method": "By method", "read-write-only": "Read/write only" };

export const gateModeField = z.enum(GATE_MODES, { error: "Choose a gate mode: By method or Read/write only." }).default("by-method");
