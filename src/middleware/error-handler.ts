import type { NextFunction, Request, Response } from "express";
import { AppError, NotFoundError, ServiceUnavailableError, TooManyRequestsError, ValidationError } from "../errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { FormRenderer } from "./form-view.ts";
import { NOT_UTF8_JSON } from "./json-body.ts";
import { loginUrl, SignInRequiredError } from "./require-auth.ts";

const TITLES: Record<number, string> = {
  400: "Bad request",
  401: "Sign in required",
  403: "Forbidden",
  404: "Page not found",
  405: "Method not allowed",
  409: "Conflict",
  413: "Request too large",
  422: "Check your input",
  429: "Too many requests",
  500: "Something went wrong",
  503: "Temporarily unavailable",
};

const DATABASE_DOWN = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "57P01", "57P02", "57P03", "08006", "08001", "08003", "53300"]);

function isDatabaseUnavailable(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, name, message } = error as { code?: string; name?: string; message?: string };
  return (
    (code !== undefined && DATABASE_DOWN.has(code)) ||
    name === "KnexTimeoutError" ||
    // "…is not queryable" (pg, no code): a transaction whose connection was killed mid-way fails its ROLLBACK on
    // the dead client, and knex rejects with that error instead of the first one; it was a 500 page.
    // "Query read timeout" and "timeout expired": pg stopped waiting for a silent database's answer or for its
    // connection (query_timeout and connectionTimeoutMillis, src/db/index.ts).
    /Connection terminated|connection is closed|is not queryable|Query read timeout|^timeout expired$/i.test(message ?? "")
  );
}

/** Turns what the stack threw into a known AppError; unknown errors stay unknown (a logged 500). */
export function classifyError(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error;
  const e = error as { status?: number; statusCode?: number; type?: string; code?: string };
  if (e?.code === "EBADCSRFTOKEN")
    return new AppError(403, "csrf_failed", "This form has expired or was sent from another page. Reload the page and try again.");
  if (e?.type === "entity.too.large") return new AppError(413, "too_large", "The request is too large.");
  if (e?.type === "entity.parse.failed" || e?.type === "parameters.too.many")
    return new AppError(400, "bad_request", "The request could not be read.");
  if (error instanceof URIError) return new AppError(400, "bad_request", "The address could not be read: it has an invalid %-escape.");
  if (e?.type === "encoding.unsupported" || e?.type === "charset.unsupported")
    return new AppError(415, "unsupported_media_type", NOT_UTF8_JSON);
  if (isDatabaseUnavailable(error)) return new ServiceUnavailableError();
  // A lock held too long (lock_timeout), a query cut off (statement_timeout), a deadlock or a serialization failure:
  // nothing was written, and the same request a moment later will most likely succeed.
  if (e?.code === "55P03" || e?.code === "57014") return new ServiceUnavailableError("The database is busy. Try again in a moment.");
  if (e?.code === "40P01" || e?.code === "40001")
    return new AppError(409, "retry", "Another change got in the way of this one; nothing was saved. Try again.");
  // Postgres: a value out of range or an invalid text never reaches SQL from validated input; if it does, it is the caller's input.
  if (e?.code === "22P02" || e?.code === "22003" || e?.code === "22021") return new AppError(400, "bad_request", "The request has an invalid value.");
  const status = e?.status ?? e?.statusCode;
  // A file the static handler did not find (send marks its 404 as not for the client's eyes: it carries a path).
  if (status === 404) return new NotFoundError();
  // Any other error that the body parser or router marked as the client's (4xx, safe to show): its status, our words.
  if (typeof status === "number" && status >= 400 && status < 500 && (error as { expose?: boolean }).expose)
    return new AppError(status, "bad_request", "The request could not be read.");
  return undefined;
}

function wantsJson(req: Request): boolean {
  return req.accepts(["html", "json"]) === "json";
}

/**
 * What the stack threw as the AppError to answer with, for the pages and the API alike: a bad id in the address is
 * not found, an unknown error is logged and becomes a 500, an unavailable service is logged as a warning.
 */
export function answerFor(error: unknown, req: Request, logger: Logger): AppError {
  let known = classifyError(error);
  if (known instanceof ValidationError && known.fields.__params) known = new NotFoundError();
  if (!known) {
    logger.error({ err: error, reqId: req.id }, "unhandled error");
    return new AppError(500, "internal", "Something went wrong on our side. It has been logged; try again.");
  }
  if (known.status === 503) logger.warn({ err: error, reqId: req.id }, "service unavailable");
  return known;
}

export function errorHandler(logger: Logger) {
  return async (error: unknown, req: Request, res: Response, _next: NextFunction): Promise<void> => {
    let known = answerFor(error, req, logger);
    if (res.headersSent) return void res.end();

    if (known instanceof TooManyRequestsError) res.set("Retry-After", String(known.retryAfterSeconds));

    // An expired session: back to sign-in saying so, also when the expiry shows up as a form whose token
    // died with the session.
    const expired = res.locals.sessionExpired === true;
    if (!wantsJson(req) && (known instanceof SignInRequiredError || (expired && known.code === "csrf_failed"))) {
      return res.redirect(303, loginUrl(req, expired ? { expired: "1" } : {}));
    }

    const renderForm = res.locals.renderForm as FormRenderer | undefined;
    if (renderForm && !wantsJson(req) && known.status < 500 && known.status !== 403 && known.status !== 404) {
      try {
        await renderForm(req, res, known);
        return;
      } catch (renderError) {
        // A form whose own record is gone meanwhile answers with that (a 404), not with the form's error.
        if (renderError instanceof AppError) known = renderError;
        else logger.error({ err: renderError, reqId: req.id }, "form re-render failed");
      }
    }

    res.status(known.status);
    if (wantsJson(req)) {
      const fields = (known as { fields?: Record<string, string> }).fields;
      res.json({ error: { code: known.code, message: known.message, ...(fields ? { fields } : {}) } });
      return;
    }
    res.render("errors/error", {
      title: TITLES[known.status] ?? "Error",
      status: known.status,
      message: known.message,
    });
  };
}

export function notFound(_req: Request, _res: Response, next: NextFunction): void {
  next(new NotFoundError());
}
