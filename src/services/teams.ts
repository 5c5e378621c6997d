import type { Db, Queryable } from "../db/index.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import { actsAsAdministrator } from "../policies/actor.ts";
import { assertCan, can, listScope, NO_SUCH_TEAM } from "../policies/teams.ts";
import { assertCan as assertCanOnUser } from "../policies/users.ts";
import { previewAccessLoss } from "../repositories/access-loss.ts";
import type { AccessLoss } from "../types/access.ts";
import * as teams from "../repositories/teams.ts";
import { findUserById } from "../repositories/users/index.ts";
import type { Team } from "../types/catalog.ts";
import type { Actor } from "../types/user.ts";
import { recordAudit } from "./audit.ts";
import { type CatalogStore, guardedRecords } from "./catalog-records.ts";
import { onForeignKeyViolation } from "./errors-map.ts";
import { grantsOfTeamForAudit } from "./grants.ts";

type TeamFields = { name: string; description: string };

export const TEAM_STORE: CatalogStore<Team, TeamFields> = {
  kind: "team",
  missing: NO_SUCH_TEAM,
  audited: ["name", "description"],
  ...teams.teamRows,
};

/** Every team, by name: for the administrators' pickers. */
export function listAllTeams(db: Queryable, actor: Actor): Promise<Team[]> {
  assertCan(actor, "administer");
  return teams.selectTeams(db);
}

/** Any team, as the administrators' pages and operations read it. */
export function findTeamById(db: Queryable, actor: Actor, id: number): Promise<Team | undefined> {
  assertCan(actor, "administer");
  return teams.selectTeam(db, id);
}

/** A team the actor may see (an administrator any, anyone else their own); any other id is not found. */
export async function readTeam(db: Queryable, actor: Actor, id: number, needs: "read" | "list-members" = "read"): Promise<Team> {
  const team = await teams.selectTeam(db, id);
  const isMember = team !== undefined && actor.id !== null && !actsAsAdministrator(actor) ? await teams.selectIsMember(db, id, actor.id) : false;
  if (!team || !can(actor, "read", { isMember })) throw new NotFoundError(NO_SUCH_TEAM);
  assertCan(actor, needs, { isMember });
  return team;
}

/** One page of the teams the actor may see, by name: every team for an administrator, their own for anyone else. */
export function listTeamsPage(db: Queryable, actor: Actor, query: { search: string; limit: number; offset: number }) {
  assertCan(actor, "list");
  return teams.selectTeamsPage(db, { ...query, ...listScope(actor) });
}

/** One page of the members of a team: administrators only (a member sees the team, not who else is in it). */
export async function listTeamMembersPage(db: Queryable, actor: Actor, teamId: number, page: { limit: number; offset: number }) {
  await readTeam(db, actor, teamId, "list-members");
  return teams.selectMembersPage(db, teamId, page);
}

/** The teams an account belongs to: its own, or anyone's for an administrator. */
export function teamsOfUser(db: Queryable, actor: Actor, userId: number): Promise<{ id: number; name: string }[]> {
  assertCanOnUser(actor, "read", { id: userId });
  return teams.selectTeamsOfUser(db, userId);
}

/** Every member of a team, for its page. */
export function listTeamMembers(db: Queryable, actor: Actor, teamId: number) {
  assertCan(actor, "list-members");
  return teams.selectMembers(db, teamId);
}

/** Create, change and delete a team, and what its deletion would cost: its memberships and grants go with it (docs/domain.md). */
export const teamRecords = guardedRecords(TEAM_STORE, assertCan, async (trx, id) => ({
  members: (await teams.selectMembers(trx, id)).map((m) => m.username),
  grants: await grantsOfTeamForAudit(trx, id),
}));
export const { create: createTeam, update: updateTeam, remove: deleteTeam } = teamRecords;

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
  assertCan(actor, "add-member");
  // The page's own record is checked first: when it is gone, so is the page.
  const missing = (team: unknown, user: unknown): "team" | "user" | undefined =>
    (picked === "team" ? (["user", "team"] as const) : (["team", "user"] as const)).find((what) => !(what === "team" ? team : user));
  return onForeignKeyViolation(
    () =>
      db.transaction(async (trx) => {
        const team = await teams.selectTeam(trx, teamId);
        const user = await findUserById(trx, userId);
        if (!team || !user) throw gone(missing(team, user) ?? "team");
        const added = await teams.insertMember(trx, teamId, userId);
        if (added)
          await recordAudit(trx, actor, {
            action: "team.member_added",
            target: { type: "team", id: teamId, label: team.name },
            details: { user: { id: userId, username: user.username } },
          });
        return { added, username: user.username, teamName: team.name };
      }),
    // The insert found the team or the user deleted after this transaction read them.
    async () => gone(missing(await teams.selectTeam(db, teamId), await findUserById(db, userId)) ?? "team"),
  );
}

/** Idempotent: removing a member who already left changes nothing. */
export async function removeTeamMember(
  db: Db,
  actor: Actor,
  teamId: number,
  userId: number,
): Promise<{ removed: boolean; teamName: string; lost: AccessLoss[] }> {
  assertCan(actor, "remove-member");
  return db.transaction(async (trx) => {
    const team = await teams.selectTeam(trx, teamId);
    if (!team) throw new NotFoundError();
    const lost = await previewAccessLoss(trx, { kind: "membership", teamId, userId });
    const user = await findUserById(trx, userId);
    const removed = await teams.deleteMember(trx, teamId, userId);
    if (removed)
      await recordAudit(trx, actor, {
        action: "team.member_removed",
        target: { type: "team", id: teamId, label: team.name },
        details: { user: { id: userId, username: user?.username ?? null } },
      });
    return { removed, teamName: team.name, lost: removed ? lost : [] };
  });
}
