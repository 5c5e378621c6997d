import { type Request, type Response, Router } from "express";
import { type AppError, NotFoundError } from "../../../errors.ts";
import { flash } from "../../../lib/flash.ts";
import { formView } from "../../../middleware/form-view.ts";
import { requireAdmin } from "../../../middleware/require-auth.ts";
import { input, validate } from "../../../middleware/validate.ts";
import { findLogEntry, listLogPage } from "../../../services/audit-log.ts";
import { CATEGORY_OPTIONS } from "../../../services/audit-log-actions.ts";
import { type DownloadFormat, downloadChunks, recordLogDownload } from "../../../services/audit-log-download.ts";
import { pruneAuditEvents, RETENTION_DAYS, readLogSettings, saveLogSettings } from "../../../services/log-retention.ts";
import { actorOf } from "../../actor.ts";
import { fieldErrorsOf } from "../../form-values.ts";
import type { RouteDeps } from "../../deps.ts";
import { settingsFormView } from "../settings-form-view.ts";
import { FILTER_FIELDS, type FilterValues, LogIdParams, type LogQuery, LogQuerySchema, type RetentionBody, RetentionSchema } from "./schemas.ts";
import { streamAuditedDownload } from "../../stream-text.ts";
import { countText, LOGS_PATH, logsHref, presentLogEntry, presentLogRow } from "./view-models.ts";

const RETENTION_PATH = `${LOGS_PATH}/retention`;

const CONTENT_TYPES: Record<DownloadFormat, string> = {
  csv: "text/csv; charset=utf-8",
  json: "application/json; charset=utf-8",
};

/**
 * Batches deleted inside the request that saved a shorter retention; what is left (a cut from ten years to 30 days
 * on a big trail) is deleted in the background, so the save answers in seconds.
 */
const PRUNE_BATCHES_IN_REQUEST = 20;

/** The filters as typed, for a form that came back with errors: only the filter fields, only text. */
function typedFilters(req: Request): FilterValues {
  const values: FilterValues = {};
  for (const field of FILTER_FIELDS) {
    const raw = req.query[field];
    if (typeof raw === "string") values[field] = raw.slice(0, 1_000);
  }
  return values;
}

/** "gatehouse-logs-2026-11-28T10-15-42Z.csv": dated, and free of characters a file system or a header minds. */
function downloadName(format: DownloadFormat, now = new Date()): string {
  return `gatehouse-logs-${now.toISOString().slice(0, 19).replace(/:/g, "-")}Z.${format}`;
}

function plural(count: number, one: string, many: string): string {
  return `${new Intl.NumberFormat("en").format(count)} ${count === 1 ? one : many}`;
}

export function adminLogsRouter({ db, logger }: RouteDeps): Router {
  const router = Router();
  router.use(requireAdmin);

  const renderList = async (
    res: Response,
    status: number,
    page: { query: LogQuery } | { values: FilterValues; errors: Record<string, string>; message: string },
  ) => {
    const { value: retention } = await readLogSettings(db);
    const common = { title: "Logs", categories: CATEGORY_OPTIONS, retentionDays: retention.retentionDays, retentionHref: RETENTION_PATH };
    if (!("query" in page)) {
      // Bad filters: the form comes back as typed, with the messages, and no events (they would not be the ones asked for).
      return res.status(status).render("admin/logs/list", {
        ...common,
        values: page.values,
        errors: page.errors,
        message: page.message,
        filtered: true,
        events: null,
        anyMatch: false,
        summary: null,
        newerHref: null,
        olderHref: null,
        downloads: null,
      });
    }
    const { filter, values, position } = page.query;
    const result = await listLogPage(db, filter, position);
    const filtered = Object.keys(values).length > 0;
    res.status(status).render("admin/logs/list", {
      ...common,
      values,
      errors: {},
      message: null,
      filtered,
      events: result.entries.map(presentLogRow),
      anyMatch: result.total > 0,
      summary: `${countText(result.total, result.totalIsCapped)}${filtered ? " matching the filters" : ""}`,
      newerHref: result.newer ? logsHref(LOGS_PATH, values, { newer: result.newer }) : null,
      olderHref: result.older ? logsHref(LOGS_PATH, values, { older: result.older }) : null,
      downloads: { json: logsHref(`${LOGS_PATH}/download.json`, values), csv: logsHref(`${LOGS_PATH}/download.csv`, values) },
    });
  };

  const invalidFilters = formView((req, res, error: AppError) =>
    renderList(res, error.status, { values: typedFilters(req), errors: fieldErrorsOf(error), message: "Some filters need attention." }),
  );

  router.get("/", invalidFilters, validate({ query: LogQuerySchema }), async (_req, res) => {
    const { query } = input<unknown, LogQuery>(res);
    await renderList(res, 200, { query });
  });

  for (const format of ["csv", "json"] as const) {
    router.get(`/download.${format}`, invalidFilters, validate({ query: LogQuerySchema }), async (req, res) => {
      const { query } = input<unknown, LogQuery>(res);
      // After the copy's last row was read, so that the copy does not contain its own record, and before the response
      // ends, so that the record is there by the time the file is; a download the client left part-way as well.
      await streamAuditedDownload(
        res,
        downloadChunks(db, query.filter, format),
        () => {
          res.status(200);
          res.set("Content-Type", CONTENT_TYPES[format]);
          res.set("Content-Disposition", `attachment; filename="${downloadName(format)}"`);
        },
        logger,
        () => recordLogDownload(db, actorOf(req), format, query.filter),
      );
    });
  }

  // Retention -------------------------------------------------------------------------------------------------------

  const renderRetention = async (
    res: Response,
    status: number,
    form: { values?: Record<string, string>; errors?: Record<string, string>; message?: string | null; stale?: number } = {},
  ) => {
    const saved = await readLogSettings(db);
    res.status(status).render("admin/logs/retention", {
      title: "Log retention",
      values: form.values ?? { retentionDays: String(saved.value.retentionDays), version: String(saved.version) },
      errors: form.errors ?? {},
      message: form.message ?? null,
      stale: form.stale ?? null,
      range: RETENTION_DAYS,
    });
  };

  router.get("/retention", (_req, res) => renderRetention(res, 200));

  router.post(
    "/retention",
    settingsFormView({
      current: async () => {
        const current = await readLogSettings(db);
        return { version: current.version, stale: current.value.retentionDays };
      },
      kept: "Your input is kept.",
      render: (_req, res, status, form) => renderRetention(res, status, form),
    }),
    validate({ body: RetentionSchema }),
    async (req, res) => {
      const { body } = input<RetentionBody>(res);
      await saveLogSettings(db, actorOf(req), body.version, { retentionDays: body.retentionDays });
      const pruned = await pruneAuditEvents(db, { reason: "setting saved", maxBatches: PRUNE_BATCHES_IN_REQUEST });
      if (!pruned.complete)
        pruneAuditEvents(db, { reason: "setting saved" }).catch((error: unknown) =>
          logger.warn({ err: error }, "log retention: could not delete old events"),
        );
      const kept = `Log events are kept for ${plural(body.retentionDays, "day", "days")}.`;
      const deleted =
        pruned.deleted === 0
          ? ""
          : pruned.complete
            ? ` ${plural(pruned.deleted, "older event was", "older events were")} deleted.`
            : ` ${plural(pruned.deleted, "older event was", "older events were")} deleted so far; the rest are being deleted in the background.`;
      flash(req, "success", `Log retention saved. ${kept}${deleted}`);
      res.redirect(303, LOGS_PATH);
    },
  );

  // One event -------------------------------------------------------------------------------------------------------

  router.get("/:id", validate({ params: LogIdParams }), async (_req, res) => {
    const { params } = input<unknown, unknown, { id: number }>(res);
    const entry = await findLogEntry(db, params.id);
    if (!entry) throw new NotFoundError("There is no log event with this number; it may have been deleted by the log retention.");
    const event = presentLogEntry(entry);
    res.render("admin/logs/show", { title: `Log event ${entry.id}`, event });
  });

  return router;
}
