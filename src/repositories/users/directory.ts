import type { Queryable } from "../../db/index.ts";
import { nameKey, nameSkeleton } from "../../lib/fields.ts";
import type { User } from "../../types/user.ts";
import { toUser, USER_COLUMNS, type UserRow } from "./rows.ts";

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
 * Creates an account for a directory entry; undefined when the username (or a look-alike of it) or the entry is taken
 * meanwhile (two first sign-ins at once: the other one won, and the caller reads its row).
 */
export async function insertDirectoryUser(
  db: Queryable,
  fields: { username: string; fullName: string; email: string | null; externalId: string },
): Promise<User | undefined> {
  const rows = await db("users")
    .insert({
      username: fields.username,
      username_key: nameKey(fields.username),
      username_skeleton: nameSkeleton(fields.username),
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

/**
 * Follows a rename in the directory; false when another account already has the new name or one that looks like it.
 * The unique indexes decide, in a savepoint, so that a name taken at the same moment leaves the caller's transaction
 * (the sign-in) usable.
 */
export async function renameDirectoryUser(db: Queryable, id: number, username: string): Promise<boolean> {
  try {
    return await db.transaction(async (savepoint) => {
      const rows = await savepoint("users")
        .where({ id, auth_source: "ldap" })
        .update({
          username,
          username_key: nameKey(username),
          username_skeleton: nameSkeleton(username),
          version: savepoint.raw("version + 1"),
          updated_at: savepoint.fn.now(),
        })
        .returning("id");
      return rows.length > 0;
    });
  } catch (error) {
    if ((error as { code?: string }).code === "23505") return false;
    throw error;
  }
}
