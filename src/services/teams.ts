import type { Db } from "../db/index.ts";
import { ConflictError, NotFoundError, StaleWriteError, ValidationError } from "../errors.ts";
import { type AccessLoss, previewAccessLoss } from "../repositories/access-loss.ts";
import * as teams from "../repositories/teams.ts";
import { findUserById } from "../repositories/users.ts";
import type { Team } from "../types/catalog.ts";
import type { Actor } from "../types/user.ts";
import { diffFields, recordAudit } from "./audit.ts";
import { isUniqueViolation } from "./errors-map.ts";

const AUDITED = ["name", "description"] as const;

function nameTaken(name: string): ConflictError {
  return new ConflictError(`A team named "${name}" already exists.`, {
    name: `The name "${name}" is already used by another team (names are compared without regard to case).`,
  });
}

export async function createTeam(db: Db, actor: Actor, fields: { name: string; description: string }): Promise<Team> {
  return db.transaction(async (trx) => {
    const team = await teams.insertTeam(trx, fields);
    if (!team) throw nameTaken(fields.name);
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
    if (isUniqueViolation(error)) throw nameTaken(fields.name);
    throw error;
  }
}

/** Deletes only the team, its memberships and its grants (DESIGN §3.1); users and systems stay. */
export async function deleteTeam(db: Db, actor: Actor, id: number, version: number): Promise<{ team: Team; lost: AccessLoss[] }> {
  return db.transaction(async (trx) => {
    const before = await teams.findTeam(trx, id);
    if (!before) throw new NotFoundError();
    const lost = await previewAccessLoss(trx, { kind: "team", id });
    if (!(await teams.deleteTeam(trx, id, version))) throw new StaleWriteError(before);
    await recordAudit(trx, actor, {
      action: "team.deleted",
      target: { type: "team", id, label: before.name },
      details: { changes: diffFields<Team>(before, {}, AUDITED), usersLosingAccess: [...new Set(lost.map((l) => l.username))] },
    });
    return { team: before, lost };
  });
}

/** Idempotent: adding a member twice writes one row and one event. */
export async function addTeamMember(db: Db, actor: Actor, teamId: number, userId: number): Promise<{ added: boolean; username: string; teamName: string }> {
  return db.transaction(async (trx) => {
    const team = await teams.findTeam(trx, teamId);
    if (!team) throw new NotFoundError();
    const user = await findUserById(trx, userId);
    if (!user) throw new ValidationError({ userId: "Choose a user from the list; that one no longer exists." });
    const added = await teams.addMember(trx, teamId, userId);
    if (added)
      await recordAudit(trx, actor, {
        action: "team.member_added",
        target: { type: "team", id: teamId, label: team.name },
        details: { user: { id: userId, username: user.username } },
      });
    return { added, username: user.username, teamName: team.name };
  });
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
