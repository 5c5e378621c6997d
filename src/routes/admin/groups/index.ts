import type { Router } from "express";
import { EmptySchema } from "../../../lib/fields.ts";
import type { z } from "zod";
import { flash } from "../../../lib/flash.ts";
import { input, validate } from "../../../middleware/validate.ts";
import {
  addSystemToGroup,
  findGroupById,
  groupSystemsWithChoices,
  listAllGroups,
  groupRecords,
  removeSystemFromGroup,
} from "../../../services/system-groups.ts";
import type { SystemGroup } from "../../../types/catalog.ts";
import { actorOf } from "../../actor.ts";
import type { RouteDeps } from "../../deps.ts";
import { catalogPages } from "../catalog-pages.ts";
import { AddSystemToGroupSchema, GroupFieldsSchema, GroupSystemParams, GroupUpdateSchema, IdParams } from "../catalog-schemas.ts";

export function adminGroupsRouter({ db }: RouteDeps): Router {
  const { router, pageForm } = catalogPages<SystemGroup, z.infer<typeof GroupFieldsSchema>>(db, {
    kind: "group",
    noun: "Group",
    path: "/admin/groups",
    views: "admin/groups",
    createSchema: GroupFieldsSchema,
    updateSchema: GroupUpdateSchema,
    afterCreate: "Add systems below.",
    savedValues: (group) => ({ name: group.name, description: group.description, version: String(group.version) }),
    // Only an error of the details form keeps what was typed there; the other forms leave the details as saved.
    valuesAfterError: (typed) => ("name" in typed ? typed : undefined),
    list: async (db, actor) => ({ title: "System groups", groups: await listAllGroups(db, actor) }),
    records: { ...groupRecords, find: findGroupById },
    sections: (db, actor, group) => groupSystemsWithChoices(db, actor, group.id),
  });

  router.post("/:id/systems", validate({ params: IdParams }), pageForm, validate({ body: AddSystemToGroupSchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof AddSystemToGroupSchema>, unknown, { id: number }>(res);
    const { added, systemName } = await addSystemToGroup(db, actorOf(req), params.id, body.systemId);
    flash(req, "success", added ? `System ${systemName} added to the group.` : `System ${systemName} was already in the group.`);
    res.redirect(303, `/admin/groups/${params.id}#systems`);
  });

  router.post("/:id/systems/:systemId/remove", validate({ params: GroupSystemParams }), pageForm, validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, z.infer<typeof GroupSystemParams>>(res);
    const { removed, systemName } = await removeSystemFromGroup(db, actorOf(req), params.id, params.systemId);
    flash(req, "success", removed ? `System ${systemName} removed from the group.` : "That system had already left the group.");
    res.redirect(303, `/admin/groups/${params.id}#systems`);
  });

  return router;
}
