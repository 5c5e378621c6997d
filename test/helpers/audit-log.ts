import type { Db } from "../../src/db/index.ts";

/** An audit event as a test wants it in the trail: any time, any actor, any details. */
export interface TestAuditEvent {
  occurredAt: Date;
  action: string;
  actorId?: number | null;
  actorUsername?: string | null;
  clientIp?: string | null;
  requestId?: string | null;
  targetType?: string | null;
  targetId?: string | null;
  targetLabel?: string | null;
  details?: Record<string, unknown>;
}

/**
 * Writes events straight into audit_events, several hundred per statement (the application only ever appends one
 * at a time, at the current time; tests need thousands, in the past). Returns their ids in the order given.
 */
export async function insertAuditEvents(db: Db, events: readonly TestAuditEvent[]): Promise<number[]> {
  const ids: number[] = [];
  for (let start = 0; start < events.length; start += 500) {
    const rows = events.slice(start, start + 500).map((e) => ({
      occurred_at: e.occurredAt,
      action: e.action,
      actor_id: e.actorId ?? null,
      actor_username: e.actorUsername ?? null,
      client_ip: e.clientIp ?? null,
      request_id: e.requestId ?? null,
      target_type: e.targetType ?? null,
      target_id: e.targetId ?? null,
      target_label: e.targetLabel ?? null,
      details: JSON.stringify(e.details ?? {}),
    }));
    const inserted = await db("audit_events").insert(rows).returning<{ id: string | number }[]>("id");
    ids.push(...inserted.map((r) => Number(r.id)));
  }
  return ids;
}

/** `count` plain events (user.updated by "bulk"), one second apart, the newest `newest`; one statement. */
export async function insertPlainAuditEvents(db: Db, count: number, newest = new Date()): Promise<void> {
  await db.raw(
    `INSERT INTO audit_events (occurred_at, actor_username, client_ip, action, target_type, target_id, target_label, details)
     SELECT ?::timestamptz - g * interval '1 second', 'bulk', '192.0.2.1', 'user.updated', 'user', g::text, 'user' || g, '{}'::jsonb
     FROM generate_series(0, ? - 1) g`,
    [newest, count],
  );
}

/** The trail as stored, newest first: what a download should hold, in its order. */
export async function storedEventIds(db: Db): Promise<number[]> {
  const rows = await db("audit_events").select("id").orderBy([
    { column: "occurred_at", order: "desc" },
    { column: "id", order: "desc" },
  ]);
  return rows.map((r: { id: string | number }) => Number(r.id));
}
