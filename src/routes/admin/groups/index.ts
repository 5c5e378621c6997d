import { type Response, Router } from "express";
import type { z } from "zod";
import { NotFoundError, StaleWriteError } from "../../../errors.ts";
import { flash } from "../../../lib/flash.ts";
import { formView } from "../../../middleware/form-view.ts";
import { requireAdmin } from "../../../middleware/require-auth.ts";
import { input, validate } from "../../../middleware/validate.ts";
import { lossSentence, presentAccessLoss } from "../../../presenters/access.ts";
import { previewAccessLoss } from "../../../repositories/access-loss.ts";
import * as groupsRepo from "../../../repositories/system-groups.ts";
import { allSystemNames } from "../../../repositories/systems.ts";
import { addSystemToGroup, createGroup, deleteGroup, removeSystemFromGroup, updateGroup } from "../../../services/system-groups.ts";
import type { SystemGroup } from "../../../types/catalog.ts";
import { actorOf } from "../../actor.ts";
import { fieldErrorsOf, typedValues } from "../../form-values.ts";
import type { RouteDeps } from "../../deps.ts";
import {
  AddSystemToGroupSchema,
  EmptySchema,
  GroupFieldsSchema,
  GroupSystemParams,
  GroupUpdateSchema,
  IdParams,
  VersionOnlySchema,
} from "../catalog-schemas.ts";

/** The details form's fields as the group is saved now. */
function savedValues(group: SystemGroup): Record<string, string> {
  return { name: group.name, description: group.description, version: String(group.version) };
}

export function adminGroupsRouter({ db }: RouteDeps): Router {
  const router = Router();
  router.use(requireAdmin);

  const loadGroup = async (res: Response): Promise<SystemGroup> => {
    const group = await groupsRepo.findGroup(db, input<unknown, unknown, { id: number }>(res).params.id);
    if (!group) throw new NotFoundError();
    return group;
  };

  const renderGroup = async (
    res: Response,
    group: SystemGroup,
    status: number,
    form: { values?: Record<string, string>; errors?: Record<string, string>; message?: string | null; stale?: SystemGroup } = {},
  ) => {
    const [systems, all] = await Promise.all([groupsRepo.groupSystems(db, group.id), allSystemNames(db)]);
    const inGroup = new Set(systems.map((s) => s.id));
    res.status(status).render("admin/groups/show", {
      title: `Group ${group.name}`,
      group,
      systems,
      available: all.filter((s) => !inGroup.has(s.id)),
      values: form.values ?? savedValues(group),
      errors: form.errors ?? {},
      message: form.message ?? null,
      stale: form.stale ?? null,
    });
  };

  const groupPageForm = formView(async (req, res, error) => {
    const group = await loadGroup(res);
    const typed = typedValues(req);
    if (error instanceof StaleWriteError) {
      const current = error.current as SystemGroup;
      return renderGroup(res, current, 409, {
        values: { ...savedValues(current), ...typed, version: String(current.version) },
        message: "Someone else changed this group after you opened the page. Their version is shown; your input is kept. Save again to apply it.",
        stale: current,
      });
    }
    await renderGroup(res, group, error.status, { values: "name" in typed ? typed : undefined, errors: fieldErrorsOf(error), message: error.message });
  });

  const renderNew = (res: Response, status: number, values: Record<string, string>, errors: Record<string, string>) =>
    res.status(status).render("admin/groups/new", { title: "New group", values, errors });

  router.get("/", async (_req, res) => {
    res.render("admin/groups/list", { title: "System groups", groups: await groupsRepo.listGroups(db) });
  });

  router.get("/new", (_req, res) => renderNew(res, 200, {}, {}));

  router.post(
    "/",
    formView((req, res, error) => renderNew(res, error.status, typedValues(req), fieldErrorsOf(error))),
    validate({ body: GroupFieldsSchema }),
    async (req, res) => {
      const group = await createGroup(db, actorOf(req), input<z.infer<typeof GroupFieldsSchema>>(res).body);
      flash(req, "success", `Group ${group.name} created. Add systems below.`);
      res.redirect(303, `/admin/groups/${group.id}`);
    },
  );

  router.get("/:id", validate({ params: IdParams }), async (_req, res) => renderGroup(res, await loadGroup(res), 200));

  router.post("/:id", validate({ params: IdParams }), groupPageForm, validate({ body: GroupUpdateSchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof GroupUpdateSchema>, unknown, { id: number }>(res);
    const group = await updateGroup(db, actorOf(req), params.id, body.version, { name: body.name, description: body.description });
    flash(req, "success", `Group ${group.name} saved.`);
    res.redirect(303, `/admin/groups/${group.id}`);
  });

  router.post("/:id/systems", validate({ params: IdParams }), groupPageForm, validate({ body: AddSystemToGroupSchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof AddSystemToGroupSchema>, unknown, { id: number }>(res);
    const { added, systemName } = await addSystemToGroup(db, actorOf(req), params.id, body.systemId);
    flash(req, "success", added ? `System ${systemName} added to the group.` : `System ${systemName} was already in the group.`);
    res.redirect(303, `/admin/groups/${params.id}#systems`);
  });

  router.post("/:id/systems/:systemId/remove", validate({ params: GroupSystemParams }), groupPageForm, validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, z.infer<typeof GroupSystemParams>>(res);
    const { removed, systemName } = await removeSystemFromGroup(db, actorOf(req), params.id, params.systemId);
    flash(req, "success", removed ? `System ${systemName} removed from the group.` : "That system had already left the group.");
    res.redirect(303, `/admin/groups/${params.id}#systems`);
  });

  router.get("/:id/delete", validate({ params: IdParams }), async (_req, res) => {
    const group = await loadGroup(res);
    const lost = await previewAccessLoss(db, { kind: "group", id: group.id });
    res.render("admin/groups/delete", { title: `Delete group ${group.name}?`, group, loss: presentAccessLoss(lost) });
  });

  router.post("/:id/delete", validate({ params: IdParams }), groupPageForm, validate({ body: VersionOnlySchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof VersionOnlySchema>, unknown, { id: number }>(res);
    const { group, lost } = await deleteGroup(db, actorOf(req), params.id, body.version);
    flash(req, "success", `Group ${group.name} deleted; ${lossSentence(lost)}.`);
    res.redirect(303, "/admin/groups");
  });

  return router;
}
