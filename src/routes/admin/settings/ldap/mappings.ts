import { Router } from "express";
import { EmptySchema } from "../../../../lib/fields.ts";
import type { z } from "zod";
import { flash } from "../../../../lib/flash.ts";
import { input, validate } from "../../../../middleware/validate.ts";
import {
  addLdapDefaultTeam,
  addLdapGroupMapping,
  listLdapDefaultTeams,
  removeLdapDefaultTeam,
  removeLdapGroupMapping,
} from "../../../../services/ldap-settings.ts";
import { actorOf } from "../../../actor.ts";
import type { RouteDeps } from "../../../deps.ts";
import { LDAP_PATH, pageSectionForm } from "./page.ts";
import { DefaultTeamSchema, GroupMappingSchema, MappingParams, TeamParams } from "./schemas-page.ts";

function joinNames(names: string[]): string {
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

/** The LDAP Default Teams and the LDAP Group Mappings, both forms of the settings page. */
export function ldapTeamMappingsRouter(db: RouteDeps["db"]): Router {
  const router = Router();

  // LDAP Default Teams

  router.post("/default-teams", pageSectionForm(db, "defaultTeam"), validate({ body: DefaultTeamSchema }), async (req, res) => {
    const { body } = input<z.infer<typeof DefaultTeamSchema>>(res);
    const { added, teamName } = await addLdapDefaultTeam(db, actorOf(req), body.teamId);
    flash(
      req,
      "success",
      added ? `Team ${teamName} added to the LDAP Default Teams: accounts that LDAP creates from now on join it.` : `Team ${teamName} was already an LDAP Default Team.`,
    );
    res.redirect(303, `${LDAP_PATH}#default-teams`);
  });

  router.post(
    "/default-teams/:teamId/remove",
    validate({ params: TeamParams }),
    pageSectionForm(db, "defaultTeam"),
    validate({ body: EmptySchema }),
    async (req, res) => {
      const { params } = input<unknown, unknown, z.infer<typeof TeamParams>>(res);
      const team = (await listLdapDefaultTeams(db)).find((t) => t.id === params.teamId);
      const { removed } = await removeLdapDefaultTeam(db, actorOf(req), params.teamId);
      flash(
        req,
        "success",
        removed && team
          ? `Team ${team.name} removed from the LDAP Default Teams. Accounts already in the team stay in it.`
          : "That team was not an LDAP Default Team; nothing changed.",
      );
      res.redirect(303, `${LDAP_PATH}#default-teams`);
    },
  );

  // LDAP Group Mappings

  router.post("/mappings", pageSectionForm(db, "mapping"), validate({ body: GroupMappingSchema }), async (req, res) => {
    const { body } = input<z.infer<typeof GroupMappingSchema>>(res);
    const { added } = await addLdapGroupMapping(db, actorOf(req), body.groupName, body.teamIds);
    const teams = added.length === 1 ? `team ${added[0]}` : `teams ${joinNames(added)}`;
    flash(
      req,
      "success",
      added.length > 0
        ? `Directory group ${body.groupName} now maps to ${teams}: its members join at their next LDAP sign-in.`
        : `Directory group ${body.groupName} already maps to the chosen teams; nothing changed.`,
    );
    res.redirect(303, `${LDAP_PATH}#group-mappings`);
  });

  router.post("/mappings/:id/remove", validate({ params: MappingParams }), pageSectionForm(db, "mapping"), validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, z.infer<typeof MappingParams>>(res);
    const removed = await removeLdapGroupMapping(db, actorOf(req), params.id);
    flash(req, "success", removed ? `Mapping ${removed.groupName} → ${removed.teamName} removed.` : "That mapping was already removed; nothing changed.");
    res.redirect(303, `${LDAP_PATH}#group-mappings`);
  });

  return router;
}
