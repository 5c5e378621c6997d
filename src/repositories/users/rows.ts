/** How an account is stored: its row, the columns read, and the User built from them. */
import type { Knex } from "knex";
import type { Queryable } from "../../db/index.ts";
import type { AuthSource, TwoFactorMethod, User } from "../../types/user.ts";


export interface UserRow {
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

export const USER_COLUMNS = [
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

export function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

export function toUser(row: UserRow): User {
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

/**
 * Saves `changes` to the account `where` picks, moving its version on, and its session version too when
 * `endSessions` (every session of the account then ends at its next request). The account as saved, or undefined
 * when no row matched (gone, or changed since the version the caller expected).
 */
export async function updateAccountRow(
  db: Queryable,
  where: Record<string, unknown> | ((query: Knex.QueryBuilder) => void),
  changes: Record<string, unknown>,
  endSessions = false,
): Promise<User | undefined> {
  const query = db("users");
  if (typeof where === "function") where(query);
  else query.where(where);
  const rows = await query
    .update({
      ...changes,
      version: db.raw("version + 1"),
      ...(endSessions ? { session_version: db.raw("session_version + 1") } : {}),
      updated_at: db.fn.now(),
    })
    .returning(USER_COLUMNS as unknown as string[]);
  const row = (rows as UserRow[])[0];
  return row ? toUser(row) : undefined;
}
