import type { Queryable } from "../db/index.ts";
import type { Actor } from "../types/user.ts";

export interface AuditEventInput {
  action: string;
  target?: { type: string; id: string | number; label?: string };
  details?: Record<string, unknown>;
}

export interface AuditEvent {
  id: number;
  occurredAt: Date;
  actorId: number | null;
  actorUsername: string | null;
  clientIp: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  targetLabel: string | null;
  details: Record<string, unknown>;
}

export async function insertAuditEvent(db: Queryable, actor: Actor, event: AuditEventInput): Promise<void> {
  await db("audit_events").insert({
    actor_id: actor.id,
    actor_username: actor.username,
    client_ip: actor.clientIp,
    request_id: actor.requestId,
    action: event.action,
    target_type: event.target?.type ?? null,
    target_id: event.target ? String(event.target.id) : null,
    target_label: event.target?.label ?? null,
    // Which personal token made an API change: after a leak, what it did can be told apart from the console's.
    details: JSON.stringify(actor.apiTokenId === undefined ? (event.details ?? {}) : { ...event.details, viaApiToken: actor.apiTokenId }),
  });
}

export async function listAuditEvents(
  db: Queryable,
  filter: { action?: string; targetId?: string; limit?: number } = {},
): Promise<AuditEvent[]> {
  const query = db("audit_events")
    .select("id", "occurred_at", "actor_id", "actor_username", "client_ip", "action", "target_type", "target_id", "target_label", "details")
    .orderBy([
      { column: "occurred_at", order: "desc" },
      { column: "id", order: "desc" },
    ])
    .limit(filter.limit ?? 100);
  if (filter.action) query.where({ action: filter.action });
  if (filter.targetId) query.where({ target_id: filter.targetId });
  const rows = await query;
  return rows.map((r) => ({
    id: Number(r.id),
    occurredAt: new Date(r.occurred_at),
    actorId: r.actor_id === null ? null : Number(r.actor_id),
    actorUsername: r.actor_username,
    clientIp: r.client_ip,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    targetLabel: r.target_label,
    details: typeof r.details === "string" ? JSON.parse(r.details) : r.details,
  }));
}
