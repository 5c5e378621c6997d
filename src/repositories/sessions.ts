import type { Queryable } from "../db/index.ts";

export interface StoredSession {
  sess: Record<string, unknown>;
}

export async function findSession(db: Queryable, sid: string): Promise<StoredSession | undefined> {
  const row = await db("sessions")
    .select("sess")
    .where({ sid })
    .andWhere("expires_at", ">", db.fn.now())
    .first<{ sess: Record<string, unknown> | string } | undefined>();
  if (!row) return undefined;
  return { sess: typeof row.sess === "string" ? JSON.parse(row.sess) : row.sess };
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
 * Saves a session. A session that belongs to an account is written only while that account exists and is enabled:
 * a request still in flight when its account is disabled or deleted must not bring back the session that the
 * disable or deletion just ended (nor fail on the missing account).
 */
export async function upsertSession(db: Queryable, session: SessionWrite): Promise<void> {
  await db.raw(
    `INSERT INTO sessions (sid, sess, expires_at, user_id, client_ip, user_agent)
     SELECT ?, CAST(? AS jsonb), ?, CAST(? AS bigint), ?, ?
      WHERE CAST(? AS bigint) IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = CAST(? AS bigint) AND NOT disabled)
     ON CONFLICT (sid) DO UPDATE SET
       sess = excluded.sess, expires_at = excluded.expires_at, user_id = excluded.user_id, last_seen_at = now()`,
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

export async function touchSession(db: Queryable, sid: string, expiresAt: Date): Promise<void> {
  await db("sessions").where({ sid }).update({ expires_at: expiresAt, last_seen_at: db.fn.now() });
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
