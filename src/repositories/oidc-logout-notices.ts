import type { Queryable } from "../db/index.ts";

/**
 * Logout tokens waiting to be sent to systems (table oidc_logout_notices). The database function end_oidc_sessions
 * writes them, in the transaction that ends a sign-in (migrations/20261203190000_add_oidc_backchannel_logout.ts);
 * services/oidc-logout.ts sends them.
 */

export interface LogoutNotice {
  id: number;
  clientId: string;
  accountId: string;
  sid: string | null;
  /** Including the attempt this claim starts. */
  attempts: number;
}

interface Row {
  id: string | number;
  client_id: string;
  account_id: string;
  sid: string | null;
  attempts: number;
}

/**
 * Due notices, each claimed for `leaseSeconds` (its next attempt moved that far on, its attempts counted), so that
 * another instance skips it and a process that dies mid-send leaves it to be tried again.
 */
export async function claimDueLogoutNotices(db: Queryable, limit: number, leaseSeconds: number): Promise<LogoutNotice[]> {
  const result = await db.raw(
    `UPDATE oidc_logout_notices AS n
        SET attempts = n.attempts + 1, next_attempt_at = now() + CAST(? AS float8) * interval '1 second'
      WHERE n.id IN (SELECT id FROM oidc_logout_notices WHERE next_attempt_at <= now() ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED)
      RETURNING n.id, n.client_id, n.account_id, n.sid, n.attempts`,
    [leaseSeconds, limit],
  );
  return (result.rows as Row[]).map((row) => ({ id: Number(row.id), clientId: row.client_id, accountId: row.account_id, sid: row.sid, attempts: row.attempts }));
}

export async function deleteLogoutNotice(db: Queryable, id: number): Promise<void> {
  await db("oidc_logout_notices").where({ id }).delete();
}

/** Tries the notice again in `delaySeconds`, noting why this attempt failed. */
export async function deferLogoutNotice(db: Queryable, id: number, delaySeconds: number, error: string): Promise<void> {
  await db("oidc_logout_notices")
    .where({ id })
    .update({ next_attempt_at: db.raw("now() + CAST(? AS float8) * interval '1 second'", [delaySeconds]), last_error: error.slice(0, 500) });
}

/** How many notices wait to be sent. */
export async function countLogoutNotices(db: Queryable): Promise<number> {
  const row = (await db("oidc_logout_notices").count({ n: "*" }).first()) as { n: string | number } | undefined;
  return Number(row?.n ?? 0);
}
