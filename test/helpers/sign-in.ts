import { createHmac } from "node:crypto";
import type { Db } from "../../src/db/index.ts";
import { deriveKey } from "../../src/lib/app-secret.ts";
import { type AuditEvent, listAuditEvents } from "../../src/repositories/audit-events.ts";
import type { TestAgent } from "./agent.ts";
import { TEST_APP_SECRET } from "./app.ts";

/** The session cookie's name when the base URL is plain http (as in createTestApp). */
export const SESSION_COOKIE = "gatehouse.sid";
/** The cookie-signing key createApp derives from the test app secret. */
export const TEST_SESSION_SECRET = deriveKey(TEST_APP_SECRET, "session-cookie").toString("base64url");

type HasHeaders = { headers: Record<string, unknown> };

/** "gatehouse.sid=s%3A…" as a response set it (name=value only), or undefined. */
export function sessionCookieFrom(res: HasHeaders): string | undefined {
  const header = res.headers["set-cookie"];
  const cookies = Array.isArray(header) ? (header as string[]) : typeof header === "string" ? [header] : [];
  const found = cookies.find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  return found?.split(";")[0];
}

/** The session id inside a signed cookie value ("gatehouse.sid=s%3A<sid>.<signature>"). */
export function sidOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(cookie.indexOf("=") + 1));
  if (!value.startsWith("s:")) throw new Error(`not a signed session cookie: ${cookie}`);
  return value.slice(2, value.lastIndexOf("."));
}

/** A cookie for `sid`, signed the way express-session (cookie-signature) signs it. */
export function signedSessionCookie(sid: string, secret = TEST_SESSION_SECRET): string {
  const signature = createHmac("sha256", secret).update(sid).digest("base64").replace(/=+$/, "");
  return `${SESSION_COOKIE}=${encodeURIComponent(`s:${sid}.${signature}`)}`;
}

/** Loads /login for a fresh CSRF token, then posts the form; returns the response to the POST. */
export async function attemptSignIn(agent: TestAgent, username: string, password: string, extra: Record<string, string> = {}) {
  await agent.refreshToken("/login");
  return agent.post("/login", { username, password, ...extra });
}

export interface FailureRow {
  failures: number;
  blockedUntil: Date | null;
  lastFailedAt: Date;
}

export async function failureRow(db: Db, scope: "account" | "ip", key: string): Promise<FailureRow | undefined> {
  const row = await db("login_failures").where({ scope, key }).first();
  if (!row) return undefined;
  return {
    failures: Number(row.failures),
    blockedUntil: row.blocked_until === null ? null : new Date(row.blocked_until),
    lastFailedAt: new Date(row.last_failed_at),
  };
}

export async function failureRows(db: Db): Promise<{ scope: string; key: string; failures: number }[]> {
  const rows = await db("login_failures").select("scope", "key", "failures").orderBy(["scope", "key"]);
  return rows.map((r: { scope: string; key: string; failures: number }) => ({ ...r, failures: Number(r.failures) }));
}

/** The wait that the last failure set, measured by the database's own clock (no test timing involved). */
export async function blockSeconds(db: Db, scope: "account" | "ip", key: string): Promise<number | null> {
  const row = await db("login_failures")
    .where({ scope, key })
    .first(db.raw("extract(epoch from blocked_until - last_failed_at)::float8 as seconds"));
  return row?.seconds === null || row?.seconds === undefined ? null : Math.round(Number(row.seconds));
}

/** Moves a counter's block into the past: the wait has run out without the test sleeping. */
export async function endBlock(db: Db, scope: "account" | "ip", key: string): Promise<void> {
  await db("login_failures")
    .where({ scope, key })
    .update({ blocked_until: db.raw("now() - interval '1 second'") });
}

/** Sets a counter as if `failures` attempts had failed (window still open, no wait running). */
export async function presetFailures(db: Db, scope: "account" | "ip", key: string, failures: number): Promise<void> {
  await db("login_failures")
    .insert({ scope, key, failures, window_started_at: db.fn.now(), last_failed_at: db.fn.now(), blocked_until: null })
    .onConflict(["scope", "key"])
    .merge();
}

export async function auditEvents(db: Db, action?: string): Promise<AuditEvent[]> {
  return listAuditEvents(db, { action, limit: 1000 });
}

export async function auditCount(db: Db, prefix: string): Promise<number> {
  const events = await listAuditEvents(db, { limit: 1000 });
  return events.filter((e) => e.action.startsWith(prefix)).length;
}

export async function sessionExists(db: Db, sid: string): Promise<boolean> {
  const row = await db("sessions").where({ sid }).first("sid");
  return row !== undefined;
}

export async function sessionCountOf(db: Db, userId: number): Promise<number> {
  const row = await db("sessions").where({ user_id: userId }).count<{ count: string }[]>("* as count").first();
  return Number(row?.count ?? 0);
}

/** Rewrites the clocks a session keeps (ms since the epoch), to simulate time passing. */
export async function setSessionClocks(db: Db, sid: string, clocks: { authAt?: number; lastSeenAt?: number }): Promise<void> {
  const row = await db("sessions").where({ sid }).first("sess");
  if (!row) throw new Error(`no session ${sid}`);
  const sess = typeof row.sess === "string" ? JSON.parse(row.sess) : row.sess;
  await db("sessions")
    .where({ sid })
    .update({ sess: JSON.stringify({ ...sess, ...clocks }) });
}

/** The session cookie the agent currently holds (name=value), read from its cookie jar. */
export function agentSessionCookie(agent: TestAgent): string {
  const jar = (agent.http as unknown as { jar: { getCookies(access: unknown): { name: string; value: string }[] } }).jar;
  const all = jar.getCookies({ domain: "127.0.0.1", path: "/", secure: false, script: false });
  const cookie = all.find((c) => c.name === SESSION_COOKIE);
  if (!cookie) throw new Error("agent has no session cookie");
  return `${cookie.name}=${cookie.value}`;
}

/** The rendered page with what legitimately varies per request (CSRF token, echoed username) blanked out. */
export function normalisedLoginPage(html: string): string {
  return html.replace(/name="_csrf" value="[^"]*"/g, 'name="_csrf" value=""').replace(/(id="username"[^>]*?)value="[^"]*"/s, '$1value=""');
}
