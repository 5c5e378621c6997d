import { apiAccess } from "../../presenters/api.ts";
import { presentReportRow } from "../../presenters/access-report.ts";
import { accessReportPage, reportScopeFromIds } from "../../services/access-report.ts";
import { actorOf } from "../actor.ts";
import type { RouteDeps } from "../deps.ts";
import { type Operation, operation, pageOf, pageWindow, sendPage } from "./operation.ts";
import { AccessReportQuery, AccessReportRowView } from "./schemas.ts";

/** The access report (docs/domain.md, "The access report") as pages of JSON, with the console's filters by id. */
export function reportOperations({ db }: RouteDeps): Operation[] {
  return [
    operation({
      method: "get",
      path: "/reports/access",
      operationId: "getAccessReport",
      summary: "The access report: every user and each system they can reach, and why",
      description:
        "One item per user and system they can reach, ordered by username and then system name: the permission the resolver computes, " +
        "the deciding source and every contributing grant, as GET /access explains one pair. Administrators reach every system; " +
        "disabled accounts reach none. Filters narrow the report; an id that names nothing is a 400 naming the field. Administrators only.",
      tag: "Access",
      access: "admin",
      query: AccessReportQuery,
      responses: { 200: { description: "One page of the report.", schema: pageOf(AccessReportRowView) } },
      handler: async (req, res, { query }) => {
        const actor = actorOf(req);
        const scope = await reportScopeFromIds(db, actor, { user: query.user, team: query.team, system: query.system, group: query.group });
        const { rows, total } = await accessReportPage(db, actor, scope, pageWindow(query));
        const items = rows.map((row) => ({ ...apiAccess(row.user, row.system, row.access, "admin"), decidedBy: presentReportRow(row).decidedBy }));
        sendPage(res, AccessReportRowView, items, total, query);
      },
    }),
  ];
}
