import { isIPv4 } from "node:net";
import { z } from "zod";
import { isValidHost } from "./host.ts";

/**
 * The redirect URIs of an OpenID Connect client: where Gatehouse may send a browser back with an authorization
 * code. They are matched exactly (character for character) when a sign-in starts, so they are kept as typed, only
 * trimmed; this module decides which are acceptable at all:
 * - 1 to 10 of them (duplicates count once), each at most 2000 characters;
 * - an absolute `https://` URL with a host (a path and a query are fine), no fragment, no user name or password;
 * - `http://` only to this machine's loopback: `localhost`, 127.0.0.0/8 or `[::1]` (RFC 8252 §7.3, for a system
 *   being tried out on a workstation); a code sent over plain http anywhere else could be read on the way;
 * - no custom schemes (`com.example.app:/cb`): these clients are web servers that keep a secret, not apps.
 */

export const MAX_REDIRECT_URIS = 10;
export const MAX_REDIRECT_URI_LENGTH = 2000;

/** The field's name, as every message starts with it. */
const FIELD = "Redirect URIs";

/** The URI as a message quotes it: long ones cut short, so that the message stays readable. */
function quoted(uri: string): string {
  return `“${uri.length > 80 ? `${uri.slice(0, 60)}…` : uri}”`;
}

function isLoopbackHost(hostname: string): boolean {
  if (hostname === "localhost" || hostname === "[::1]") return true;
  return isIPv4(hostname) && hostname.startsWith("127.");
}

/**
 * What is wrong with one redirect URI (already trimmed), in words that name the field; undefined when it is fine.
 * The same rules serve another address Gatehouse sends to on a client's behalf (its back-channel logout URI), named
 * by `field`.
 */
export function redirectUriProblem(uri: string, field: string = FIELD): string | undefined {
  if (uri.length > MAX_REDIRECT_URI_LENGTH)
    return `${field}: each must be at most ${MAX_REDIRECT_URI_LENGTH} characters; ${quoted(uri)} has ${uri.length}.`;
  // Exact matching needs one spelling: a browser, the provider and the system would each encode a space, a control
  // character or a non-ASCII letter their own way, and a backslash is read as a slash by some of them.
  if (/[^\x21-\x7e]/.test(uri))
    return `${field}: ${quoted(uri)} contains a space, a control character or a character outside ASCII; write other characters percent-encoded (%C3%A9 for é) and an international domain name in its xn-- form.`;
  if (uri.includes("\\")) return `${field}: ${quoted(uri)} contains a backslash; use / in addresses.`;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)?.[1]?.toLowerCase();
  if (scheme === undefined) return `${field}: ${quoted(uri)} is not an absolute address; write it in full, like https://app.example.com/callback.`;
  if (scheme !== "https" && scheme !== "http")
    return `${field}: ${quoted(uri)} uses the scheme ${scheme}:, which Gatehouse does not send to; use an https:// address.`;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `${field}: ${quoted(uri)} is not a valid address.`;
  }
  // "https:host/cb" parses, yet is not what the system will send as its redirect_uri.
  if (!/^https?:\/\/[^/]/i.test(uri) || !isValidHost(url.host)) return `${field}: ${quoted(uri)} must start with https:// and a host name or address.`;
  if (uri.includes("#")) return `${field}: ${quoted(uri)} has a fragment (#…); the address cannot have one.`;
  // Checked on the text, since "https://@host" parses to an empty user name.
  if (/^https?:\/\/[^/?]*@/i.test(uri)) return `${field}: ${quoted(uri)} contains a user name or password (…@); remove it.`;
  if (scheme === "http" && !isLoopbackHost(url.hostname))
    return `${field}: ${quoted(uri)} must use https://; http:// is allowed only to this machine (localhost, 127.0.0.1 or [::1]).`;
  return undefined;
}

/**
 * The redirect URIs as stored: each trimmed, blank ones dropped, duplicates once, in the order given. Returns the
 * list, or the first problem (in words naming the field).
 */
export function checkRedirectUris(given: readonly string[]): { uris: string[] } | { problem: string } {
  const uris = [...new Set(given.map((uri) => uri.trim()).filter((uri) => uri !== ""))];
  if (uris.length === 0) return { problem: `${FIELD}: enter at least one, like https://app.example.com/callback.` };
  if (uris.length > MAX_REDIRECT_URIS) return { problem: `${FIELD}: at most ${MAX_REDIRECT_URIS}; you entered ${uris.length}.` };
  for (const uri of uris) {
    const problem = redirectUriProblem(uri);
    if (problem) return { problem };
  }
  return { uris };
}

function checked(given: readonly string[], ctx: z.RefinementCtx): string[] {
  const result = checkRedirectUris(given);
  if ("problem" in result) {
    ctx.addIssue({ code: "custom", message: result.problem });
    return z.NEVER;
  }
  return result.uris;
}

/** The console's textarea: one URI per line, blank lines ignored. */
export const redirectUrisTextField = z
  .string()
  .default("")
  .transform((text, ctx) => checked(text.split(/\r\n|\r|\n/), ctx));

/** The API's list of URIs. */
export const redirectUrisListField = z
  .array(z.string({ error: "Each redirect URI must be a string." }), { error: "redirectUris must be a list of addresses (strings)." })
  .max(100, { error: `${FIELD}: at most ${MAX_REDIRECT_URIS}.` })
  .transform((list, ctx) => checked(list, ctx));

export const BACKCHANNEL_FIELD = "Back-channel logout URI";

/**
 * A client's back-channel logout URI, where Gatehouse posts a logout token when a person's sign-in ends: optional
 * (blank: none), else one address under the rules of redirect URIs (https://, http:// only to loopback). Returns
 * the address trimmed, null for none, or the problem in words naming the field.
 */
export function checkBackchannelLogoutUri(given: string | null): { uri: string | null } | { problem: string } {
  const uri = (given ?? "").trim();
  if (uri === "") return { uri: null };
  const problem = redirectUriProblem(uri, BACKCHANNEL_FIELD);
  return problem ? { problem } : { uri };
}

function checkedBackchannel(given: string | null, ctx: z.RefinementCtx): string | null {
  const result = checkBackchannelLogoutUri(given);
  if ("problem" in result) {
    ctx.addIssue({ code: "custom", message: result.problem });
    return z.NEVER;
  }
  return result.uri;
}

/** The console's text field: blank for none. */
export const backchannelLogoutUriTextField = z
  .string()
  .default("")
  .transform((text, ctx) => checkedBackchannel(text, ctx));

/** The API's field: an address, or null (or "") for none. */
export const backchannelLogoutUriField = z
  .string({ error: `${BACKCHANNEL_FIELD}: give an address as a string, or null for none.` })
  .nullable()
  .transform((text, ctx) => checkedBackchannel(text, ctx));

/** The redirect URIs as the textarea shows them: one per line. */
export function redirectUrisText(uris: readonly string[]): string {
  return uris.join("\n");
}
