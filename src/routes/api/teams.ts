import type { Request } from "express";
import { ForbiddenError, NotFoundError } from "../../errors.ts";
import { findUser } from "../../services/accounts.ts";
import {
  addTeamMember,
  createTeam,
  deleteTeam,
  findTeamById,
  isTeamMember,
  listTeamMembersPage,
  listTeamsPage,
  removeTeamMember,
  updateTeam,
} from "../../services/teams.ts";
import type { Team } from "../../types/catalog.ts";
import { actorOf } from "../actor.ts";
import type { RouteDeps } from "../deps.ts";
import { type Operation, operation, pageOf, PageQuery, pageWindow, send, sendPage } from "./operation.ts";
import { DeleteQuery, IdPath, ListQuery, MembershipView, MemberView, NamedBody, NamedUpdateBody, TeamMemberPath, TeamView } from "./schemas.ts";

const TAG = "Teams";
const NO_TEAM = "There is no such team.";

/** An administrator reads any team; anyone else only the teams they belong to, and another team is not found. */
async function readableTeam(req: Request, db: RouteDeps["db"], id: number): Promise<Team> {
  const me = req.user!;
  const team = await findTeamById(db, id);
  if (!team || (!me.isAdmin && !(await isTeamMember(db, id, me.id)))) throw new NotFoundError(NO_TEAM);
  return team;
}

export function teamOperations({ db }: RouteDeps): Operation[] {
  return [
    operation({
      method: "get",
      path: "/teams",
      operationId: "listTeams",
      summary: "List teams",
      description: "Administrators get every team; anyone else the teams they belong to.",
      tag: TAG,
      access: "token",
      query: ListQuery,
      responses: { 200: { description: "One page of teams, by name.", schema: pageOf(TeamView) } },
      handler: async (req, res, { query }) => {
        const me = req.user!;
        const { teams, total } = await listTeamsPage(db, { search: query.q, memberId: me.isAdmin ? undefined : me.id, ...pageWindow(query) });
        sendPage(res, TeamView, teams, total, query);
      },
    }),

    operation({
      method: "post",
      path: "/teams",
      operationId: "createTeam",
      summary: "Create a team",
      tag: TAG,
      access: "admin",
      body: NamedBody,
      responses: { 201: { description: "The new team.", schema: TeamView }, 409: { description: "A team with that name exists." } },
      handler: async (req, res, { body }) => {
        const team = await createTeam(db, actorOf(req), body);
        res.location(`/api/v1/teams/${team.id}`);
        send(res, 201, TeamView, team);
      },
    }),

    operation({
      method: "get",
      path: "/teams/:id",
      operationId: "getTeam",
      summary: "Read a team",
      tag: TAG,
      access: "token",
      params: IdPath,
      responses: { 200: { description: "The team.", schema: TeamView } },
      handler: async (req, res, { params }) => send(res, 200, TeamView, await readableTeam(req, db, params.id)),
    }),

    operation({
      method: "patch",
      path: "/teams/:id",
      operationId: "updateTeam",
      summary: "Rename a team or change its description",
      tag: TAG,
      access: "admin",
      params: IdPath,
      body: NamedUpdateBody,
      responses: { 200: { description: "The team as saved.", schema: TeamView }, 409: { description: "Changed since `version`, or the name is taken." } },
      handler: async (req, res, { params, body }) => {
        const current = await findTeamById(db, params.id);
        if (!current) throw new NotFoundError(NO_TEAM);
        const team = await updateTeam(db, actorOf(req), params.id, body.version, {
          name: body.name ?? current.name,
          description: body.description ?? current.description,
        });
        send(res, 200, TeamView, team);
      },
    }),

    operation({
      method: "delete",
      path: "/teams/:id",
      operationId: "deleteTeam",
      summary: "Delete a team",
      description: "Its memberships and grants go with it; its members and the systems stay.",
      tag: TAG,
      access: "admin",
      params: IdPath,
      query: DeleteQuery,
      responses: { 204: { description: "Deleted." }, 409: { description: "Changed since `version`." } },
      handler: async (req, res, { params, query }) => {
        const current = await findTeamById(db, params.id);
        if (!current) throw new NotFoundError(NO_TEAM);
        await deleteTeam(db, actorOf(req), params.id, query.version ?? current.version);
        res.status(204).end();
      },
    }),

    operation({
      method: "get",
      path: "/teams/:id/members",
      operationId: "listTeamMembers",
      summary: "List a team's members",
      description: "Administrators only: a member may see the team, not who else is in it.",
      tag: "Memberships",
      access: "token",
      params: IdPath,
      query: PageQuery,
      responses: { 200: { description: "One page of members, by username.", schema: pageOf(MemberView) } },
      handler: async (req, res, { params, query }) => {
        await readableTeam(req, db, params.id);
        if (!req.user!.isAdmin) throw new ForbiddenError("Only administrators can list a team's members.");
        const { members, total } = await listTeamMembersPage(db, params.id, pageWindow(query));
        sendPage(res, MemberView, members, total, query);
      },
    }),

    operation({
      method: "put",
      path: "/teams/:id/members/:userId",
      operationId: "addTeamMember",
      summary: "Add a user to a team",
      description: "Idempotent: adding a member again changes nothing (200 instead of 201).",
      tag: "Memberships",
      access: "admin",
      params: TeamMemberPath,
      responses: { 201: { description: "Added.", schema: MembershipView }, 200: { description: "Already a member.", schema: MembershipView } },
      handler: async (req, res, { params }) => {
        const [team, user] = await Promise.all([findTeamById(db, params.id), findUser(db, params.userId)]);
        if (!team) throw new NotFoundError(NO_TEAM);
        if (!user) throw new NotFoundError("There is no such user.");
        const { added } = await addTeamMember(db, actorOf(req), params.id, params.userId, "team");
        send(res, added ? 201 : 200, MembershipView, { team: { id: team.id, name: team.name }, user: { id: user.id, username: user.username }, added });
      },
    }),

    operation({
      method: "delete",
      path: "/teams/:id/members/:userId",
      operationId: "removeTeamMember",
      summary: "Remove a user from a team",
      description: "Idempotent: removing someone who is not a member is not an error.",
      tag: "Memberships",
      access: "admin",
      params: TeamMemberPath,
      responses: { 204: { description: "Not a member (any more)." } },
      handler: async (req, res, { params }) => {
        await removeTeamMember(db, actorOf(req), params.id, params.userId);
        res.status(204).end();
      },
    }),
  ];
}
