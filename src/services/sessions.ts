import { createHash } from "node:crypto";
import type { Config } from "../config.ts";
import type { Db, Queryable } from "../db/index.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import { assertCan } from "../policies/users.ts";
import * as sessions from "../repositories/sessions.ts";
import * as users from "../repositories/users/index.ts";
import type { Actor, User } from "../types/user.ts";
import { recordAudit } from "./audit.ts";
import { readGeneralSettings } from "./general-settings.ts";

/**
 * One's own sessions on the Profile (docs/domain.md, "Sessions and throttling"; ASVS 7.5.2) and an administrator ending a user's sessions
 * (ASVS 7.4.5). A session is named in pages and URLs by a handle, a hash of its id, never by the id itself: the
 * id is the secret half of the session cookie and stays out of HTML, logs and browser history.
 */

/** The configuration's session timeouts, which apply until General settings are saved. */
export type SessionDefaults = Config["session"];

/**
 * Which stored sessions still count as signed in now, by the timeouts in force (General settings), as the
 * session middleware (src/middleware/session-timeouts.ts) judges them at their next request.
 */
async function liveCutoffs(db: Queryable, defaults: SessionDefaults): Promise<sessions.LiveSessionCutoffs> {
  const { value } = await readGeneralSettings(db, defaults);
  const now = Date.now();
  return {
    idleSince: value.idleMinutes > 0 ? now - value.idleMinutes * 60_000 : null,
    authSince: now - value.absoluteHours * 3_600_000,
  };
}

/** The public name of a session: 64 hex digits, from which its id cannot be recovered. */
export function sessionHandle(sid: string): string {
  return createHash("sha256").update(`gatehouse-session:${sid}`).digest("hex");
}

export interface SessionSummary {
  handle: string;
  /** The session this request came with. */
  current: boolean;
  createdAt: Date;
  lastSeenAt: Date;
  clientIp: string | null;
  userAgent: string | null;
}

/** The account's live sessions: the current one first, then the most recently seen. */
export async function listOwnSessions(db: Db, userId: number, currentSid: string, defaults: SessionDefaults): Promise<SessionSummary[]> {
  const rows = await sessions.listLiveUserSessions(db, userId, await liveCutoffs(db, defaults));
  const summaries = rows.map((row) => ({
    handle: sessionHandle(row.sid),
    current: row.sid === currentSid,
    createdAt: row.createdAt,
    lastSeenAt: row.lastSeenAt,
    clientIp: row.clientIp,
    userAgent: row.userAgent,
  }));
  return [...summaries.filter((s) => s.current), ...summaries.filter((s) => !s.current)];
}

export async function countLiveSessions(db: Db, userId: number, defaults: SessionDefaults): Promise<number> {
  return sessions.countLiveUserSessions(db, userId, await liveCutoffs(db, defaults));
}

function userTarget(user: { id: number; username: string }) {
  return { type: "user", id: user.id, label: user.username };
}

/** How an ended session is described in the audit log: never its id. */
function auditedSession(row: { createdAt: Date; clientIp: string | null; userAgent: string | null }) {
  return { startedAt: row.createdAt.toISOString(), clientIp: row.clientIp, userAgent: row.userAgent };
}

export const CURRENT_SESSION_MESSAGE = "This is the session you are using. To end it, use Sign out.";
export const NOT_YOUR_SESSION_MESSAGE = "That session is not one of yours, or it has already ended.";

/**
 * Ends one of the actor's own other sessions, named by its handle. A handle that names no live session of the
 * actor (another account's session, one already ended, or made up) is a 404 and ends nothing.
 */
export async function endOwnSession(
  db: Db,
  actor: Actor & { id: number },
  input: { handle: string; currentSid: string },
  defaults: SessionDefaults,
): Promise<SessionSummary> {
  return db.transaction(async (trx) => {
    const user = await users.findUserById(trx, actor.id);
    if (!user) throw new NotFoundError(NOT_YOUR_SESSION_MESSAGE);
    const rows = await sessions.listLiveUserSessions(trx, actor.id, await liveCutoffs(trx, defaults));
    const row = rows.find((r) => sessionHandle(r.sid) === input.handle);
    if (!row) throw new NotFoundError(NOT_YOUR_SESSION_MESSAGE);
    if (row.sid === input.currentSid) throw new ConflictError(CURRENT_SESSION_MESSAGE);
    if (!(await sessions.deleteSessionOfUser(trx, actor.id, row.sid))) throw new NotFoundError(NOT_YOUR_SESSION_MESSAGE);
    await recordAudit(trx, actor, {
      action: "session.ended",
      target: userTarget(user),
      details: { session: auditedSession(row) },
    });
    return {
      handle: input.handle,
      current: false,
      createdAt: row.createdAt,
      lastSeenAt: row.lastSeenAt,
      clientIp: row.clientIp,
      userAgent: row.userAgent,
    };
  });
}

export interface EndedSessions {
  /** Live sessions that ended (the current one is never counted). */
  ended: number;
  /** The account afterwards, with its new session version: the caller re-issues its own session with it. */
  user: User;
  /** Whether the request's own session belongs to the account and was kept. */
  keptCurrent: boolean;
}

/**
 * Deletes the account's sessions (but the current one) and bumps its session version, so that a session a
 * request in flight writes back, or a sign-in waiting for its second step, is refused too.
 */
async function endSessionsOf(
  db: Db,
  actor: Actor,
  userId: number,
  currentSid: string | undefined,
  defaults: SessionDefaults,
  action: string,
): Promise<EndedSessions> {
  return db.transaction(async (trx) => {
    const before = await users.findUserById(trx, userId);
    if (!before) throw new NotFoundError();
    const keptCurrent = actor.id === userId && currentSid !== undefined;
    const ended = await sessions.deleteUserSessionsCountingLive(trx, userId, await liveCutoffs(trx, defaults), {
      exceptSid: keptCurrent ? currentSid : undefined,
    });
    await users.bumpUserSessionVersion(trx, userId);
    const after = await users.findUserById(trx, userId);
    if (!after) throw new NotFoundError();
    await recordAudit(trx, actor, {
      action,
      target: userTarget(after),
      details: { sessionsEnded: ended, currentSessionKept: keptCurrent },
    });
    return { ended, user: after, keptCurrent };
  });
}

/** "Sign out everywhere": every other session of the actor ends; the current one stays (re-issued by the caller). */
export function endOtherOwnSessions(
  db: Db,
  actor: Actor & { id: number },
  currentSid: string,
  defaults: SessionDefaults,
): Promise<EndedSessions> {
  return endSessionsOf(db, actor, actor.id, currentSid, defaults, "session.ended_others");
}

/**
 * An administrator ends all of a user's sessions. On one's own account the administrator's current session
 * stays (re-issued by the caller).
 */
export function endUserSessionsAsAdmin(
  db: Db,
  actor: Actor,
  userId: number,
  currentSid: string,
  defaults: SessionDefaults,
): Promise<EndedSessions> {
  assertCan(actor, "end-sessions", { id: userId });
  return endSessionsOf(db, actor, userId, currentSid, defaults, "session.ended_by_admin");
}
