import type { Queryable } from "../../db/index.ts";
import type { TwoFactorMethod, User } from "../../types/user.ts";
import { toUser, updateAccountRow, USER_COLUMNS, type UserRow } from "./rows.ts";

export async function findEmailOwner(db: Queryable, email: string, exceptUserId?: number): Promise<User | undefined> {
  const query = db("users").select(USER_COLUMNS).whereRaw("lower(email) = lower(?)", [email]);
  if (exceptUserId !== undefined) query.whereNot({ id: exceptUserId });
  const row = await query.first<UserRow | undefined>();
  return row ? toUser(row) : undefined;
}

export async function setPendingEmail(db: Queryable, id: number, address: string | null): Promise<User | undefined> {
  return updateAccountRow(db, { id }, { pending_email: address });
}

/**
 * Marks `address` verified: the pending address becomes the account's email, or the current address is confirmed.
 * Nothing happens (undefined) when the account no longer has that address in either place.
 */
export async function confirmEmail(db: Queryable, id: number, address: string): Promise<User | undefined> {
  return updateAccountRow(
    db,
    (query) => query.where({ id }).andWhere((w) => w.where({ pending_email: address }).orWhere({ email: address })),
    {
      email: address,
      email_verified: true,
      pending_email: null,
    },
  );
}

/** Turns two-factor authentication on with `method`; a new authenticator secret starts with no used step. */
export async function enableTwoFactor(
  db: Queryable,
  id: number,
  method: TwoFactorMethod,
  encryptedTotpSecret: string | null,
  lastStep: number | null,
): Promise<User | undefined> {
  return updateAccountRow(
    db,
    { id, email_verified: true },
    {
      two_factor_method: method,
      totp_secret: encryptedTotpSecret,
      totp_last_step: lastStep,
    },
  );
}

export async function disableTwoFactor(db: Queryable, id: number, options: { bumpSessionVersion: boolean }): Promise<User | undefined> {
  return updateAccountRow(
    db,
    { id },
    {
      two_factor_method: null,
      totp_secret: null,
      totp_last_step: null,
    },
    options.bumpSessionVersion,
  );
}

export async function findTotpSecret(db: Queryable, id: number): Promise<string | null> {
  const row = await db("users").select("totp_secret").where({ id, two_factor_method: "totp" }).first<{ totp_secret: string | null }>();
  return row?.totp_secret ?? null;
}

/**
 * Records `step` as the last accepted authenticator code, only if it is later than the one stored: one atomic
 * statement, so two parallel submissions of one code cannot both pass (false = a replay).
 */
export async function acceptTotpStep(db: Queryable, id: number, step: number): Promise<boolean> {
  const rows = await db("users")
    .where({ id, two_factor_method: "totp" })
    .andWhere((w) => w.whereNull("totp_last_step").orWhere("totp_last_step", "<", step))
    .update({ totp_last_step: step })
    .returning("id");
  return rows.length > 0;
}
