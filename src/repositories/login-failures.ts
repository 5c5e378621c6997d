import type { Queryable } from "../db/index.ts";

export type FailureScope = "account" | "ip" | "second_factor" | "code_send_account" | "code_send_ip" | "client_secret";

export interface FailureCounter {
  failures: number;
  blockedUntil: Date | null;
}

export async function readFailureCounter(
  db: Queryable,
  scope: FailureScope,
  key: string,
  windowSeconds: number,
): Promise<FailureCounter> {
  const row = await db("login_failures")
    .select("failures", "blocked_until")
    .where({ scope, key })
    .andWhereRaw("window_started_at > now() - make_interval(secs => ?)", [windowSeconds])
    .first<{ failures: number; blocked_until: Date | string | null } | undefined>();
  if (!row) return { failures: 0, blockedUntil: null };
  return { failures: row.failures, blockedUntil: row.blocked_until === null ? null : new Date(row.blocked_until) };
}

/**
 * Adds one failure atomically. A counter whose window has run out starts again at 1.
 * `blockFor` maps the new count to a wait in seconds (0 = no wait).
 */
export async function addFailure(
  db: Queryable,
  scope: FailureScope,
  key: string,
  windowSeconds: number,
  blockSecondsByCount: (count: number) => number,
): Promise<FailureCounter> {
  const result = await db.raw(
    `INSERT INTO login_failures (scope, key, failures, window_started_at, last_failed_at)
     VALUES (?, ?, 1, now(), now())
     ON CONFLICT (scope, key) DO UPDATE SET
       failures = CASE WHEN login_failures.window_started_at > now() - make_interval(secs => ?)
                       THEN login_failures.failures + 1 ELSE 1 END,
       window_started_at = CASE WHEN login_failures.window_started_at > now() - make_interval(secs => ?)
                       THEN login_failures.window_started_at ELSE now() END,
       last_failed_at = now()
     RETURNING failures`,
    [scope, key, windowSeconds, windowSeconds],
  );
  const failures = Number(result.rows[0].failures);
  const wait = blockSecondsByCount(failures);
  let blockedUntil: Date | null = null;
  if (wait > 0) {
    const updated = await db("login_failures")
      .where({ scope, key })
      .update({ blocked_until: db.raw("now() + make_interval(secs => ?)", [wait]) })
      .returning<{ blocked_until: Date | string }[]>("blocked_until");
    blockedUntil = updated[0] ? new Date(updated[0].blocked_until) : null;
  }
  return { failures, blockedUntil };
}

/**
 * Counts one attempt before its password is checked, as one atomic step: while the counter is blocked
 * (or already holds `maxFailures` in its window) nothing is counted and `undefined` comes back.
 * Checking first and counting after the (slow) password check would let a burst of parallel attempts all
 * pass a check that none of them had counted yet.
 * Run it in a transaction when `blockSecondsByCount` can set a wait: the row stays locked until the wait is
 * written, so a parallel attempt sees it.
 */
export async function reserveAttempt(
  db: Queryable,
  scope: FailureScope,
  key: string,
  policy: { windowSeconds: number; maxFailures?: number; blockSecondsByCount?: (count: number) => number },
): Promise<FailureCounter | undefined> {
  const inWindow = "login_failures.window_started_at > now() - make_interval(secs => :window)";
  const result = await db.raw(
    `INSERT INTO login_failures (scope, key, failures, window_started_at, last_failed_at)
     VALUES (:scope, :key, 1, now(), now())
     ON CONFLICT (scope, key) DO UPDATE SET
       failures = CASE WHEN ${inWindow} THEN login_failures.failures + 1 ELSE 1 END,
       window_started_at = CASE WHEN ${inWindow} THEN login_failures.window_started_at ELSE now() END,
       last_failed_at = now()
     WHERE NOT (${inWindow} AND (coalesce(login_failures.blocked_until > now(), false) OR login_failures.failures >= :max))
     RETURNING failures`,
    { scope, key, window: policy.windowSeconds, max: policy.maxFailures ?? 2_147_483_647 },
  );
  const row = result.rows[0] as { failures: number | string } | undefined;
  if (!row) return undefined;
  const failures = Number(row.failures);
  const wait = policy.blockSecondsByCount?.(failures) ?? 0;
  if (wait <= 0) return { failures, blockedUntil: null };
  const updated = await db("login_failures")
    .where({ scope, key })
    .update({ blocked_until: db.raw("now() + make_interval(secs => ?)", [wait]) })
    .returning<{ blocked_until: Date | string }[]>("blocked_until");
  return { failures, blockedUntil: updated[0] ? new Date(updated[0].blocked_until) : null };
}

/** Takes back an attempt counted by `reserveAttempt` that turned out not to be a failure. */
export async function releaseAttempt(db: Queryable, scope: FailureScope, key: string): Promise<void> {
  await db("login_failures")
    .where({ scope, key })
    .where("failures", ">", 0)
    .update({ failures: db.raw("failures - 1") });
}

export async function clearFailures(db: Queryable, scope: FailureScope, key: string): Promise<void> {
  await db("login_failures").where({ scope, key }).delete();
}

/** Seconds until the counter's window ends and its attempts no longer count (at least 1). */
export async function secondsLeftInWindow(db: Queryable, scope: FailureScope, key: string, windowSeconds: number): Promise<number> {
  const result = await db.raw(
    `SELECT GREATEST(1, ceil(extract(epoch FROM window_started_at + make_interval(secs => ?) - now()))) AS seconds
       FROM login_failures WHERE scope = ? AND key = ?`,
    [windowSeconds, scope, key],
  );
  const row = result.rows[0] as { seconds: number | string } | undefined;
  return row ? Number(row.seconds) : windowSeconds;
}
