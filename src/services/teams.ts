import type { Db, Queryable } from "../db/index.ts";
import { type ConflictError, NotFoundError, StaleWriteError, ValidationError } from "../errors.ts";
import { type AccessLoss, previewAccessLoss } from "../repositories/access-loss.ts";
import * as teams from "../repositories/teams.ts";
import { findUserById } from "../repositories/users.ts";
import type { Team } from "../types/catalog.ts";
import type { Actor } from "../types/user.ts";
import { diffFields, recordAudit, unchanged } from "./audit.ts";
import { isUniqueViolation, nameTakenError, onForeignKeyViolation } from "./errors-map.ts";
import { grantsOfTeamForAudit } from "./grants.ts";

const AUDITED = ["name", "description"] as const;

async function nameTaken(db: Queryable, name: string): Promise<ConflictError> {
  return nameTakenError("team", name, (await teams.findTeamByName(db, name))?.name);
}

/** Every team, by name: for the pickers that offer them. */
export function listAllTeams(db: Queryable): Promise<Team[]> {
  return teams.listTeams(db);
}

export function findTeamById(db: Queryable, id: number): Promise<Team | undefined> {
  return teams.findTeam(db, id);
}

/** One page of teams by name; with `memberId`, only the teams that account belongs to. */
export function listTeamsPage(db: Queryable, query: { search: string; memberId?: number; limit: number; offset: number }) {
  return teams.listTeamsPage(db, query);
}

export function listTeamMembersPage(db: Queryable, teamId: number, page: { limit: number; offset: number }) {
  return teams.teamMembersPage(db, teamId, page);
}

export function isTeamMember(db: Queryable, teamId: number, userId: number): Promise<boolean> {
  return teams.isTeamMember(db, teamId, userId);
}

export function teamsOfUser(db: Queryable, userId: number): Promise<{ id: number; name: string }[]> {
  return teams.teamsOfUser(db, userId);
}

export async function createTeam(db: Db, actor: Actor, fields: { name: string; description: string }): Promise<Team> {
  return db.transaction(async (trx) => {
    const team = await teams.insertTeam(trx, fields);
    if (!team) throw await nameTaken(trx, fields.name);
    await recordAudit(trx, actor, {
      action: "team.created",
      target: { type: "team", id: team.id, label: team.name },
      details: { changes: diffFields<Team>({}, team, AUDITED) },
    });
    return team;
  });
}

export async function updateTeam(db: Db, actor: Actor, id: number, version: number, fields: { name: string; description: string }): Promise<Team> {
  try {
    return await db.transaction(async (trx) => {
      const before = await teams.findTeam(trx, id);
      if (!before) throw new NotFoundError();
      if (unchanged<Team>(before, fields, AUDITED)) {
        // Saving what is already there moves no version on and writes no event; a stale version is still refused.
        if (before.version !== version) throw new StaleWriteError(before);
        return before;
      }
      const after = await teams.updateTeam(trx, id, version, fields);
      if (!after) throw new StaleWriteError(before);
      await recordAudit(trx, actor, {
        action: "team.updated",
        target: { type: "team", id, label: after.name },
        details: { changes: diffFields<Team>(before, after, AUDITED) },
      });
      return after;
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw await nameTaken(db, fields.name);
    throw error;
  }
}

/** Deletes only the team, its memberships and its grants (DESIGN §3.1); users and systems stay. */
export async function deleteTeam(db: Db, actor: Actor, id: number, version: number): Promise<{ team: Team; lost: AccessLoss[] }> {
  return db.transaction(async (trx) => {
    const before = await teams.findTeam(trx, id);
    if (!before) throw new NotFoundError();
    const lost = await previewAccessLoss(trx, { kind: "team", id });
    const members = (await teams.teamMembers(trx, id)).map((m) => m.username);
    const grants = await grantsOfTeamForAudit(trx, id);
    if (!(await teams.deleteTeam(trx, id, version))) throw new StaleWriteError(before);
    await recordAudit(trx, actor, {
      action: "team.deleted",
      target: { type: "team", id, label: before.name },
      details: { changes: diffFields<Team>(before, {}, AUDITED), usersLosingAccess: [...new Set(lost.map((l) => l.username))], members, grants },
    });
    return { team: before, lost };
  });
}

/**
 * Idempotent: adding a member twice writes one row and one event. `picked` says which side the form chose
 * (the page is the other one): a team chosen on a user's page (field teamId) or a user named on a team's page
 * (field username). When the chosen one does not exist, or was deleted meanwhile, that field is in error (422);
 * when the page's own team or user is gone, the answer is a 404.
 */
export async function addTeamMember(
  db: Db,
  actor: Actor,
  teamId: number,
  userId: number,
  picked: "team" | "user" = "team",
): Promise<{ added: boolean; username: string; teamName: string }> {
  const gone = (what: "team" | "user") => {
    if (what !== picked) return new NotFoundError();
    return what === "team"
      ? new ValidationError({ teamId: "Choose a team from the list; that one no longer exists." })
      : new ValidationError({ username: "That user no longer exists; check the username." });
  };
  // The page's own record is checked first: when it is gone, so is the page.
  const missing = (team: unknown, user: unknown): "team" | "user" | undefined =>
    (picked === "team" ? (["user", "team"] as const) : (["team", "user"] as const)).find((what) => !(what === "team" ? team : user));
  return onForeignKeyViolation(
    () =>
      db.transaction(async (trx) => {
        const team = await teams.findTeam(trx, teamId);
        const user = await findUserById(trx, userId);
        if (!team || !user) throw gone(missing(team, user) ?? "team");
        const added = await teams.addMember(trx, teamId, userId);
        if (added)
          await recordAudit(trx, actor, {
            action: "team.member_added",
            target: { type: "team", id: teamId, label: team.name },
            details: { user: { id: userId, username: user.username } },
          });
        return { added, username: user.username, teamName: team.name };
      }),
    // The insert found the team or the user deleted after this transaction read them.
    async () => gone(missing(await teams.findTeam(db, teamId), await findUserById(db, userId)) ?? "team"),
  );
}

/** Idempotent: removing a member who already left changes nothing. */
export async function removeTeamMember(
  db: Db,
  actor: Actor,
  teamId: number,
  userId: number,
): Promise<{ removed: boolean; teamName: string; lost: AccessLoss[] }> {
  return db.transaction(async (trx) => {
    const team = await teams.findTeam(trx, teamId);
    if (!team) throw new NotFoundError();
    const lost = await previewAccessLoss(trx, { kind: "membership", teamId, userId });
    const user = await findUserById(trx, userId);
    const removed = await teams.removeMember(trx, teamId, userId);
    if (removed)
      await recordAudit(trx, actor, {
        action: "team.member_removed",
        target: { type: "team", id: teamId, label: team.name },
        details: { user: { id: userId, username: user?.username ?? null } },
      });
    return { removed, teamName: team.name, lost: removed ? lost : [] };
  });
}
