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

export async function upsertSession(db: Queryable, session: SessionWrite): Promise<void> {
  await db("sessions")
    .insert({
      sid: session.sid,
      sess: JSON.stringify(session.sess),
      expires_at: session.expiresAt,
      user_id: session.userId,
      client_ip: session.clientIp,
      user_agent: session.userAgent,
    })
    .onConflict("sid")
    .merge({
      sess: db.raw("excluded.sess"),
      expires_at: db.raw("excluded.expires_at"),
      user_id: db.raw("excluded.user_id"),
      last_seen_at: db.fn.now(),
    });
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
  return query.delete();
}

export async function countUserSessions(db: Queryable, userId: number): Promise<number> {
  const row = await db("sessions").where({ user_id: userId }).count<{ count: string }[]>("* as count").first();
  return Number(row?.count ?? 0);
}

export async function deleteExpiredSessions(db: Queryable): Promise<number> {
  return db("sessions").where("expires_at", "<=", db.fn.now()).delete();
}
