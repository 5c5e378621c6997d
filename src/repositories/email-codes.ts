import type { Queryable } from "../db/index.ts";

export type CodePurpose = "verify_email" | "sign_in";

export interface EmailCode {
  id: number;
  userId: number;
  purpose: CodePurpose;
  address: string;
  codeHash: string;
  failedAttempts: number;
  createdAt: Date;
  expiresAt: Date;
  consumedAt: Date | null;
}

interface EmailCodeRow {
  id: string | number;
  user_id: string | number;
  purpose: CodePurpose;
  address: string;
  code_hash: string;
  failed_attempts: number;
  created_at: Date | string;
  expires_at: Date | string;
  consumed_at: Date | string | null;
}

function toEmailCode(row: EmailCodeRow): EmailCode {
  return {
    id: Number(row.id),
    userId: Number(row.user_id),
    purpose: row.purpose,
    address: row.address,
    codeHash: row.code_hash,
    failedAttempts: row.failed_attempts,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
    consumedAt: row.consumed_at === null ? null : new Date(row.consumed_at),
  };
}

/**
 * Locks the account's row until the transaction ends, so that the sending rules (docs/security.md E4) are checked
 * and the new code written one request at a time: parallel requests for a code cannot all see "none sent in the
 * last minute". NO KEY UPDATE: rows that only refer to the account (a code, an audit event) are not held up by it.
 */
export async function lockAccountForCodeSend(db: Queryable, userId: number): Promise<void> {
  await db.raw("SELECT id FROM users WHERE id = ? FOR NO KEY UPDATE", [userId]);
}

/** Locks the newest code so that a check and its consequence (a failure, or its use) happen one at a time. */
export async function lockNewestCode(db: Queryable, userId: number, purpose: CodePurpose): Promise<EmailCode | undefined> {
  const row = await db("email_codes")
    .select("*")
    .where({ user_id: userId, purpose })
    .orderBy("id", "desc")
    .forUpdate()
    .first<EmailCodeRow | undefined>();
  return row ? toEmailCode(row) : undefined;
}

/** Issues a code and retires every earlier unused one of the same account and purpose: only the newest counts. */
export async function insertCode(
  db: Queryable,
  input: { userId: number; purpose: CodePurpose; address: string; codeHash: string; validSeconds: number },
): Promise<EmailCode> {
  await db("email_codes")
    .where({ user_id: input.userId, purpose: input.purpose })
    .whereNull("consumed_at")
    .update({ consumed_at: db.fn.now() });
  const rows = await db("email_codes")
    .insert({
      user_id: input.userId,
      purpose: input.purpose,
      address: input.address,
      code_hash: input.codeHash,
      expires_at: db.raw("now() + make_interval(secs => ?)", [input.validSeconds]),
    })
    .returning<EmailCodeRow[]>("*");
  return toEmailCode(rows[0] as EmailCodeRow);
}

export async function countFailure(db: Queryable, id: number): Promise<number> {
  const rows = await db("email_codes")
    .where({ id })
    .update({ failed_attempts: db.raw("failed_attempts + 1") })
    .returning<{ failed_attempts: number }[]>("failed_attempts");
  return rows[0]?.failed_attempts ?? 0;
}

/** Uses the code once: false when it was already used (by a parallel request, say). */
export async function consumeCode(db: Queryable, id: number): Promise<boolean> {
  const rows = await db("email_codes").where({ id }).whereNull("consumed_at").update({ consumed_at: db.fn.now() }).returning("id");
  return rows.length > 0;
}

/** Seconds since the newest code of this account and purpose was issued, or null when there is none. */
export async function secondsSinceLastCode(db: Queryable, userId: number, purpose: CodePurpose): Promise<number | null> {
  const result = await db.raw(
    "SELECT extract(epoch FROM now() - max(created_at)) AS seconds FROM email_codes WHERE user_id = ? AND purpose = ?",
    [userId, purpose],
  );
  const seconds = (result.rows[0] as { seconds: string | number | null } | undefined)?.seconds;
  return seconds === null || seconds === undefined ? null : Number(seconds);
}
