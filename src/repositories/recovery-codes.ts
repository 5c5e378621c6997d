import type { Queryable } from "../db/index.ts";

/** Replaces every recovery code of the account with the given hashes. */
export async function replaceRecoveryCodes(db: Queryable, userId: number, codeHashes: string[]): Promise<void> {
  await db("recovery_codes").where({ user_id: userId }).delete();
  if (codeHashes.length > 0) await db("recovery_codes").insert(codeHashes.map((code_hash) => ({ user_id: userId, code_hash })));
}

export async function deleteRecoveryCodes(db: Queryable, userId: number): Promise<void> {
  await db("recovery_codes").where({ user_id: userId }).delete();
}

/** Uses a recovery code once, atomically: false when it does not exist or was already used. */
export async function useRecoveryCode(db: Queryable, userId: number, codeHash: string): Promise<boolean> {
  const rows = await db("recovery_codes")
    .where({ user_id: userId, code_hash: codeHash })
    .whereNull("used_at")
    .update({ used_at: db.fn.now() })
    .returning("id");
  return rows.length > 0;
}

export async function countUnusedRecoveryCodes(db: Queryable, userId: number): Promise<number> {
  const row = await db("recovery_codes").where({ user_id: userId }).whereNull("used_at").count<{ count: string }[]>("* as count").first();
  return Number(row?.count ?? 0);
}
