import type { Router } from "express";
import { EmptySchema } from "../../../lib/fields.ts";
import type { z } from "zod";
import { flash } from "../../../lib/flash.ts";
import { input, validate } from "../../../middleware/validate.ts";
import { lossSentence } from "../../../presenters/access.ts";
import { presentGrants } from "../../../presenters/grants.ts";
import { memberToAdd } from "../../../services/accounts.ts";
import { grantsWithChoices } from "../../../services/grants.ts";
import {
  addTeamMember,
  findTeamById,
  listAllTeams,
  listTeamMembers,
  teamRecords,
  removeTeamMember,
} from "../../../services/teams.ts";
import type { Team } from "../../../types/catalog.ts";
import { actorOf } from "../../actor.ts";
import type { RouteDeps } from "../../deps.ts";
import { catalogPages } from "../catalog-pages.ts";
import { AddMemberSchema, IdParams, MemberParams, TeamFieldsSchema, TeamUpdateSchema } from "../catalog-schemas.ts";
import { grantRoutes } from "../grant-routes.ts";

export function adminTeamsRouter({ db }: RouteDeps): Router {
  const { router, pageForm } = catalogPages<Team, z.infer<typeof TeamFieldsSchema>>(db, {
    kind: "team",
    noun: "Team",
    path: "/admin/teams",
    views: "admin/teams",
    createSchema: TeamFieldsSchema,
    updateSchema: TeamUpdateSchema,
    afterCreate: "Add members and access below.",
    savedValues: (team) => ({ name: team.name, description: team.description, version: String(team.version) }),
    // The member form's username is kept too, beside the details as saved.
    valuesAfterError: (typed, saved) => ({ ...saved, ...typed }),
    list: async (db, actor) => ({ title: "Teams", teams: await listAllTeams(db, actor) }),
    records: { ...teamRecords, find: findTeamById },
    sections: async (db, actor, team) => {
      const [members, grants] = await Promise.all([listTeamMembers(db, actor, team.id), grantsWithChoices(db, actor, { kind: "team", id: team.id })]);
      return { members, grants: presentGrants(`/admin/teams/${team.id}`, grants.systemGrants, grants.groupGrants, grants.systems, grants.groups) };
    },
  });

  router.post("/:id/members", validate({ params: IdParams }), pageForm, validate({ body: AddMemberSchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof AddMemberSchema>, unknown, { id: number }>(res);
    const user = await memberToAdd(db, actorOf(req), body.username);
    const { added, teamName } = await addTeamMember(db, actorOf(req), params.id, user.id, "user");
    flash(req, "success", added ? `${user.username} joined team ${teamName}.` : `${user.username} was already in team ${teamName}.`);
    res.redirect(303, `/admin/teams/${params.id}#members`);
  });

  router.post("/:id/members/:userId/remove", validate({ params: MemberParams }), pageForm, validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, z.infer<typeof MemberParams>>(res);
    const { removed, teamName, lost } = await removeTeamMember(db, actorOf(req), params.id, params.userId);
    flash(req, "success", removed ? `Removed from team ${teamName}; ${lossSentence(lost)}.` : "That member had already left the team.");
    res.redirect(303, `/admin/teams/${params.id}#members`);
  });

  router.use(grantRoutes(db, "team", (id) => `/admin/teams/${id}`, pageForm));
  return router;
}
