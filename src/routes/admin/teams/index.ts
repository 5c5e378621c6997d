import { type Response, Router } from "express";
import type { z } from "zod";
import { NotFoundError, StaleWriteError, ValidationError } from "../../../errors.ts";
import { flash } from "../../../lib/flash.ts";
import { formView } from "../../../middleware/form-view.ts";
import { requireAdmin } from "../../../middleware/require-auth.ts";
import { input, validate } from "../../../middleware/validate.ts";
import { lossSentence, presentAccessLoss } from "../../../presenters/access.ts";
import { presentGrants } from "../../../presenters/grants.ts";
import { previewAccessLoss } from "../../../repositories/access-loss.ts";
import { grantsOf } from "../../../repositories/grants.ts";
import { listGroups } from "../../../repositories/system-groups.ts";
import { allSystemNames } from "../../../repositories/systems.ts";
import * as teamsRepo from "../../../repositories/teams.ts";
import { findUserByUsername } from "../../../repositories/users.ts";
import { addTeamMember, createTeam, deleteTeam, removeTeamMember, updateTeam } from "../../../services/teams.ts";
import type { Team } from "../../../types/catalog.ts";
import { actorOf } from "../../actor.ts";
import { fieldErrorsOf, typedValues } from "../../form-values.ts";
import type { RouteDeps } from "../../deps.ts";
import { AddMemberSchema, EmptySchema, IdParams, MemberParams, TeamFieldsSchema, TeamUpdateSchema, VersionOnlySchema } from "../catalog-schemas.ts";
import { grantRoutes } from "../grant-routes.ts";

/** The details form's fields as the team is saved now. */
function savedValues(team: Team): Record<string, string> {
  return { name: team.name, description: team.description, version: String(team.version) };
}

export function adminTeamsRouter({ db }: RouteDeps): Router {
  const router = Router();
  router.use(requireAdmin);

  const loadTeam = async (res: Response): Promise<Team> => {
    const team = await teamsRepo.findTeam(db, input<unknown, unknown, { id: number }>(res).params.id);
    if (!team) throw new NotFoundError();
    return team;
  };

  const renderTeam = async (
    res: Response,
    team: Team,
    status: number,
    form: { values?: Record<string, string>; errors?: Record<string, string>; message?: string | null; stale?: Team } = {},
  ) => {
    const [members, systemGrants, groupGrants, systems, groups] = await Promise.all([
      teamsRepo.teamMembers(db, team.id),
      grantsOf(db, { kind: "team", id: team.id }, "system"),
      grantsOf(db, { kind: "team", id: team.id }, "group"),
      allSystemNames(db),
      listGroups(db),
    ]);
    res.status(status).render("admin/teams/show", {
      title: `Team ${team.name}`,
      team,
      members,
      values: form.values ?? savedValues(team),
      errors: form.errors ?? {},
      message: form.message ?? null,
      stale: form.stale ?? null,
      grants: presentGrants(`/admin/teams/${team.id}`, systemGrants, groupGrants, systems, groups),
    });
  };

  /**
   * Errors of any form on the team's page come back to the page with what was typed kept (the details, or the
   * username of the member form) over the team as saved. A stale save shows both versions; a stale delete
   * (its form carries only the version) shows the team as it is now.
   */
  const teamPageForm = formView(async (req, res, error) => {
    const team = await loadTeam(res);
    const typed = typedValues(req);
    if (error instanceof StaleWriteError) {
      const current = error.current as Team;
      return renderTeam(res, current, 409, {
        values: { ...savedValues(current), ...typed, version: String(current.version) },
        message: "Someone else changed this team after you opened the page. Their version is shown; your input is kept. Save again to apply it.",
        stale: current,
      });
    }
    await renderTeam(res, team, error.status, { values: { ...savedValues(team), ...typed }, errors: fieldErrorsOf(error), message: error.message });
  });

  const renderNew = (res: Response, status: number, values: Record<string, string>, errors: Record<string, string>) =>
    res.status(status).render("admin/teams/new", { title: "New team", values, errors });

  router.get("/", async (_req, res) => {
    res.render("admin/teams/list", { title: "Teams", teams: await teamsRepo.listTeams(db) });
  });

  router.get("/new", (_req, res) => renderNew(res, 200, {}, {}));

  router.post(
    "/",
    formView((req, res, error) => renderNew(res, error.status, typedValues(req), fieldErrorsOf(error))),
    validate({ body: TeamFieldsSchema }),
    async (req, res) => {
      const team = await createTeam(db, actorOf(req), input<z.infer<typeof TeamFieldsSchema>>(res).body);
      flash(req, "success", `Team ${team.name} created. Add members and access below.`);
      res.redirect(303, `/admin/teams/${team.id}`);
    },
  );

  router.get("/:id", validate({ params: IdParams }), async (_req, res) => renderTeam(res, await loadTeam(res), 200));

  router.post("/:id", validate({ params: IdParams }), teamPageForm, validate({ body: TeamUpdateSchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof TeamUpdateSchema>, unknown, { id: number }>(res);
    const team = await updateTeam(db, actorOf(req), params.id, body.version, { name: body.name, description: body.description });
    flash(req, "success", `Team ${team.name} saved.`);
    res.redirect(303, `/admin/teams/${team.id}`);
  });

  router.post("/:id/members", validate({ params: IdParams }), teamPageForm, validate({ body: AddMemberSchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof AddMemberSchema>, unknown, { id: number }>(res);
    const user = await findUserByUsername(db, body.username);
    if (!user) throw new ValidationError({ username: `No user is named "${body.username}".` });
    const { added, teamName } = await addTeamMember(db, actorOf(req), params.id, user.id, "user");
    flash(req, "success", added ? `${user.username} joined team ${teamName}.` : `${user.username} was already in team ${teamName}.`);
    res.redirect(303, `/admin/teams/${params.id}#members`);
  });

  router.post("/:id/members/:userId/remove", validate({ params: MemberParams }), teamPageForm, validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, z.infer<typeof MemberParams>>(res);
    const { removed, teamName, lost } = await removeTeamMember(db, actorOf(req), params.id, params.userId);
    flash(req, "success", removed ? `Removed from team ${teamName}; ${lossSentence(lost)}.` : "That member had already left the team.");
    res.redirect(303, `/admin/teams/${params.id}#members`);
  });

  router.use(grantRoutes(db, "team", (id) => `/admin/teams/${id}`, teamPageForm));

  router.get("/:id/delete", validate({ params: IdParams }), async (_req, res) => {
    const team = await loadTeam(res);
    const lost = await previewAccessLoss(db, { kind: "team", id: team.id });
    res.render("admin/teams/delete", { title: `Delete team ${team.name}?`, team, loss: presentAccessLoss(lost) });
  });

  router.post("/:id/delete", validate({ params: IdParams }), teamPageForm, validate({ body: VersionOnlySchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof VersionOnlySchema>, unknown, { id: number }>(res);
    const { team, lost } = await deleteTeam(db, actorOf(req), params.id, body.version);
    flash(req, "success", `Team ${team.name} deleted; ${lossSentence(lost)}.`);
    res.redirect(303, "/admin/teams");
  });

  return router;
}

