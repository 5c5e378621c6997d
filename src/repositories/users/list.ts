import type { Queryable } from "../../db/index.ts";
import type { User, UserSort } from "../../types/user.ts";
import { containsPattern } from "../search-pattern.ts";
import { toUser, USER_COLUMNS, type UserRow } from "./rows.ts";

/** ORDER BY expressions, never from input: names and emails sort without regard to case, like usernames. */
const USER_SORT_COLUMNS: Record<UserSort, string> = {
  username: "username_key",
  name: "lower(full_name)",
  email: "lower(email)",
  role: "is_admin",
  lastLogin: "last_login_at",
  created: "created_at",
};

export interface UserPageQuery {
  search: string;
  sort: UserSort;
  direction: "asc" | "desc";
  limit: number;
  offset: number;
}


export async function listUsers(db: Queryable, query: UserPageQuery): Promise<{ users: User[]; total: number }> {
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
async function searchUsers(db: Queryable, query: UserPageQuery): Promise<{ users: User[]; total: number }> {
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

/** The SQL type of each sort key, to read a keyset cursor (carried as text, so timestamps keep their microseconds) back. */
const USER_SORT_TYPES: Record<UserSort, string> = {
  username: "text",
  name: "text",
  email: "text",
  role: "boolean",
  lastLogin: "timestamptz",
  created: "timestamptz",
};

/** Where a batch of the users download stopped: the last account's sort key (as text; null sorts last) and id. */
export interface UserCursor {
  key: string | null;
  id: number;
}

/** An account of the users download, with the names of its teams and where it stands in the order. */
export interface UserWithTeams {
  user: User;
  teamNames: string[];
  cursor: UserCursor;
}

/**
 * The next `limit` accounts after `after`, searched and sorted exactly as the Users list (`listUsers`), by keyset
 * on (sort key, id): each batch of the download is one indexed range, however far into the directory it is.
 */
export async function selectUsersBatch(
  db: Queryable,
  query: Pick<UserPageQuery, "search" | "sort" | "direction" | "limit">,
  after?: UserCursor,
): Promise<UserWithTeams[]> {
  const column = USER_SORT_COLUMNS[query.sort];
  const direction = query.direction === "desc" ? "DESC" : "ASC";
  const beyond = query.direction === "desc" ? "<" : ">";
  const conditions: string[] = [];
  if (query.search) conditions.push("(username_key LIKE :pattern OR lower(full_name) LIKE :pattern OR lower(email) LIKE :pattern)");
  // NULLS LAST: past a key come the greater keys, then every null; past a null only the later nulls.
  if (after && after.key !== null) conditions.push(`((${column}, id) ${beyond} (CAST(:key AS ${USER_SORT_TYPES[query.sort]}), :id) OR ${column} IS NULL)`);
  if (after && after.key === null) conditions.push(`(${column} IS NULL AND id ${beyond} :id)`);
  const { rows } = await db.raw(
    `SELECT ${USER_COLUMNS.map((c) => `u.${c}`).join(", ")}, CAST(${column} AS text) AS sort_key,
            ARRAY(SELECT t.name FROM team_members tm JOIN teams t ON t.id = tm.team_id WHERE tm.user_id = u.id ORDER BY t.name_key) AS team_names
       FROM users u
      ${conditions.length ? `WHERE ${conditions.join(" AND ")}` : ""}
      ORDER BY ${column} ${direction} NULLS LAST, id ${direction}
      LIMIT :limit`,
    { pattern: query.search ? containsPattern(query.search) : null, key: after?.key ?? null, id: after?.id ?? null, limit: query.limit },
  );
  return (rows as (UserRow & { sort_key: string | null; team_names: string[] })[]).map((row) => ({
    user: toUser(row),
    teamNames: row.team_names,
    cursor: { key: row.sort_key, id: Number(row.id) },
  }));
}

export async function findUsersByIds(db: Queryable, ids: number[]): Promise<User[]> {
  if (ids.length === 0) return [];
  const rows = await db("users").select(USER_COLUMNS).whereIn("id", ids).orderBy("username_key");
  return (rows as UserRow[]).map(toUser);
}

/** Whose address this is (compared without regard to case), other than `exceptUserId`. */
