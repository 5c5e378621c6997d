import express, { type NextFunction, type Request, type Response, Router } from "express";
import { AppError, NotFoundError, ValidationError } from "../../errors.ts";
import { classifyError } from "../../middleware/error-handler.ts";
import { requireApiToken } from "../../middleware/api-token-auth.ts";
import type { Logger } from "../../lib/logger.ts";
import type { RouteDeps } from "../index.ts";
import { groupOperations } from "./groups.ts";
import { grantOperations } from "./grants.ts";
import { mountOperations, type Operation } from "./operation.ts";
import { type ApiInfo, openApiDocument } from "./openapi.ts";
import { systemOperations } from "./systems.ts";
import { teamOperations } from "./teams.ts";
import { userOperations } from "./users.ts";
import { apiDocsView } from "./docs-view.ts";

export const API_BASE = "/api/v1";

const API_INFO: ApiInfo = {
  title: "Gatehouse API",
  version: "1.0.0",
  description:
    "Users, teams, memberships, systems, system groups, grants and effective access, with the console's own rules. " +
    "Authenticate with a personal API token from the Profile page: `Authorization: Bearer <token>`. " +
    'Errors are JSON: `{"error": {"code", "message", "fields"}}`. Lists take `page` and `perPage` and answer `{data, paging}`.',
};

export function apiOperations(deps: RouteDeps): Operation[] {
  return [...userOperations(deps), ...teamOperations(deps), ...systemOperations(deps), ...groupOperations(deps), ...grantOperations(deps)];
}

/** Every error of the API as JSON, whatever the client accepts; bad input is a 400 naming each field. */
function apiErrorHandler(logger: Logger) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let known = classifyError(error);
    if (known instanceof ValidationError && known.fields.__params) known = new NotFoundError();
    if (!known) {
      logger.error({ err: error, reqId: req.id }, "unhandled API error");
      known = new AppError(500, "internal", "Something went wrong on our side. It has been logged; try again.");
    } else if (known.status === 503) logger.warn({ err: error, reqId: req.id }, "service unavailable");
    if (res.headersSent) return void res.end();
    const status = known instanceof ValidationError ? 400 : known.status;
    const fields = (known as { fields?: Record<string, string> }).fields;
    if (known.status === 429 && "retryAfterSeconds" in known) res.set("Retry-After", String(known.retryAfterSeconds));
    res.status(status).json({ error: { code: known.code, message: known.message, ...(fields && Object.keys(fields).length ? { fields } : {}) } });
  };
}

/**
 * The REST API under /api/v1. It is mounted before sessions and CSRF: a request authenticates with its bearer token
 * alone, so a browser's cookie never acts here and cross-site forms have nothing to ride on.
 */
export function apiRouter(deps: RouteDeps): Router {
  const router = Router();
  const operations = apiOperations(deps);
  const document = openApiDocument(operations, API_INFO, new URL(API_BASE, deps.config.baseUrl).toString());

  router.use((_req, res, next) => {
    res.set("Cache-Control", "no-store");
    next();
  });
  router.use(express.json({ limit: "100kb" }));
  // The documentation page is a page of the console (its frame, its session), served further down the app.
  router.get("/docs", (_req, _res, next) => next("router"));
  router.get("/openapi.json", (_req, res) => {
    res.json(document);
  });
  mountOperations(router, operations, requireApiToken(deps.db, deps.keys));
  router.use((req, _res, next) => next(new NotFoundError(`There is no API operation ${req.method} ${API_BASE}${req.path}.`)));
  router.use(apiErrorHandler(deps.logger));
  return router;
}

/** GET /api/v1/docs: the OpenAPI document as a readable page. */
export function apiDocsRouter(deps: RouteDeps): Router {
  const router = Router();
  const document = openApiDocument(apiOperations(deps), API_INFO, new URL(API_BASE, deps.config.baseUrl).toString());
  const view = apiDocsView(document);
  router.get(`${API_BASE}/docs`, (_req, res) => {
    res.render("api/docs", { title: "API documentation", ...view });
  });
  return router;
}
