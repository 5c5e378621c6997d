import type { Queryable } from "../db/index.ts";
import { type AuditEventInput, insertAuditEvent } from "../repositories/audit-events.ts";
import type { Actor } from "../types/user.ts";

/** How secrets appear in the audit trail, as in TrueCommand's logs. */
export const SECRET_MASK = "------";

export type Change = { from: unknown; to: unknown };

/** The fields whose values differ, each as { from, to }; secret fields show only that they changed. */
export function diffFields<T extends object>(
  before: Partial<T>,
  after: Partial<T>,
  fields: readonly (keyof T & string)[],
): Record<string, Change> {
  const changes: Record<string, Change> = {};
  for (const field of fields) {
    // Absent and null are both "none": a record created without an optional value changed nothing there.
    const from = before[field] ?? null;
    const to = after[field] ?? null;
    if (from !== to) changes[field] = { from, to };
  }
  return changes;
}

/** True when applying `changes` to `before` would change none of `fields`. */
export function unchanged<T extends object>(before: T, changes: Partial<T>, fields: readonly (keyof T & string)[]): boolean {
  return Object.keys(diffFields<T>(before, { ...before, ...changes }, fields)).length === 0;
}

export function recordAudit(db: Queryable, actor: Actor, event: AuditEventInput): Promise<void> {
  return insertAuditEvent(db, actor, event);
}

export const SYSTEM_ACTOR: Actor = { id: null, username: "system", clientIp: null, requestId: null, isAdmin: true };
