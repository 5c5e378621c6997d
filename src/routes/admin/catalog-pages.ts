import { type Request, type RequestHandler, type Response, Router } from "express";
import { z } from "zod";
import type { Db } from "../../db/index.ts";
import { NotFoundError, StaleWriteError } from "../../errors.ts";
import { flash } from "../../lib/flash.ts";
import { formView } from "../../middleware/form-view.ts";
import { requireAdmin } from "../../middleware/require-auth.ts";
import { input, validate } from "../../middleware/validate.ts";
import { lossSentence, presentAccessLoss } from "../../presenters/access.ts";
import type { AccessLoss } from "../../types/access.ts";
import type { CatalogRecord } from "../../services/catalog-records.ts";
import type { Actor } from "../../types/user.ts";
import { actorOf } from "../actor.ts";
import { fieldErrorsOf, typedValues } from "../form-values.ts";
import { IdParams, VersionOnlySchema } from "./catalog-schemas.ts";

type Form = { values?: Record<string, string>; errors?: Record<string, string>; message?: string | null };

/**
 * The administrators' pages of one kind of catalogue record (teams, system groups, systems): the list, "New …",
 * the record's page with its details form, and the delete confirmation. What differs between the kinds is here as
 * data; the kind's own sections (members, systems in a group, grants) are added to the router it returns, and
 * their errors come back to the record's page through `pageForm`.
 */
export interface CatalogPagesSpec<T extends CatalogRecord, Fields extends object, ListQuery = unknown> {
  kind: "team" | "group" | "system";
  /** As titles and messages start: "Team", "Group", "System". */
  noun: string;
  /** Where the pages live: "/admin/teams". */
  path: string;
  /** The folder of the views: "admin/teams", holding list, new, show and delete. */
  views: string;
  createSchema: z.ZodType<Fields>;
  updateSchema: z.ZodType<Fields & { version: number }>;
  /** Said after "Team X created.": what to do next. */
  afterCreate: string;
  /** The details form as the record is saved now. */
  savedValues(record: T): Record<string, string>;
  /** What an error on the record's page shows in the details form, from what was typed on any of its forms. */
  valuesAfterError(typed: Record<string, string>, saved: Record<string, string>): Record<string, string> | undefined;
  /** The list page's query (?q=, ?page=), when it takes one. */
  listQuery?: z.ZodType<ListQuery>;
  /** The list page (GET path/): its view model. */
  list(db: Db, actor: Actor, query: ListQuery): Promise<Record<string, unknown>>;
  /** The kind's services: its guarded writes (services/catalog-records.ts guardedRecords) and how a page finds one. */
  records: {
    find(db: Db, actor: Actor, id: number): Promise<T | undefined>;
    create(db: Db, actor: Actor, fields: Fields): Promise<T>;
    update(db: Db, actor: Actor, id: number, version: number, fields: Fields): Promise<T>;
    remove(db: Db, actor: Actor, id: number, version: number): Promise<{ record: T; lost: AccessLoss[] }>;
    previewDeletion(db: Db, actor: Actor, id: number): Promise<AccessLoss[]>;
  };
  /** The record page's own sections (members, systems, grants, access), for its view. */
  sections(db: Db, actor: Actor, record: T): Promise<Record<string, unknown>>;
}

export function catalogPages<T extends CatalogRecord, Fields extends object, ListQuery = unknown>(
  db: Db,
  spec: CatalogPagesSpec<T, Fields, ListQuery>,
): { router: Router; pageForm: RequestHandler } {
  const router = Router();
  router.use(requireAdmin);
  const lower = spec.noun.toLowerCase();

  const load = async (req: Request, res: Response): Promise<T> => {
    const record = await spec.records.find(db, actorOf(req), input<unknown, unknown, { id: number }>(res).params.id);
    if (!record) throw new NotFoundError();
    return record;
  };

  const renderRecord = async (req: Request, res: Response, record: T, status: number, form: Form & { stale?: T } = {}) => {
    res.status(status).render(`${spec.views}/show`, {
      title: `${spec.noun} ${record.name}`,
      [spec.kind]: record,
      ...(await spec.sections(db, actorOf(req), record)),
      values: form.values ?? spec.savedValues(record),
      errors: form.errors ?? {},
      message: form.message ?? null,
      stale: form.stale ?? null,
    });
  };

  /**
   * Errors of any form on the record's page come back to the page with what was typed kept over the record as
   * saved. A stale save shows both versions; a stale delete (its form carries only the version) shows the record
   * as it is now.
   */
  const pageForm = formView(async (req, res, error) => {
    const record = await load(req, res);
    const typed = typedValues(req);
    if (error instanceof StaleWriteError) {
      const current = error.current as T;
      return renderRecord(req, res, current, 409, {
        values: { ...spec.savedValues(current), ...typed, version: String(current.version) },
        message: `Someone else changed this ${lower} after you opened the page. Their version is shown; your input is kept. Save again to apply it.`,
        stale: current,
      });
    }
    await renderRecord(req, res, record, error.status, {
      values: spec.valuesAfterError(typed, spec.savedValues(record)),
      errors: fieldErrorsOf(error),
      message: error.message,
    });
  });

  const renderNew = (res: Response, status: number, values: Record<string, string>, errors: Record<string, string>) =>
    res.status(status).render(`${spec.views}/new`, { title: `New ${lower}`, values, errors });

  router.get("/", validate({ query: spec.listQuery ?? z.object({}) }), async (req, res) =>
    res.render(`${spec.views}/list`, await spec.list(db, actorOf(req), input<unknown, ListQuery>(res).query)),
  );

  router.get("/new", (_req, res) => renderNew(res, 200, {}, {}));

  router.post(
    "/",
    formView((req, res, error) => renderNew(res, error.status, typedValues(req), fieldErrorsOf(error))),
    validate({ body: spec.createSchema }),
    async (req, res) => {
      const record = await spec.records.create(db, actorOf(req), input<Fields>(res).body);
      flash(req, "success", `${spec.noun} ${record.name} created.${spec.afterCreate ? ` ${spec.afterCreate}` : ""}`);
      res.redirect(303, `${spec.path}/${record.id}`);
    },
  );

  router.get("/:id", validate({ params: IdParams }), async (req, res) => renderRecord(req, res, await load(req, res), 200));

  router.post("/:id", validate({ params: IdParams }), pageForm, validate({ body: spec.updateSchema }), async (req, res) => {
    const { params, body } = input<Fields & { version: number }, unknown, { id: number }>(res);
    const { version, ...fields } = body;
    const record = await spec.records.update(db, actorOf(req), params.id, version, fields as unknown as Fields);
    flash(req, "success", `${spec.noun} ${record.name} saved.`);
    res.redirect(303, `${spec.path}/${record.id}`);
  });

  router.get("/:id/delete", validate({ params: IdParams }), async (req, res) => {
    const record = await load(req, res);
    const lost = await spec.records.previewDeletion(db, actorOf(req), record.id);
    res.render(`${spec.views}/delete`, { title: `Delete ${lower} ${record.name}?`, [spec.kind]: record, loss: presentAccessLoss(lost) });
  });

  router.post("/:id/delete", validate({ params: IdParams }), pageForm, validate({ body: VersionOnlySchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof VersionOnlySchema>, unknown, { id: number }>(res);
    const { record, lost } = await spec.records.remove(db, actorOf(req), params.id, body.version);
    flash(req, "success", `${spec.noun} ${record.name} deleted; ${lossSentence(lost)}.`);
    res.redirect(303, spec.path);
  });

  return { router, pageForm };
}
