import { nameKey } from "../lib/fields.ts";
import type { Queryable } from "../db/index.ts";
import { containsPattern } from "./search-pattern.ts";
import type { AuthSource, TwoFactorMethod, User, UserDetails } from "../types/user.ts";

interface UserRow {
  id: string | number;
  username: string;
  full_name: string;
  title: string;
  email: string | null;
  email_verified: boolean;
  pending_email: string | null;
  two_factor_method: TwoFactorMethod | null;
  phone: string;
  is_admin: boolean;
  auth_source: AuthSource;
  disabled: boolean;
  session_version: number;
  version: number;
  last_login_at: Date | string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

const USER_COLUMNS = [
  "id",
  "username",
  "full_name",
  "title",
  "email",
  "email_verified",
  "pending_email",
  "two_factor_method",
  "phone",
  "is_admin",
  "auth_source",
  "disabled",
  "session_version",
  "version",
  "last_login_at",
  "created_at",
  "updated_at",
] as const;

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

function toUser(row: UserRow): User {
  return {
    id: Number(row.id),
    username: row.username,
    fullName: row.full_name,
    title: row.title,
    email: row.email,
    emailVerified: row.email_verified,
    pendingEmail: row.pending_email,
    twoFactorMethod: row.two_factor_method,
    phone: row.phone,
    isAdmin: row.is_admin,
    authSource: row.auth_source,
    disabled: row.disabled,
    sessionVersion: row.session_version,
    version: row.version,
    lastLoginAt: row.last_login_at === null ? null : toDate(row.last_login_at),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

/**
 * An account as one JSON value of the row aliased `alias` (NULL when there is none), for a statement that reads it
 * beside something else (the session it belongs to): `userFromJson` turns it back into a User.
 */
export function userJsonSql(alias: string): string {
  return `CASE WHEN ${alias}.id IS NULL THEN NULL ELSE json_build_object(${USER_COLUMNS.map((c) => `'${c}', ${alias}.${c}`).join(", ")}) END`;
}

export function userFromJson(value: unknown): User | undefined {
  if (value === null || value === undefined) return undefined;
  return toUser((typeof value === "string" ? JSON.parse(value) : value) as UserRow);
}

export async function countUsers(db: Queryable): Promise<number> {
  const row = await db("users").count<{ count: string }[]>("* as count").first();
  return Number(row?.count ?? 0);
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

export interface Credentials {
  user: User;
  passwordHash: string | null;
}

export async function findCredentialsByUsername(db: Queryable, username: string): Promise<Credentials | undefined> {
  const row = await db("users")
    .select([...USER_COLUMNS, "password_hash"])
    .where({ username_key: nameKey(username) })
    .first<(UserRow & { password_hash: string | null }) | undefined>();
  return row ? { user: toUser(row), passwordHash: row.password_hash } : undefined;
}

export async function findPasswordHash(db: Queryable, id: number): Promise<string | null> {
  const row = await db("users").select("password_hash").where({ id }).first<{ password_hash: string | null }>();
  return row?.password_hash ?? null;
}

export async function insertUser(
  db: Queryable,
  details: UserDetails & { passwordHash: string | null },
): Promise<User | undefined> {
  const rows = await db("users")
    .insert({
      username: details.username,
      username_key: nameKey(details.username),
      full_name: details.fullName,
      title: details.title,
      email: details.email,
      phone: details.phone,
      is_admin: details.isAdmin,
      auth_source: details.authSource,
      password_hash: details.passwordHash,
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
  options: { bumpSessionVersion: boolean; passwordHash?: string | null },
): Promise<User | undefined> {
  const rows = await db("users")
    .where({ id, version: expectedVersion })
    .update({
      ...(options.passwordHash !== undefined ? { password_hash: options.passwordHash } : {}),
      username: details.username,
      username_key: nameKey(details.username),
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
      version: db.raw("version + 1"),
      session_version: options.bumpSessionVersion ? db.raw("session_version + 1") : db.raw("session_version"),
      updated_at: db.fn.now(),
    })
    .returning<UserRow[]>(USER_COLUMNS);
  return rows[0] ? toUser(rows[0]) : undefined;
}

export async function updateProfile(
  db: Queryable,
  id: number,
  profile: { fullName: string; title: string; phone: string },
): Promise<User | undefined> {
  const rows = await db("users")
    .where({ id })
    .update({
      full_name: profile.fullName,
      title: profile.title,
      phone: profile.phone,
      version: db.raw("version + 1"),
      updated_at: db.fn.now(),
    })
    .returning<UserRow[]>(USER_COLUMNS);
  return rows[0] ? toUser(rows[0]) : undefined;
}

export async function setPasswordHash(
  db: Queryable,
  id: number,
  passwordHash: string,
  options: { bumpSessionVersion: boolean },
): Promise<User | undefined> {
  const rows = await db("users")
    .where({ id })
    .update({
      password_hash: passwordHash,
      version: db.raw("version + 1"),
      session_version: options.bumpSessionVersion ? db.raw("session_version + 1") : db.raw("session_version"),
      updated_at: db.fn.now(),
    })
    .returning<UserRow[]>(USER_COLUMNS);
  return rows[0] ? toUser(rows[0]) : undefined;
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
  const rows = await db("users")
    .where({ id, version: expectedVersion })
    .update({
      disabled,
      version: db.raw("version + 1"),
      session_version: db.raw("session_version + 1"),
      updated_at: db.fn.now(),
    })
    .returning<UserRow[]>(USER_COLUMNS);
  return rows[0] ? toUser(rows[0]) : undefined;
}

export async function deleteUser(db: Queryable, id: number, expectedVersion: number): Promise<boolean> {
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

/** ORDER BY expressions, never from input: names and emails sort without regard to case, like usernames. */
export const USER_SORT_COLUMNS = {
  username: "username_key",
  name: "lower(full_name)",
  email: "lower(email)",
  role: "is_admin",
  lastLogin: "last_login_at",
  created: "created_at",
} as const;
export type UserSort = keyof typeof USER_SORT_COLUMNS;

export interface UserListQuery {
  search: string;
  sort: UserSort;
  direction: "asc" | "desc";
  limit: number;
  offset: number;
}


export async function listUsers(db: Queryable, query: UserListQuery): Promise<{ users: User[]; total: number }> {
  if (query.search) return searchUsers(db, query);
  const base = db("users");
  const column = USER_SORT_COLUMNS[query.sort];
  const [rows, countRow] = await Promise.all([
    base
      .clone()
      .select(USER_COLUMNS)
      .orderByRaw(`${column} ${query.direction} NULLS LAST, id ${query.direction}`)
      .limit(query.limit)
      .offset(query.offset),
    base.clone().count<{ count: string }[]>("* as count").first(),
  ]);
  return { users: (rows as UserRow[]).map(toUser), total: Number(countRow?.count ?? 0) };
}

/**
 * A search: the matches (found through the trigram indexes where Postgres has pg_trgm) are collected first with
 * their sort key, and only then sorted and paged; otherwise the planner walks the sort index hoping to meet 50
 * matches soon and reads a third of the table to do it (60 ms at 100,000 accounts).
 */
async function searchUsers(db: Queryable, query: UserListQuery): Promise<{ users: User[]; total: number }> {
  const pattern = containsPattern(query.search);
  const column = USER_SORT_COLUMNS[query.sort];
  const direction = query.direction === "desc" ? "DESC" : "ASC";
  const match = "username_key LIKE :pattern OR lower(full_name) LIKE :pattern OR lower(email) LIKE :pattern";
  // The count rides on the page (a window over every match, taken before LIMIT): one pass over the matches, not two.
  const { rows } = await db.raw(
    `WITH matched AS MATERIALIZED (SELECT id, ${column} AS sort_key FROM users WHERE ${match}),
          page AS (SELECT id, sort_key, count(*) OVER () AS total FROM matched
                    ORDER BY sort_key ${direction} NULLS LAST, id ${direction} LIMIT :limit OFFSET :offset)
     SELECT ${USER_COLUMNS.map((c) => `u.${c}`).join(", ")}, page.total FROM page JOIN users u ON u.id = page.id
      ORDER BY page.sort_key ${direction} NULLS LAST, page.id ${direction}`,
    { pattern, limit: query.limit, offset: query.offset },
  );
  const page = rows as (UserRow & { total: string })[];
  if (page[0]) return { users: page.map(toUser), total: Number(page[0].total) };
  // A page past the last match carries no count.
  const count = query.offset > 0 ? await db.raw(`SELECT count(*) AS count FROM users WHERE ${match}`, { pattern }) : undefined;
  return { users: [], total: Number(count?.rows[0]?.count ?? 0) };
}

export async function findUsersByIds(db: Queryable, ids: number[]): Promise<User[]> {
  if (ids.length === 0) return [];
  const rows = await db("users").select(USER_COLUMNS).whereIn("id", ids).orderBy("username_key");
  return (rows as UserRow[]).map(toUser);
}

/** Whose address this is (compared without regard to case), other than `exceptUserId`. */
export async function findEmailOwner(db: Queryable, email: string, exceptUserId?: number): Promise<User | undefined> {
  const query = db("users").select(USER_COLUMNS).whereRaw("lower(email) = lower(?)", [email]);
  if (exceptUserId !== undefined) query.whereNot({ id: exceptUserId });
  const row = await query.first<UserRow | undefined>();
  return row ? toUser(row) : undefined;
}

export async function setPendingEmail(db: Queryable, id: number, address: string | null): Promise<User | undefined> {
  const rows = await db("users")
    .where({ id })
    .update({ pending_email: address, version: db.raw("version + 1"), updated_at: db.fn.now() })
    .returning<UserRow[]>(USER_COLUMNS);
  return rows[0] ? toUser(rows[0]) : undefined;
}

/**
 * Marks `address` verified: the pending address becomes the account's email, or the current address is confirmed.
 * Nothing happens (undefined) when the account no longer has that address in either place.
 */
export async function confirmEmail(db: Queryable, id: number, address: string): Promise<User | undefined> {
  const rows = await db("users")
    .where({ id })
    .andWhere((w) => w.where({ pending_email: address }).orWhere({ email: address }))
    .update({
      email: address,
      email_verified: true,
      pending_email: null,
      version: db.raw("version + 1"),
      updated_at: db.fn.now(),
    })
    .returning<UserRow[]>(USER_COLUMNS);
  return rows[0] ? toUser(rows[0]) : undefined;
}

/** Turns two-factor authentication on with `method`; a new authenticator secret starts with no used step. */
export async function enableTwoFactor(
  db: Queryable,
  id: number,
  method: TwoFactorMethod,
  encryptedTotpSecret: string | null,
  lastStep: number | null,
): Promise<User | undefined> {
  const rows = await db("users")
    .where({ id, email_verified: true })
    .update({
      two_factor_method: method,
      totp_secret: encryptedTotpSecret,
      totp_last_step: lastStep,
      version: db.raw("version + 1"),
      updated_at: db.fn.now(),
    })
    .returning<UserRow[]>(USER_COLUMNS);
  return rows[0] ? toUser(rows[0]) : undefined;
}

export async function disableTwoFactor(db: Queryable, id: number, options: { bumpSessionVersion: boolean }): Promise<User | undefined> {
  const rows = await db("users")
    .where({ id })
    .update({
      two_factor_method: null,
      totp_secret: null,
      totp_last_step: null,
      version: db.raw("version + 1"),
      session_version: options.bumpSessionVersion ? db.raw("session_version + 1") : db.raw("session_version"),
      updated_at: db.fn.now(),
    })
    .returning<UserRow[]>(USER_COLUMNS);
  return rows[0] ? toUser(rows[0]) : undefined;
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

// Directory (LDAP) accounts ---------------------------------------------------------------------------------

/** The LDAP account linked to a directory entry's stable id. */
export async function findUserByExternalId(db: Queryable, externalId: string): Promise<User | undefined> {
  const row = await db("users").select(USER_COLUMNS).where({ auth_source: "ldap", external_id: externalId }).first<UserRow | undefined>();
  return row ? toUser(row) : undefined;
}

export async function findExternalId(db: Queryable, id: number): Promise<string | null> {
  const row = await db("users").select("external_id").where({ id }).first<{ external_id: string | null } | undefined>();
  return row?.external_id ?? null;
}

/** Links an LDAP account that an administrator made ahead of time to its directory entry (once). */
export async function linkExternalId(db: Queryable, id: number, externalId: string): Promise<boolean> {
  const rows = await db("users").where({ id, auth_source: "ldap" }).whereNull("external_id").update({ external_id: externalId }).returning("id");
  return rows.length > 0;
}

/**
 * Creates an account for a directory entry; undefined when the username or the entry is taken meanwhile
 * (two first sign-ins at once: the other one won, and the caller reads its row).
 */
export async function insertDirectoryUser(
  db: Queryable,
  fields: { username: string; fullName: string; email: string | null; externalId: string },
): Promise<User | undefined> {
  const rows = await db("users")
    .insert({
      username: fields.username,
      username_key: nameKey(fields.username),
      full_name: fields.fullName,
      email: fields.email,
      auth_source: "ldap",
      external_id: fields.externalId,
      password_hash: null,
      is_admin: false,
    })
    .onConflict()
    .ignore()
    .returning<UserRow[]>(USER_COLUMNS);
  return rows[0] ? toUser(rows[0]) : undefined;
}

/** Follows a rename in the directory; false when another account already has the new name. */
export async function renameDirectoryUser(db: Queryable, id: number, username: string): Promise<boolean> {
  const taken = await db("users").where({ username_key: nameKey(username) }).whereNot({ id }).first("id");
  if (taken) return false;
  const rows = await db("users")
    .where({ id, auth_source: "ldap" })
    .update({ username, username_key: nameKey(username), version: db.raw("version + 1"), updated_at: db.fn.now() })
    .returning("id");
  return rows.length > 0;
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
