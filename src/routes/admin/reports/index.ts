import { type Request, type Response, Router } from "express";
import type { AppError } from "../../../errors.ts";
import { paginationView } from "../../../lib/pagination.ts";
import { formView } from "../../../middleware/form-view.ts";
import { requireAdmin } from "../../../middleware/require-auth.ts";
import { input, validate } from "../../../middleware/validate.ts";
import { presentReportRow } from "../../../presenters/access-report.ts";
import {
  accessReportCsvChunks,
  accessReportPage,
  type ReportFilterNames,
  recordAccessReportDownload,
  reportScopeFromNames,
} from "../../../services/access-report.ts";
import { actorOf } from "../../actor.ts";
import type { RouteDeps } from "../../deps.ts";
import { fieldErrorsOf } from "../../form-values.ts";
import { beginCsv, datedFileName, streamAuditedDownload } from "../../stream-text.ts";
import { type AccessReportQuery, AccessReportQuerySchema, REPORT_FILTER_FIELDS } from "./schemas.ts";

export const ACCESS_REPORT_PATH = "/admin/reports/access";
const PER_PAGE = 50;

/** The filters that are set, as they were typed: only the filter fields, only text. */
function filterValues(source: Record<string, unknown>): ReportFilterNames {
  const values: ReportFilterNames = {};
  for (const field of REPORT_FILTER_FIELDS) {
    const raw = source[field];
    if (typeof raw === "string" && raw.trim() !== "") values[field] = raw.slice(0, 1_000);
  }
  return values;
}

function reportHref(path: string, values: ReportFilterNames, page?: number): string {
  const params = new URLSearchParams(values as Record<string, string>);
  if (page !== undefined && page > 1) params.set("page", String(page));
  const query = params.toString();
  return query ? `${path}?${query}` : path;
}

/**
 * The access report (docs/domain.md, "The access report"): who reaches which system, with which permission, why,
 * and through which grants; as a page of the console and as a CSV download of the whole report.
 */
export function adminReportsRouter({ db, logger }: RouteDeps): Router {
  const router = Router();
  router.use(requireAdmin);

  const render = async (res: Response, status: number, values: ReportFilterNames, view: { errors: Record<string, string>; message: string | null; page?: number }) => {
    const filtered = Object.keys(values).length > 0;
    const common = { title: "Access report", values, filtered, errors: view.errors, message: view.message, clearHref: ACCESS_REPORT_PATH };
    if (view.page === undefined)
      return res.status(status).render("admin/reports/access", { ...common, rows: null, total: 0, pagination: null, downloadHref: null });
    const scope = await reportScopeFromNames(db, actorOf(res.req), values);
    const page = view.page;
    const { rows, total } = await accessReportPage(db, actorOf(res.req), scope, { limit: PER_PAGE, offset: (page - 1) * PER_PAGE });
    res.status(status).render("admin/reports/access", {
      ...common,
      rows: rows.map(presentReportRow),
      total,
      pagination: paginationView(page, total, PER_PAGE, (n) => reportHref(ACCESS_REPORT_PATH, values, n)),
      downloadHref: reportHref(`${ACCESS_REPORT_PATH}.csv`, values),
    });
  };

  // Bad filters (too long, or naming nothing): the form comes back as typed, with the messages, and no rows.
  const invalidFilters = formView((req: Request, res: Response, error: AppError) =>
    render(res, error.status, filterValues(req.query as Record<string, unknown>), { errors: fieldErrorsOf(error), message: "Some filters need attention." }),
  );

  router.get("/access", invalidFilters, validate({ query: AccessReportQuerySchema }), async (_req, res) => {
    const { query } = input<unknown, AccessReportQuery>(res);
    await render(res, 200, filterValues(query), { errors: {}, message: null, page: query.page });
  });

  router.get("/access.csv", invalidFilters, validate({ query: AccessReportQuerySchema }), async (req, res) => {
    const { query } = input<unknown, AccessReportQuery>(res);
    const filters = filterValues(query);
    const scope = await reportScopeFromNames(db, actorOf(req), filters);
    await streamAuditedDownload(res, accessReportCsvChunks(db, actorOf(req), scope), beginCsv(res, datedFileName("gatehouse-access", "csv")), logger, () =>
      recordAccessReportDownload(db, actorOf(req), filters),
    );
  });

  return router;
}
