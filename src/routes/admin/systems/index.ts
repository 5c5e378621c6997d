import { type Response, Router } from "express";
import { z } from "zod";
import { explainSystemAccess } from "../../../access/resolver.ts";
import { NotFoundError, StaleWriteError } from "../../../errors.ts";
import { flash } from "../../../lib/flash.ts";
import { paginationView } from "../../../lib/pagination.ts";
import { formView } from "../../../middleware/form-view.ts";
import { requireAdmin } from "../../../middleware/require-auth.ts";
import { input, validate } from "../../../middleware/validate.ts";
import { lossSentence, presentAccess, presentAccessLoss } from "../../../presenters/access.ts";
import { previewAccessLoss } from "../../../repositories/access-loss.ts";
import { groupsOfSystem } from "../../../repositories/system-groups.ts";
import * as systemsRepo from "../../../repositories/systems.ts";
import { findUsersByIds } from "../../../repositories/users.ts";
import { createSystem, deleteSystem, updateSystem } from "../../../services/systems.ts";
import type { System } from "../../../types/catalog.ts";
import { actorOf } from "../../actor.ts";
import { fieldErrorsOf, typedValues } from "../../form-values.ts";
import type { RouteDeps } from "../../deps.ts";
import { IdParams, SystemFieldsSchema, SystemUpdateSchema, searchField, VersionOnlySchema } from "../catalog-schemas.ts";

const PER_PAGE = 50;

const ListQuery = z.object({
  q: searchField,
  page: z.coerce.number().int().min(1).max(1_000_000).catch(1).default(1),
});

/** The edit form's fields as the system is saved now. */
function savedValues(system: System): Record<string, string> {
  return { name: system.name, host: system.host, description: system.description, notes: system.notes, version: String(system.version) };
}

export function adminSystemsRouter({ db }: RouteDeps): Router {
  const router = Router();
  router.use(requireAdmin);

  const loadSystem = async (res: Response): Promise<System> => {
    const system = await systemsRepo.findSystem(db, input<unknown, unknown, { id: number }>(res).params.id);
    if (!system) throw new NotFoundError();
    return system;
  };

  const renderSystem = async (
    res: Response,
    system: System,
    status: number,
    form: { values?: Record<string, string>; errors?: Record<string, string>; message?: string | null; stale?: System } = {},
  ) => {
    const [access, groups] = await Promise.all([explainSystemAccess(db, system.id), groupsOfSystem(db, system.id)]);
    const users = await findUsersByIds(db, [...access.keys()]);
    res.status(status).render("admin/systems/show", {
      title: `System ${system.name}`,
      system,
      groups,
      access: users.map((u) => ({ id: u.id, username: u.username, ...presentAccess(access.get(u.id)!, "admin") })),
      values: form.values ?? savedValues(system),
      errors: form.errors ?? {},
      message: form.message ?? null,
      stale: form.stale ?? null,
    });
  };

  const systemPageForm = formView(async (req, res, error) => {
    const system = await loadSystem(res);
    const typed = typedValues(req);
    if (error instanceof StaleWriteError) {
      const current = error.current as System;
      return renderSystem(res, current, 409, {
        values: { ...savedValues(current), ...typed, version: String(current.version) },
        message: "Someone else changed this system after you opened the page. Their version is shown; your input is kept. Save again to apply it.",
        stale: current,
      });
    }
    await renderSystem(res, system, error.status, { values: "name" in typed ? typed : undefined, errors: fieldErrorsOf(error), message: error.message });
  });

  const renderNew = (res: Response, status: number, values: Record<string, string>, errors: Record<string, string>) =>
    res.status(status).render("admin/systems/new", { title: "New system", values, errors });

  router.get("/", validate({ query: ListQuery }), async (_req, res) => {
    const { query } = input<unknown, z.infer<typeof ListQuery>>(res);
    const { systems, total } = await systemsRepo.listSystems(db, { search: query.q.trim(), limit: PER_PAGE, offset: (query.page - 1) * PER_PAGE });
    const link = (page: number) => `/admin/systems?${new URLSearchParams({ ...(query.q ? { q: query.q } : {}), page: String(page) })}`;
    res.render("admin/systems/list", {
      title: "Systems",
      systems,
      total,
      query,
      pagination: paginationView(query.page, total, PER_PAGE, link),
    });
  });

  router.get("/new", (_req, res) => renderNew(res, 200, {}, {}));

  router.post(
    "/",
    formView((req, res, error) => renderNew(res, error.status, typedValues(req), fieldErrorsOf(error))),
    validate({ body: SystemFieldsSchema }),
    async (req, res) => {
      const system = await createSystem(db, actorOf(req), input<z.infer<typeof SystemFieldsSchema>>(res).body);
      flash(req, "success", `System ${system.name} created.`);
      res.redirect(303, `/admin/systems/${system.id}`);
    },
  );

  router.get("/:id", validate({ params: IdParams }), async (_req, res) => renderSystem(res, await loadSystem(res), 200));

  router.post("/:id", validate({ params: IdParams }), systemPageForm, validate({ body: SystemUpdateSchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof SystemUpdateSchema>, unknown, { id: number }>(res);
    const { version, ...fields } = body;
    const system = await updateSystem(db, actorOf(req), params.id, version, fields);
    flash(req, "success", `System ${system.name} saved.`);
    res.redirect(303, `/admin/systems/${system.id}`);
  });

  router.get("/:id/delete", validate({ params: IdParams }), async (_req, res) => {
    const system = await loadSystem(res);
    const lost = await previewAccessLoss(db, { kind: "system", id: system.id });
    res.render("admin/systems/delete", { title: `Delete system ${system.name}?`, system, loss: presentAccessLoss(lost) });
  });

  router.post("/:id/delete", validate({ params: IdParams }), systemPageForm, validate({ body: VersionOnlySchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof VersionOnlySchema>, unknown, { id: number }>(res);
    const { system, lost } = await deleteSystem(db, actorOf(req), params.id, body.version);
    flash(req, "success", `System ${system.name} deleted; ${lossSentence(lost)}.`);
    res.redirect(303, "/admin/systems");
  });

  return router;
}
