import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { z } from "zod";
import { type FieldErrors, ValidationError } from "../errors.ts";

interface Schemas {
  body?: z.ZodType;
  query?: z.ZodType;
  params?: z.ZodType;
}

export interface ValidatedInput<B = unknown, Q = unknown, P = unknown> {
  body: B;
  query: Q;
  params: P;
}

/** Shapes no form produces (arrays, objects, unknown fields) are a 400; wrong values in a form are a 422. */
const MALFORMED = new Set(["invalid_type", "unrecognized_keys", "invalid_union"]);

/** The raw value an issue's path points at. zod 4 leaves `issue.input` out unless asked, so it is looked up here. */
function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** zod's own words for a value of the wrong shape ("expected string, received array") say what to send instead. */
function requestMessage(issue: z.core.$ZodIssue, field: string, value: unknown): string {
  // A field with words of its own keeps them; zod's defaults all begin "Invalid input".
  if ((issue.code !== "invalid_type" && issue.code !== "invalid_union") || !issue.message.startsWith("Invalid input")) return issue.message;
  if (issue.path.length === 0) return `Send the ${field} as a JSON object.`;
  if (Array.isArray(value)) return `${field} must be sent once, as a single value.`;
  if (value === null) return `${field} cannot be null: send a value, or leave the field out to keep it as it is.`;
  if (value === undefined) return `${field} is required.`;
  if (issue.code === "invalid_type" && typeof value !== issue.expected) return `${field} must be a ${issue.expected}, not a ${typeof value}.`;
  return issue.message;
}

export function toValidationError(error: z.ZodError, source: "body" | "query" | "params", data?: unknown, sentAs: "form" | "request" = "form"): ValidationError {
  // No prototype: a key such as "__proto__" or "constructor" sent as a field is reported like any other.
  const fields: FieldErrors = Object.create(null);
  let malformed = false;
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) if (!Object.hasOwn(fields, key)) fields[key] = `${key} is not a field of this ${sentAs}.`;
      malformed = true;
      continue;
    }
    const field = String(issue.path[0] ?? source);
    // A missing field, or text that is not the number it should be, is a form a person can fix (422);
    // a value of a shape no form sends (an array, an object, a JSON number or null) is not (400).
    const value = valueAt(data, issue.path);
    if (MALFORMED.has(issue.code) && value !== undefined && typeof value !== "string") malformed = true;
    if (!Object.hasOwn(fields, field)) fields[field] = sentAs === "request" ? requestMessage(issue, field, value) : issue.message;
  }
  return new ValidationError(fields, "Some fields need attention.", malformed ? 400 : 422);
}

/**
 * Parses body, query and params with zod and puts the typed result on `res.locals.input`.
 * Handlers read only that, never `req.body`. A route may validate in steps (params first, then the body
 * once the form renderer is in place): each step keeps what the earlier ones parsed.
 */
export function validate(schemas: Schemas, sentAs: "form" | "request" = "form"): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const earlier = res.locals.input as Record<string, unknown> | undefined;
    const input: Record<string, unknown> = { body: undefined, query: undefined, params: undefined, ...earlier };
    for (const source of ["params", "query", "body"] as const) {
      const schema = schemas[source];
      if (!schema) continue;
      const raw = req[source] ?? {};
      const result = schema.safeParse(raw);
      if (!result.success) {
        const error = toValidationError(result.error, source, raw, sentAs);
        // Bad ids in a URL name no field a person can fix: they are simply not found.
        if (source === "params") error.fields.__params = "not found";
        return next(error);
      }
      input[source] = result.data;
    }
    res.locals.input = input;
    next();
  };
}

export function input<B = unknown, Q = unknown, P = unknown>(res: Response): ValidatedInput<B, Q, P> {
  return res.locals.input as ValidatedInput<B, Q, P>;
}
