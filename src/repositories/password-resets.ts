import type { Queryable } from "../db/index.ts";
import type { ResetKind } from "../types/user.ts";


export interface PasswordReset {
  id: number;
  userId: number;
  kind: ResetKind;
  tokenHash: string;
  createdAt: Date;
  expiresAt: Date;
}

interface ResetRow {
  id: string | number;
  user_id: string | number;
  kind: ResetKind;
  token_hash: string;
  created_at: Date | string;
  expires_at: Date | string;
}

function toReset(row: ResetRow): PasswordReset {
  return {
    id: Number(row.id),
    userId: Number(row.user_id),
    kind: row.kind,
    tokenHash: row.token_hash,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
  };
}

/** Issues a reset and retires every older one of the account: only the newest counts. */
export async function replaceReset(db: Queryable, userId: number, kind: ResetKind, tokenHash: string, validSeconds: number): Promise<PasswordReset> {
  await db("password_resets").where({ user_id: userId }).delete();
  const rows = await db("password_resets")
    .insert({ user_id: userId, kind, token_hash: tokenHash, expires_at: db.raw("now() + make_interval(secs => ?)", [validSeconds]) })
    .returning<ResetRow[]>(["id", "user_id", "kind", "token_hash", "created_at", "expires_at"]);
  return toReset(rows[0] as ResetRow);
}

/** The account's reset that has neither expired nor been used, if any. */
export async function findActiveReset(db: Queryable, userId: number): Promise<PasswordReset | undefined> {
  const row = await db("password_resets")
    .select("id", "user_id", "kind", "token_hash", "created_at", "expires_at")
    .where({ user_id: userId })
    .whereNull("used_at")
    .andWhereRaw("expires_at > now()")
    .orderBy("created_at", "desc")
    .first<ResetRow | undefined>();
  return row ? toReset(row) : undefined;
}

/** Marks a reset used; false when another request used it first. */
export async function useReset(db: Queryable, id: number): Promise<boolean> {
  const rows = await db("password_resets").where({ id }).whereNull("used_at").andWhereRaw("expires_at > now()").update({ used_at: db.fn.now() }).returning("id");
  return rows.length > 0;
}

export async function deleteResets(db: Queryable, userId: number): Promise<void> {
  await db("password_resets").where({ user_id: userId }).delete();
}

/** Seconds since the account's newest emailed code was issued, or null when there is none. */
export async function secondsSinceLastEmailedReset(db: Queryable, userId: number): Promise<number | null> {
  const result = await db.raw(
    "SELECT extract(epoch FROM now() - max(created_at)) AS seconds FROM password_resets WHERE user_id = ? AND kind = 'emailed_code'",
    [userId],
  );
  const seconds = (result.rows[0] as { seconds: string | number | null } | undefined)?.seconds;
  return seconds === null || seconds === undefined ? null : Number(seconds);
}

/** Issues one reset each to accounts that have none yet (new accounts), in multi-row inserts. */
export async function insertResets(db: Queryable, resets: readonly { userId: number; kind: ResetKind; tokenHash: string }[], validSeconds: number): Promise<void> {
  for (let i = 0; i < resets.length; i += 2_000) {
    await db("password_resets").insert(
      resets.slice(i, i + 2_000).map((r) => ({
        user_id: r.userId,
        kind: r.kind,
        token_hash: r.tokenHash,
        expires_at: db.raw("now() + make_interval(secs => ?)", [validSeconds]),
      })),
    );
  }
}
