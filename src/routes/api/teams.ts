import { readUser } from "../../services/accounts.ts";
import {
  addTeamMember,
  createTeam,
  deleteTeam,
  listTeamMembersPage,
  listTeamsPage,
  readTeam,
  removeTeamMember,
  updateTeam,
} from "../../services/teams.ts";
import { actorOf } from "../actor.ts";
import type { RouteDeps } from "../deps.ts";
import { listWindow, namedRecordOperations } from "./named-records.ts";
import { type Operation, operation, pageOf, PageQuery, pageWindow, send, sendPage } from "./operation.ts";
import { IdPath, MembershipView, MemberView, NamedBody, NamedUpdateBody, TeamMemberPath, TeamView } from "./schemas.ts";

export function teamOperations({ db }: RouteDeps): Operation[] {
  return [
    ...namedRecordOperations(db, {
      tag: "Teams",
      path: "/teams",
      one: "Team",
      many: "Teams",
      view: TeamView,
      createBody: NamedBody,
      updateBody: NamedUpdateBody,
      access: { list: "token", read: "token", update: "admin" },
      docs: {
        list: { summary: "List teams", description: "Administrators get every team; anyone else the teams they belong to.", answer: "One page of teams, by name." },
        create: { summary: "Create a team", answer: "The new team.", conflict: "A team with that name exists." },
        read: { summary: "Read a team", answer: "The team." },
        update: { summary: "Rename a team or change its description", answer: "The team as saved.", conflict: "Changed since `version`, or the name is taken." },
        delete: { summary: "Delete a team", description: "Its memberships and grants go with it; its members and the systems stay." },
      },
      list: async (db, actor, page) => {
        const { teams, total } = await listTeamsPage(db, actor, listWindow(page));
        return { items: teams, total };
      },
      create: createTeam,
      read: readTeam,
      update: updateTeam,
      remove: deleteTeam,
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
        const { members, total } = await listTeamMembersPage(db, actorOf(req), params.id, pageWindow(query));
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
        const actor = actorOf(req);
        const [team, user] = await Promise.all([readTeam(db, actor, params.id), readUser(db, actor, params.userId)]);
        const { added } = await addTeamMember(db, actor, params.id, params.userId, "team");
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
