import { type Request, type Response, Router } from "express";
import { z } from "zod";
import { StaleWriteError } from "../../errors.ts";
import { flash } from "../../lib/flash.ts";
import { paginationView } from "../../lib/pagination.ts";
import { formView } from "../../middleware/form-view.ts";
import { requireSignedIn } from "../../middleware/require-auth.ts";
import { input, validate } from "../../middleware/validate.ts";
import { presentAccess } from "../../presenters/access.ts";
import { explainOwnAccess } from "../../services/effective-access.ts";
import { listAccessibleSystems, readSystem, updateSystem } from "../../services/systems.ts";
import { PERMISSION_BY_LEVEL } from "../../types/access.ts";
import type { System } from "../../types/catalog.ts";
import { actorOf } from "../actor.ts";
import { fieldErrorsOf, typedValues } from "../form-values.ts";
import type { RouteDeps } from "../deps.ts";
import { IdParams, SystemNotesSchema, searchField } from "../admin/catalog-schemas.ts";

const PER_PAGE = 50;
const ListQuery = z.object({
  q: searchField,
  page: z.coerce.number().int().min(1).max(1_000_000).catch(1).default(1),
});

/** /systems: what the signed-in account may see and, with read/write, change. No access is a 404, like a missing system. */
export function systemsRouter({ db }: RouteDeps): Router {
  const router = Router();
  router.use("/systems", requireSignedIn);

  /** The system, if the account may at least read it (else a 404); the level comes from the resolver on every request. */
  const loadReadable = (req: Request, res: Response, needs: "read" | "change-notes" = "read") =>
    readSystem(db, actorOf(req), input<unknown, unknown, { id: number }>(res).params.id, needs);

  const renderSystem = async (
    req: Request,
    res: Response,
    system: System,
    level: 1 | 2,
    status: number,
    form: { values?: Record<string, string>; errors?: Record<string, string>; message?: string | null } = {},
  ) => {
    const access = await explainOwnAccess(db, actorOf(req), req.user!, system.id);
    res.status(status).render("systems/show", {
      title: system.name,
      system,
      permission: PERMISSION_BY_LEVEL[level],
      canWrite: level === 2,
      access: presentAccess(access, "self"),
      values: form.values ?? { description: system.description, notes: system.notes, version: String(system.version) },
      errors: form.errors ?? {},
      message: form.message ?? null,
    });
  };

  router.get("/systems", validate({ query: ListQuery }), async (req, res) => {
    const { query } = input<unknown, z.infer<typeof ListQuery>>(res);
    const { systems, total } = await listAccessibleSystems(db, actorOf(req), { search: query.q.trim(), limit: PER_PAGE, offset: (query.page - 1) * PER_PAGE });
    const link = (page: number) => `/systems?${new URLSearchParams({ ...(query.q ? { q: query.q } : {}), page: String(page) })}`;
    res.render("systems/list", {
      title: "Systems",
      systems: systems.map((s) => ({ ...s, permission: PERMISSION_BY_LEVEL[s.level] })),
      total,
      query,
      pagination: paginationView(query.page, total, PER_PAGE, link),
    });
  });

  router.get("/systems/:id", validate({ params: IdParams }), async (req, res) => {
    const { system, level } = await loadReadable(req, res);
    await renderSystem(req, res, system, level, 200);
  });

  router.post(
    "/systems/:id",
    validate({ params: IdParams }),
    formView(async (req, res, error) => {
      const { system, level } = await loadReadable(req, res);
      const stale = error instanceof StaleWriteError;
      const current = stale ? (error.current as System) : system;
      const typed = typedValues(req);
      await renderSystem(req, res, current, level, error.status, {
        // A stale save moves on to the version now saved; any other error keeps the version the form was opened
        // with, so that a change someone made meanwhile is still caught at the next save.
        values: { ...typed, version: stale ? String(current.version) : (typed.version ?? String(current.version)) },
        errors: fieldErrorsOf(error),
        message: error instanceof StaleWriteError ? "Someone else changed this system after you opened it; your input is kept. Save again to apply it." : error.message,
      });
    }),
    // A read-only account is refused before its input is read.
    async (req, res, next) => {
      await loadReadable(req, res, "change-notes");
      next();
    },
    validate({ body: SystemNotesSchema }),
    async (req, res) => {
      const { params, body } = input<z.infer<typeof SystemNotesSchema>, unknown, { id: number }>(res);
      const system = await updateSystem(db, actorOf(req), params.id, body.version, { description: body.description, notes: body.notes });
      flash(req, "success", `System ${system.name} saved.`);
      res.redirect(303, `/systems/${system.id}`);
    },
  );

  return router;
}
