import { preparedStatement, type Queryable } from "../db/index.ts";
import type { User } from "../types/user.ts";
import type { StoredSettings } from "./settings.ts";
import { userFromJson, userJsonSql } from "./users/index.ts";

export interface StoredSession {
  sess: Record<string, unknown>;
}

export interface SessionWithContext extends StoredSession {
  /** The session's account as stored now; undefined when the session has none (or it was deleted). */
  user: User | undefined;
  /** The settings document asked for, as readSettings gives it. */
  settings: StoredSettings<unknown> | undefined;
  /** A signed-in session's lastSeenAt before this request moved it (ms since the epoch); undefined if it had none. */
  lastSeenBefore: number | undefined;
}

/**
 * What almost every request needs before its page, in one round trip rather than three: the session, its account
 * and a settings document. A round trip to Postgres was the largest single cost of serving a signed-in page.
 * The same statement moves a signed-in session's idle clock to `seenAt` (its lastSeenAt, and last_seen_at that
 * Profile shows) and returns the time it replaced, so idle expiry is exact to the request without a save of the
 * whole session per request.
 */
export async function findSessionWithContext(db: Queryable, sid: string, settingsKey: string, seenAt: number): Promise<SessionWithContext | undefined> {
  const { rows } = await db.raw(
    `WITH seen AS (
       UPDATE sessions s
          SET sess = CASE WHEN s.sess -> 'passport' IS NULL THEN s.sess ELSE jsonb_set(s.sess, '{lastSeenAt}', to_jsonb(CAST(? AS float8))) END,
              last_seen_at = CASE WHEN s.sess -> 'passport' IS NULL THEN s.last_seen_at ELSE now() END
         FROM sessions before
        WHERE s.sid = ? AND before.sid = s.sid AND s.expires_at > now()
        RETURNING s.sess, s.user_id, CASE WHEN s.sess -> 'passport' IS NULL THEN NULL ELSE before.sess ->> 'lastSeenAt' END AS last_seen_before
     )
     SELECT seen.sess, seen.last_seen_before, ${userJsonSql("u")} AS account,
            st.value AS settings_value, st.version AS settings_version, st.updated_at AS settings_updated_at
       FROM seen
       LEFT JOIN users u ON u.id = seen.user_id
       LEFT JOIN settings st ON st.key = ?`,
    [seenAt, sid, settingsKey],
  ).options(preparedStatement("session-with-context-seen"));
  const row = (rows as Record<string, unknown>[])[0];
  if (!row) return undefined;
  const parse = (value: unknown) => (typeof value === "string" ? JSON.parse(value) : value);
  return {
    sess: parse(row.sess) as Record<string, unknown>,
    user: userFromJson(row.account),
    settings:
      row.settings_version === null || row.settings_version === undefined
        ? undefined
        : { value: parse(row.settings_value), version: Number(row.settings_version), updatedAt: new Date(row.settings_updated_at as string | Date) },
    lastSeenBefore: row.last_seen_before === null || row.last_seen_before === undefined ? undefined : Number(row.last_seen_before),
  };
}

export interface SessionWrite {
  sid: string;
  sess: Record<string, unknown>;
  expiresAt: Date;
  userId: number | null;
  clientIp: string | null;
  userAgent: string | null;
}

/**
 * Saves a session. The client (address, browser) is recorded whenever the session carries it: passport saves a
 * new session at sign-in before the client is set on it, so the next save must fill it in.
 * A session that belongs to an account is written only while that account exists and is enabled:
 * a request still in flight when its account is disabled or deleted must not bring back the session that the
 * disable or deletion just ended (nor fail on the missing account).
 */
export async function upsertSession(db: Queryable, session: SessionWrite): Promise<void> {
  await db.raw(
    `INSERT INTO sessions (sid, sess, expires_at, user_id, client_ip, user_agent)
     SELECT ?, CAST(? AS jsonb), ?, CAST(? AS bigint), ?, ?
      WHERE CAST(? AS bigint) IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = CAST(? AS bigint) AND NOT disabled)
     ON CONFLICT (sid) DO UPDATE SET
       sess = excluded.sess, expires_at = excluded.expires_at, user_id = excluded.user_id, last_seen_at = now(),
       client_ip = COALESCE(excluded.client_ip, sessions.client_ip),
       user_agent = COALESCE(excluded.user_agent, sessions.user_agent)`,
    [
      session.sid,
      JSON.stringify(session.sess),
      session.expiresAt,
      session.userId,
      session.clientIp,
      session.userAgent,
      session.userId,
      session.userId,
    ],
  );
}

/**
 * Saves a session that was read from the store (every signed-in request: its idle clock moves), only while its row
 * still exists. A request in flight when its
 * session is signed out (Sign out, or one session signed out from the Profile page) must not write it back and so
 * sign the person in again; "Sign out everywhere" is covered by the account's session version instead. False when
 * there was no row to update.
 */
export async function updateSession(db: Queryable, session: SessionWrite): Promise<boolean> {
  const { rows } = await db.raw(
    `UPDATE sessions SET
       sess = CAST(? AS jsonb), expires_at = ?, user_id = CAST(? AS bigint), last_seen_at = now(),
       client_ip = COALESCE(?, client_ip), user_agent = COALESCE(?, user_agent)
      WHERE sid = ?
        AND (CAST(? AS bigint) IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = CAST(? AS bigint) AND NOT disabled))
      RETURNING sid`,
    [JSON.stringify(session.sess), session.expiresAt, session.userId, session.clientIp, session.userAgent, session.sid, session.userId, session.userId],
  ).options(preparedStatement("session-update"));
  return (rows as unknown[]).length > 0;
}

export async function deleteSession(db: Queryable, sid: string): Promise<void> {
  await db("sessions").where({ sid }).delete();
}

export async function deleteUserSessions(db: Queryable, userId: number, options: { exceptSid?: string } = {}): Promise<number> {
  const query = db("sessions").where({ user_id: userId });
  if (options.exceptSid) query.whereNot({ sid: options.exceptSid });
  // knex-pglite answers delete() with a result object, not a count: count the returned keys.
  return (await query.delete().returning("sid")).length;
}

export async function countUserSessions(db: Queryable, userId: number): Promise<number> {
  const row = await db("sessions").where({ user_id: userId }).count<{ count: string }[]>("* as count").first();
  return Number(row?.count ?? 0);
}

export async function deleteExpiredSessions(db: Queryable): Promise<number> {
  return (await db("sessions").where("expires_at", "<=", db.fn.now()).delete().returning("sid")).length;
}

// One account's sessions, as its owner and administrators see them ----------------------------------------

/**
 * When a stored session still counts as signed in, as the session middleware would judge it at its next request
 * (src/middleware/session-timeouts.ts): idle since before `idleSince` or signed in before `authSince` (ms since the
 * epoch, the app's clock, as the session keeps them) means it has ended. `idleSince` null: no idle limit.
 */
export interface LiveSessionCutoffs {
  idleSince: number | null;
  authSince: number;
}

export interface AccountSessionRow {
  sid: string;
  createdAt: Date;
  lastSeenAt: Date;
  clientIp: string | null;
  userAgent: string | null;
}

interface AccountSessionDbRow {
  sid: string;
  created_at: Date | string;
  last_seen_at: Date | string;
  client_ip: string | null;
  user_agent: string | null;
}

function asDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

/**
 * The conditions under which a row of `sessions s` joined with its account `users u` is a live, signed-in
 * session: not expired, signed in with the account's current session version (a password change, demotion or
 * "sign out everywhere" bumps it), and within the idle and absolute limits.
 */
function liveSessionCondition(cutoffs: LiveSessionCutoffs): { sql: string; bindings: (number | null)[] } {
  return {
    sql: `s.expires_at > now()
      AND NOT u.disabled
      AND s.sess #>> '{passport,user,sv}' = CAST(u.session_version AS text)
      AND (CAST(? AS float8) IS NULL OR s.sess->>'lastSeenAt' IS NULL OR CAST(s.sess->>'lastSeenAt' AS float8) >= CAST(? AS float8))
      AND (s.sess->>'authAt' IS NULL OR CAST(s.sess->>'authAt' AS float8) >= CAST(? AS float8))`,
    bindings: [cutoffs.idleSince, cutoffs.idleSince, cutoffs.authSince],
  };
}

/** The account's live sessions, most recently seen first. */
export async function listLiveUserSessions(db: Queryable, userId: number, cutoffs: LiveSessionCutoffs): Promise<AccountSessionRow[]> {
  const live = liveSessionCondition(cutoffs);
  const rows: AccountSessionDbRow[] = await db("sessions as s")
    .join("users as u", "u.id", "s.user_id")
    .select("s.sid", "s.created_at", "s.last_seen_at", "s.client_ip", "s.user_agent")
    .where("s.user_id", userId)
    .andWhereRaw(live.sql, live.bindings)
    .orderBy([
      { column: "s.last_seen_at", order: "desc" },
      { column: "s.created_at", order: "desc" },
      { column: "s.sid", order: "asc" },
    ]);
  return rows.map((r) => ({
    sid: r.sid,
    createdAt: asDate(r.created_at),
    lastSeenAt: asDate(r.last_seen_at),
    clientIp: r.client_ip,
    userAgent: r.user_agent,
  }));
}

/** How many live sessions the account has (see listLiveUserSessions). */
export async function countLiveUserSessions(db: Queryable, userId: number, cutoffs: LiveSessionCutoffs): Promise<number> {
  const live = liveSessionCondition(cutoffs);
  const row = await db("sessions as s")
    .join("users as u", "u.id", "s.user_id")
    .where("s.user_id", userId)
    .andWhereRaw(live.sql, live.bindings)
    .count<{ count: string }[]>("* as count")
    .first();
  return Number(row?.count ?? 0);
}

/** Ends one session, only if it belongs to `userId`; false when there was no such session of that account. */
export async function deleteSessionOfUser(db: Queryable, userId: number, sid: string): Promise<boolean> {
  return (await db("sessions").where({ sid, user_id: userId }).delete().returning("sid")).length > 0;
}

/**
 * Ends every stored session of the account (but `exceptSid`), stale ones included, and says how many of them
 * were still live: the number a person would call "signed in".
 */
export async function deleteUserSessionsCountingLive(
  db: Queryable,
  userId: number,
  cutoffs: LiveSessionCutoffs,
  options: { exceptSid?: string } = {},
): Promise<number> {
  const live = liveSessionCondition(cutoffs);
  const result = await db.raw(
    `DELETE FROM sessions AS s
      USING users AS u
      WHERE u.id = s.user_id AND s.user_id = CAST(? AS bigint) AND s.sid IS DISTINCT FROM ?
      RETURNING (${live.sql}) AS live`,
    [userId, options.exceptSid ?? null, ...live.bindings],
  );
  return (result.rows as { live: boolean }[]).filter((r) => r.live).length;
}
