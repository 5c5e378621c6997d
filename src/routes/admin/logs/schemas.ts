import { z } from "zod";
import { codePointLength } from "../../../lib/fields.ts";
import { type LogFilter, type LogPosition, parseCursor } from "../../../services/audit-log.ts";
import { CATEGORY_OPTIONS } from "../../../services/audit-log-actions.ts";
import { RETENTION_DAYS } from "../../../services/log-retention.ts";
import { settingsVersionField } from "../settings/schemas.ts";

/** The filter fields of the Logs form, in the order the form shows them; links and downloads carry these. */
export const FILTER_FIELDS = ["from", "to", "actor", "category", "q"] as const;
export type FilterValues = Partial<Record<(typeof FILTER_FIELDS)[number], string>>;

const CONTROL = /\p{Cc}/u;

/**
 * A date, or a date and time, in UTC: 2026-11-28, 2026-11-28 10:15 (or with a T, as a datetime-local field sends
 * it), 2026-11-28 10:15:42, with an optional Z or UTC after. The server cannot know the viewer's time zone, so the
 * form says UTC. Comes out as the instant it starts and the instant its last unit ends (the day, minute or second).
 */
const TIME_SHAPE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?(?:\s*(?:Z|UTC))?$/i;
const TIME_FORMATS = "YYYY-MM-DD or YYYY-MM-DD HH:MM, in UTC";

const LAST_MOMENT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export interface TimeBound {
  start: Date;
  end: Date;
}

export function parseTimeBound(text: string): TimeBound | "shape" | "calendar" {
  const match = TIME_SHAPE.exec(text);
  if (!match) return "shape";
  const [year, month, day, hour, minute, second] = match.slice(1).map((part) => (part === undefined ? undefined : Number(part)));
  if (year === undefined || month === undefined || day === undefined) return "shape";
  const date = new Date(0);
  // setUTCFullYear rather than Date.UTC: Date.UTC reads the years 0–99 as 1900–1999.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour ?? 0, minute ?? 0, second ?? 0, 0);
  const sameDay = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
  const sameTime = date.getUTCHours() === (hour ?? 0) && date.getUTCMinutes() === (minute ?? 0) && date.getUTCSeconds() === (second ?? 0);
  if (!sameDay || !sameTime || year < 1970) return "calendar";
  const unitMs = second !== undefined ? 1_000 : minute !== undefined ? 60_000 : 86_400_000;
  // The end of 9999-12-31 would be in year 10000, which the embedded database's date format cannot carry.
  return { start: date, end: new Date(Math.min(date.getTime() + unitMs, LAST_MOMENT)) };
}

function quoted(text: string): string {
  return `"${text.length > 40 ? `${[...text].slice(0, 40).join("")}…` : text}"`;
}

/** A time filter field: blank is no bound; anything else must be a real date (and time) in one of the shapes above. */
function timeField(label: string) {
  return z
    .string()
    .optional()
    .transform((raw, ctx): { text: string; bound?: TimeBound } => {
      const text = (raw ?? "").trim();
      if (text === "") return { text };
      const bound = parseTimeBound(text);
      if (bound === "shape") {
        ctx.addIssue({ code: "custom", message: `${label} must be a date or a date and time, as ${TIME_FORMATS}; ${quoted(text)} is not.` });
        return z.NEVER;
      }
      if (bound === "calendar") {
        ctx.addIssue({ code: "custom", message: `${label} is not a real date and time from 1970 on: ${quoted(text)}. Use ${TIME_FORMATS}.` });
        return z.NEVER;
      }
      return { text, bound };
    });
}

/** Free text of at most `max` characters on one line; the form's own label names it in the message. */
function filterText(label: string, max: number) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const text = (raw ?? "").trim().normalize("NFKC");
      const length = codePointLength(text);
      if (length > max) {
        ctx.addIssue({ code: "custom", message: `${label} must be at most ${max} characters; this one has ${length}.` });
        return z.NEVER;
      }
      if (CONTROL.test(text)) {
        ctx.addIssue({ code: "custom", message: `${label} cannot contain line breaks or control characters.` });
        return z.NEVER;
      }
      return text;
    });
}

const categoryField = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    const value = (raw ?? "").trim();
    if (value === "" || CATEGORY_OPTIONS.some((c) => c.value === value)) return value;
    ctx.addIssue({ code: "custom", message: `Choose a Category from the list; ${quoted(value)} is not one.` });
    return z.NEVER;
  });

/** A paging cursor from a Newer or Older link. One that is not ours is ignored: the newest page shows. */
const cursorField = z
  .string()
  .optional()
  .catch(undefined)
  .transform((raw) => (raw ? parseCursor(raw) : undefined));

export interface LogQuery {
  filter: LogFilter;
  /** What the form shows and the links carry: the fields as typed (trimmed), the empty ones left out. */
  values: FilterValues;
  position: LogPosition;
}

/** The Logs screen's query string and its downloads': the filters, and where the page starts. */
export const LogQuerySchema = z
  .object({
    from: timeField("From"),
    to: timeField("To"),
    actor: filterText("Actor", 64),
    category: categoryField,
    q: filterText("Search", 200),
    older: cursorField,
    newer: cursorField,
  })
  .superRefine((v, ctx) => {
    const from = v.from.bound;
    const to = v.to.bound;
    if (from && to && from.start.getTime() >= to.end.getTime())
      ctx.addIssue({
        code: "custom",
        path: ["from"],
        message: `From (${v.from.text}) is after To (${v.to.text}); choose a From earlier than To, or swap them.`,
      });
  })
  .transform((v): LogQuery => {
    const values: FilterValues = {};
    const typed: FilterValues = { from: v.from.text, to: v.to.text, actor: v.actor, category: v.category, q: v.q };
    for (const field of FILTER_FIELDS) if (typed[field]) values[field] = typed[field];
    const filter: LogFilter = {};
    if (v.from.bound) filter.from = v.from.bound.start;
    if (v.to.bound) filter.before = v.to.bound.end;
    if (v.actor) filter.actor = v.actor;
    if (v.category) filter.category = v.category;
    if (v.q) filter.search = v.q;
    const position: LogPosition = v.newer ? { newer: v.newer } : v.older ? { older: v.older } : {};
    return { filter, values, position };
  });

/**
 * An event id in a URL. audit_events.id is a bigint, so the shared idParam (at most 2^31 − 1) would be too narrow;
 * anything not a positive whole number within JavaScript's safe range is simply not found.
 */
export const LogIdParams = z.object({
  id: z
    .string()
    .regex(/^[1-9][0-9]{0,15}$/)
    .transform(Number)
    .refine((n) => Number.isSafeInteger(n)),
});

const { label, min, max } = RETENTION_DAYS;
const RANGE = `a whole number of days from ${min} to ${max}`;

export const RetentionSchema = z.strictObject({
  retentionDays: z
    .string({ error: `Enter ${label}: ${RANGE}.` })
    .transform((raw, ctx) => {
      const v = raw.trim();
      if (v === "") {
        ctx.addIssue({ code: "custom", message: `Enter ${label}: ${RANGE}.` });
        return z.NEVER;
      }
      if (!/^[0-9]{1,6}$/.test(v) || Number(v) < min || Number(v) > max) {
        ctx.addIssue({ code: "custom", message: `${label} must be ${RANGE}; ${quoted(v)} is not.` });
        return z.NEVER;
      }
      return Number(v);
    }),
  version: settingsVersionField,
});
export type RetentionBody = z.infer<typeof RetentionSchema>;
