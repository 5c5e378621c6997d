import type { Request } from "express";

const NEVER_ECHOED = /password/i;

/** What the user typed, as strings, for re-rendering a form; passwords are never sent back. */
export function typedValues(req: Request): Record<string, string> {
  const values: Record<string, string> = {};
  const body = (req.body ?? {}) as Record<string, unknown>;
  for (const [key, value] of Object.entries(body)) {
    if (NEVER_ECHOED.test(key) || key === "_csrf") continue;
    if (typeof value === "string") values[key] = value.slice(0, 10_000);
  }
  return values;
}

export function fieldErrorsOf(error: unknown): Record<string, string> {
  const fields = (error as { fields?: Record<string, string> }).fields;
  return fields ?? {};
}
