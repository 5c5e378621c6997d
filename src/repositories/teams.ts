import type { Queryable } from "../db/index.ts";
import type { Team } from "../types/catalog.ts";
import { type NamedRow, namedFields, namedRows } from "./named-rows.ts";
import { containsPattern } from "./search-pattern.ts";

interface TeamRow extends NamedRow {
  member_count?: string | number;
}

function toTeam(row: TeamRow): Team {
  return { ...namedFields(row), memberCount: Number(row.member_count ?? 0) };
}

const MEMBER_COUNT = "(SELECT count(*) FROM team_members tm WHERE tm.team_id = teams.id) AS member_count";

/** The reads and writes of one record at a time, as services/catalog-records.ts uses them. */
export const teamRows = namedRows<TeamRow, Team, { name: string; description: string }>({
  table: "teams",
  columns: (db) => ["id", "name", "description", "version", db.raw(MEMBER_COUNT)],
  returning: ["id", "name", "description", "version"],
  toRecord: toTeam,
});
export const { select: selectTeam, selectByName: selectTeamByName, insert: insertTeam, update: updateTeamRow, delete: deleteTeamRow } = teamRows;

export async function selectTeams(db: Queryable): Promise<Team[]> {
  const rows = await db("teams").select("id", "name", "description", "version", db.raw(MEMBER_COUNT)).orderBy("name_key");
  return (rows as TeamRow[]).map(toTeam);
}

/** One page of teams by name, optionally only those whose name contains `search`, or only those `memberId` belongs to. */
export async function selectTeamsPage(
  db: Queryable,
  query: { search: string; memberId?: number; limit: number; offset: number },
): Promise<{ teams: Team[]; total: number }> {
  const base = db("teams");
  if (query.search) base.whereRaw("name_key LIKE ?", [containsPattern(query.search)]);
  if (query.memberId !== undefined)
    base.whereExists(db("team_members as tm").select(db.raw("1")).whereRaw("tm.team_id = teams.id").andWhere("tm.user_id", query.memberId));
  const [rows, count] = await Promise.all([
    base.clone().select("id", "name", "description", "version", db.raw(MEMBER_COUNT)).orderBy([{ column: "name_key" }, { column: "id" }]).limit(query.limit).offset(query.offset),
    base.clone().count<{ count: string }[]>("* as count").first(),
  ]);
  return { teams: (rows as TeamRow[]).map(toTeam), total: Number(count?.count ?? 0) };
}

export async function selectIsMember(db: Queryable, teamId: number, userId: number): Promise<boolean> {
  return (await db("team_members").select("user_id").where({ team_id: teamId, user_id: userId }).first()) !== undefined;
}

/** One page of a team's members by username. */
export async function selectMembersPage(
  db: Queryable,
  teamId: number,
  page: { limit: number; offset: number },
): Promise<{ members: { id: number; username: string; fullName: string }[]; total: number }> {
  const base = db("team_members as tm").join("users as u", "u.id", "tm.user_id").where("tm.team_id", teamId);
  const [rows, count] = await Promise.all([
    base.clone().select("u.id", "u.username", "u.full_name").orderBy([{ column: "u.username_key" }, { column: "u.id" }]).limit(page.limit).offset(page.offset),
    base.clone().count<{ count: string }[]>("* as count").first(),
  ]);
  return {
    members: rows.map((r: { id: string; username: string; full_name: string }) => ({ id: Number(r.id), username: r.username, fullName: r.full_name })),
    total: Number(count?.count ?? 0),
  };
}

export async function selectMembers(db: Queryable, teamId: number): Promise<{ id: number; username: string; fullName: string }[]> {
  const rows = await db("team_members as tm")
    .join("users as u", "u.id", "tm.user_id")
    .select("u.id", "u.username", "u.full_name")
    .where("tm.team_id", teamId)
    .orderBy("u.username_key");
  return rows.map((r: { id: string; username: string; full_name: string }) => ({ id: Number(r.id), username: r.username, fullName: r.full_name }));
}

export async function selectTeamsOfUser(db: Queryable, userId: number): Promise<{ id: number; name: string }[]> {
  const rows = await db("team_members as tm").join("teams as t", "t.id", "tm.team_id").select("t.id", "t.name").where("tm.user_id", userId).orderBy("t.name_key");
  return rows.map((r: { id: string; name: string }) => ({ id: Number(r.id), name: r.name }));
}

/** Idempotent: true only when the membership is new. `byDirectory`: added by an LDAP group mapping. */
export async function insertMember(db: Queryable, teamId: number, userId: number, options: { byDirectory?: boolean } = {}): Promise<boolean> {
  const rows = await db("team_members")
    .insert({ team_id: teamId, user_id: userId, added_by_directory: options.byDirectory ?? false })
    .onConflict(["team_id", "user_id"])
    .ignore()
    .returning("user_id");
  return rows.length > 0;
}

/** The teams whose membership of `userId` an LDAP group mapping added (not an administrator). */
export async function selectDirectoryAddedTeamIds(db: Queryable, userId: number): Promise<number[]> {
  const rows = await db("team_members").select("team_id").where({ user_id: userId, added_by_directory: true });
  return (rows as { team_id: string | number }[]).map((r) => Number(r.team_id));
}

/** Idempotent: removing a member who already left is a no-op reporting false. */
export async function deleteMember(db: Queryable, teamId: number, userId: number): Promise<boolean> {
  return (await db("team_members").where({ team_id: teamId, user_id: userId }).delete().returning("*")).length > 0;
}

/** The teams named by any of `keys` (name keys: trim, NFKC, lower-case, as the unique index compares): key → team. */
export async function selectTeamsByNameKeys(db: Queryable, keys: readonly string[]): Promise<Map<string, { id: number; name: string }>> {
  const found = new Map<string, { id: number; name: string }>();
  if (keys.length === 0) return found;
  const rows = (await db("teams").select("id", "name", "name_key").whereIn("name_key", [...new Set(keys)])) as { id: string | number; name: string; name_key: string }[];
  for (const row of rows) found.set(row.name_key, { id: Number(row.id), name: row.name });
  return found;
}

/** Adds many memberships, a few thousand to a statement; pairs already there are left as they are. */
export async function insertMembers(db: Queryable, memberships: readonly { teamId: number; userId: number }[]): Promise<number> {
  let added = 0;
  for (let i = 0; i < memberships.length; i += 5_000) {
    const chunk = memberships.slice(i, i + 5_000);
    const rows = await db("team_members")
      .insert(chunk.map((m) => ({ team_id: m.teamId, user_id: m.userId })))
      .onConflict(["team_id", "user_id"])
      .ignore()
      .returning("user_id");
    added += rows.length;
  }
  return added;
}
