import type { Db } from "../../src/db/index.ts";
import { insertUser } from "../../src/repositories/users/index.ts";
import { hashPassword } from "../../src/services/passwords.ts";
import type { User, UserDetails } from "../../src/types/user.ts";
import { DEFAULT_PASSWORD } from "./factories.ts";

let knownHash: Promise<string> | undefined;

/** One argon2 hash of DEFAULT_PASSWORD per test file, shared by every inserted account. */
export function defaultPasswordHash(): Promise<string> {
  knownHash ??= hashPassword(DEFAULT_PASSWORD);
  return knownHash;
}

let counter = 0;

/**
 * Inserts an account straight through the repository (no policy check, no argon2 per account):
 * fast enough for lists of a hundred users. Signs in with DEFAULT_PASSWORD.
 */
export async function insertTestUser(db: Db, overrides: Partial<UserDetails> = {}): Promise<User & { password: string }> {
  counter += 1;
  const user = await insertUser(db, {
    username: `member${counter}`,
    fullName: `Member ${counter}`,
    title: "",
    email: null,
    phone: "",
    isAdmin: false,
    authSource: "local",
    ...overrides,
    passwordHash: await defaultPasswordHash(),
  });
  if (!user) throw new Error(`could not insert ${overrides.username ?? `member${counter}`}`);
  return { ...user, password: DEFAULT_PASSWORD };
}

export function insertTestAdmin(db: Db, overrides: Partial<UserDetails> = {}) {
  return insertTestUser(db, { isAdmin: true, ...overrides });
}

/** The user page's edit form as an administrator sends it: the account's stored values, then `changes` on top. */
export async function storedEditForm(db: Db, id: number, changes: Record<string, string> = {}): Promise<Record<string, string>> {
  const row = await db("users").where({ id }).first();
  if (!row) throw new Error(`user ${id} is gone`);
  return {
    version: String(row.version),
    username: row.username,
    fullName: row.full_name,
    title: row.title,
    email: row.email ?? "",
    phone: row.phone,
    authSource: row.auth_source,
    ...(row.is_admin ? { isAdmin: "on" } : {}),
    ...changes,
  };
}
