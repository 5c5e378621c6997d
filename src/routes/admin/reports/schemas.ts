import { z } from "zod";
import { codePointLength } from "../../../lib/fields.ts";
import type { ReportFilterField } from "../../../services/access-report.ts";

/** The access report's filter fields, in the order the form shows them; its links and its download carry these. */
export const REPORT_FILTER_FIELDS = ["user", "team", "system", "group"] as const satisfies readonly ReportFilterField[];

const LABELS: Record<ReportFilterField, string> = { user: "User", team: "Team", system: "System", group: "Group" };

/** A name to filter by: blank is no filter; as long as the longest name a record may have, counted in code points. */
const filterName = (field: ReportFilterField) =>
  z
    .string()
    .optional()
    .transform((v) => (v ?? "").trim())
    .superRefine((v, ctx) => {
      const length = codePointLength(v);
      if (length > 200) ctx.addIssue({ code: "custom", message: `${LABELS[field]} must be at most 200 characters; this one has ${length}.` });
    });

export const AccessReportQuerySchema = z.object({
  user: filterName("user"),
  team: filterName("team"),
  system: filterName("system"),
  group: filterName("group"),
  page: z.coerce.number().int().min(1).max(1_000_000).catch(1).default(1),
});
export type AccessReportQuery = z.infer<typeof AccessReportQuerySchema>;
