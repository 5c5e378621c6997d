import type { Queryable } from "../../db/index.ts";
import { nameKey, nameSkeleton } from "../../lib/fields.ts";
import type { AuthSource } from "../../types/user.ts";

// Many accounts at once (docs/domain.md, "Importing users"): lookups by a list of keys and multi-row inserts, so
// that a file of 50,000 rows costs a few dozen statements rather than one round trip per row.

/** Keys per statement: well under Postgres's 65,535 bind parameters, and a plan that stays an index scan. */
const KEYS_PER_LOOKUP = 5_000;
/** Rows per INSERT: eleven columns each keeps a statement at about 11,000 parameters. */
const ROWS_PER_INSERT = 1_000;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The existing accounts whose username key (trim, NFKC, lower-case) is among `keys`: key → the stored spelling. */
export async function selectUsernamesByKeys(db: Queryable, keys: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const chunk of chunks([...new Set(keys)], KEYS_PER_LOOKUP)) {
    const rows = (await db("users").select("username", "username_key").whereIn("username_key", chunk)) as { username: string; username_key: string }[];
    for (const row of rows) found.set(row.username_key, row.username);
  }
  return found;
}

/** The existing accounts whose username skeleton (docs/domain.md, "Accounts") is among `skeletons`: skeleton → the stored spelling. */
export async function selectUsernamesBySkeletons(db: Queryable, skeletons: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const chunk of chunks([...new Set(skeletons)], KEYS_PER_LOOKUP)) {
    const rows = (await db("users").select("username", "username_skeleton").whereIn("username_skeleton", chunk)) as { username: string; username_skeleton: string }[];
    for (const row of rows) found.set(row.username_skeleton, row.username);
  }
  return found;
}

/** The accounts using any of `addresses` (compared without regard to case, as the unique index does): lower-cased address → username. */
export async function selectEmailOwners(db: Queryable, addresses: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const lowered = [...new Set(addresses.map((a) => a.toLowerCase()))];
  for (const chunk of chunks(lowered, KEYS_PER_LOOKUP)) {
    const rows = (await db("users").select("username", db.raw("lower(email) AS address")).whereRaw(`lower(email) IN (${chunk.map(() => "?").join(", ")})`, chunk)) as {
      username: string;
      address: string;
    }[];
    for (const row of rows) found.set(row.address, row.username);
  }
  return found;
}

export interface NewImportedUser {
  username: string;
  fullName: string;
  title: string;
  email: string | null;
  phone: string;
  authSource: AuthSource;
}

/**
 * Inserts the accounts, a thousand to a statement, with no password (NULL: a local account opens only with an
 * emailed code or a temporary password) and the email unverified. Returns each new id by username key. A name
 * taken meanwhile is a unique violation that ends the caller's transaction: all or nothing.
 */
export async function insertImportedUsers(db: Queryable, rows: readonly NewImportedUser[]): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const chunk of chunks(rows, ROWS_PER_INSERT)) {
    const inserted = (await db("users")
      .insert(
        chunk.map((row) => ({
          username: row.username,
          username_key: nameKey(row.username),
          username_skeleton: nameSkeleton(row.username),
          full_name: row.fullName,
          title: row.title,
          email: row.email,
          email_verified: false,
          phone: row.phone,
          is_admin: false,
          auth_source: row.authSource,
          password_hash: null,
        })),
      )
      .returning(["id", "username_key"])) as { id: string | number; username_key: string }[];
    for (const row of inserted) ids.set(row.username_key, Number(row.id));
  }
  return ids;
}
