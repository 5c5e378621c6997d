import type { Queryable } from "../../db/index.ts";
import { nameKey, nameSkeleton } from "../../lib/fields.ts";
import type { User, UserDetails } from "../../types/user.ts";
import { toUser, updateAccountRow, USER_COLUMNS, type UserRow } from "./rows.ts";

export async function countUsers(db: Queryable): Promise<number> {
  const row = await db("users").count<{ count: string }[]>("* as count").first();
  return Number(row?.count ?? 0);
}

/** Makes concurrent writers of accounts take turns until the transaction ends; reads go on. */
export async function lockUsersForWriting(trx: Queryable): Promise<void> {
  await trx.raw("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE");
}

export async function anyUserExists(db: Queryable): Promise<boolean> {
  const row = await db("users").select("id").limit(1).first();
  return row !== undefined;
}

export async function findUserById(db: Queryable, id: number): Promise<User | undefined> {
  const row = await db("users").select(USER_COLUMNS).where({ id }).first<UserRow | undefined>();
  return row ? toUser(row) : undefined;
}

export async function findUserByUsername(db: Queryable, username: string): Promise<User | undefined> {
  const row = await db("users")
    .select(USER_COLUMNS)
    .where({ username_key: nameKey(username) })
    .first<UserRow | undefined>();
  return row ? toUser(row) : undefined;
}

/**
 * Another account whose name looks like `username` without being the same name (docs/domain.md, "Accounts"): the
 * same UTS #39 skeleton under another key, "admin" for "аdmin". An account with no skeleton (left without one at the
 * upgrade, migrations/20261204110000_add_username_skeletons.ts) is never found here.
 */
export async function findUserLookingLike(db: Queryable, username: string, exceptUserId?: number): Promise<User | undefined> {
  const query = db("users")
    .select(USER_COLUMNS)
    .where({ username_skeleton: nameSkeleton(username) })
    .whereNot({ username_key: nameKey(username) });
  if (exceptUserId !== undefined) query.whereNot({ id: exceptUserId });
  const row = await query.first<UserRow | undefined>();
  return row ? toUser(row) : undefined;
}

export interface Credentials {
  user: User;
  passwordHash: string | null;
  /** The password was set by an administrator for this account: the next sign-in must replace it. */
  mustChangePassword: boolean;
}

export async function findCredentialsByUsername(db: Queryable, username: string): Promise<Credentials | undefined> {
  const row = await db("users")
    .select([...USER_COLUMNS, "password_hash", "must_change_password"])
    .where({ username_key: nameKey(username) })
    .first<(UserRow & { password_hash: string | null; must_change_password: boolean }) | undefined>();
  return row ? { user: toUser(row), passwordHash: row.password_hash, mustChangePassword: row.must_change_password } : undefined;
}

/** Whether the account's password is a temporary one an administrator set (false for no such account). */
export async function findMustChangePassword(db: Queryable, id: number): Promise<boolean> {
  const row = await db("users").select("must_change_password").where({ id }).first<{ must_change_password: boolean } | undefined>();
  return row?.must_change_password ?? false;
}

export async function findPasswordHash(db: Queryable, id: number): Promise<string | null> {
  const row = await db("users").select("password_hash").where({ id }).first<{ password_hash: string | null }>();
  return row?.password_hash ?? null;
}

export async function insertUser(
  db: Queryable,
  details: UserDetails & { passwordHash: string | null; mustChangePassword?: boolean },
): Promise<User | undefined> {
  const rows = await db("users")
    .insert({
      username: details.username,
      username_key: nameKey(details.username),
      // A look-alike of another name is a unique violation here, which the caller explains.
      username_skeleton: nameSkeleton(details.username),
      full_name: details.fullName,
      title: details.title,
      email: details.email,
      phone: details.phone,
      is_admin: details.isAdmin,
      auth_source: details.authSource,
      password_hash: details.passwordHash,
      must_change_password: details.mustChangePassword ?? false,
    })
    .onConflict("username_key")
    .ignore()
    .returning<UserRow[]>(USER_COLUMNS);
  return rows[0] ? toUser(rows[0]) : undefined;
}

/** Saves the form only if nobody saved since `expectedVersion`; undefined means the write lost the race. */
export async function updateUserDetails(
  db: Queryable,
  id: number,
  expectedVersion: number,
  details: UserDetails,
  options: { bumpSessionVersion: boolean; passwordHash?: string | null; mustChangePassword?: boolean },
): Promise<User | undefined> {
  return updateAccountRow(
    db,
    { id, version: expectedVersion },
    {
      ...(options.passwordHash !== undefined ? { password_hash: options.passwordHash } : {}),
      ...(options.mustChangePassword !== undefined ? { must_change_password: options.mustChangePassword } : {}),
      username: details.username,
      username_key: nameKey(details.username),
      // Kept while the name stays the same name: an account the upgrade left without a skeleton (it looked like an
      // older one) can still be saved, and gets one when it is renamed.
      username_skeleton: db.raw("CASE WHEN username_key = ? THEN username_skeleton ELSE ? END", [nameKey(details.username), nameSkeleton(details.username)]),
      full_name: details.fullName,
      title: details.title,
      email: details.email,
      // A new address is unverified, replaces any address waiting for its code, and turns 2FA off until verified.
      email_verified: db.raw("email_verified AND email IS NOT DISTINCT FROM ?", [details.email]),
      pending_email: db.raw("CASE WHEN email IS NOT DISTINCT FROM ? THEN pending_email END", [details.email]),
      two_factor_method: db.raw("CASE WHEN email IS NOT DISTINCT FROM ? THEN two_factor_method END", [details.email]),
      totp_secret: db.raw("CASE WHEN email IS NOT DISTINCT FROM ? THEN totp_secret END", [details.email]),
      phone: details.phone,
      is_admin: details.isAdmin,
      auth_source: details.authSource,
      // A directory link belongs to LDAP accounts only: switching to a local password drops it.
      external_id: db.raw("CASE WHEN ? = 'ldap' THEN external_id END", [details.authSource]),
    },
    options.bumpSessionVersion,
  );
}

export async function updateProfile(
  db: Queryable,
  id: number,
  profile: { fullName: string; title: string; phone: string },
): Promise<User | undefined> {
  return updateAccountRow(
    db,
    { id },
    {
      full_name: profile.fullName,
      title: profile.title,
      phone: profile.phone,
    },
  );
}

/** A password the account's owner chose (a change, the end of a reset): never a temporary one. */
export async function setPasswordHash(
  db: Queryable,
  id: number,
  passwordHash: string,
  options: { bumpSessionVersion: boolean },
): Promise<User | undefined> {
  return updateAccountRow(
    db,
    { id },
    {
      password_hash: passwordHash,
      must_change_password: false,
    },
    options.bumpSessionVersion,
  );
}

/** Rehash after a successful sign-in; only when the stored hash is still the one we verified. */
export async function replacePasswordHash(db: Queryable, id: number, oldHash: string, newHash: string): Promise<void> {
  await db("users").where({ id, password_hash: oldHash }).update({ password_hash: newHash });
}

export async function setDisabled(
  db: Queryable,
  id: number,
  expectedVersion: number,
  disabled: boolean,
): Promise<User | undefined> {
  return updateAccountRow(
    db,
    { id, version: expectedVersion },
    {
      disabled,
    },
    true,
  );
}

export async function deleteUserRow(db: Queryable, id: number, expectedVersion: number): Promise<boolean> {
  // RETURNING rather than the affected-row count, which the embedded (PGlite) dialect does not report for deletes.
  const rows = await db("users").where({ id, version: expectedVersion }).delete().returning("id");
  return rows.length > 0;
}

export async function recordLogin(db: Queryable, id: number): Promise<void> {
  await db("users").where({ id }).update({ last_login_at: db.fn.now() });
}

/**
 * Locks every active administrator row, in id order so that concurrent callers queue instead of deadlocking,
 * and returns their ids. Run inside the transaction that might remove one of them.
 */
export async function lockActiveAdminIds(db: Queryable): Promise<number[]> {
  const rows = await db("users")
    .select("id")
    .where({ is_admin: true, disabled: false })
    .orderBy("id")
    .forUpdate();
  return rows.map((r: { id: string | number }) => Number(r.id));
}

/**
 * Moves the account to a new session version: every session signed in with the old one (and any sign-in waiting
 * for its second step) ends at its next request, even one whose row a request still in flight writes back.
 * Returns the new version, or undefined when the account does not exist.
 */
export async function bumpUserSessionVersion(db: Queryable, userId: number): Promise<number | undefined> {
  const rows = await db("users")
    .where({ id: userId })
    .update({ session_version: db.raw("session_version + 1") })
    .returning<{ session_version: number }[]>("session_version");
  return rows[0]?.session_version;
}
