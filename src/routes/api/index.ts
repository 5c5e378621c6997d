import { type NextFunction, type Request, type Response, Router } from "express";
import { AppError, NotFoundError, StaleWriteError, ValidationError } from "../../errors.ts";
import { answerFor } from "../../middleware/error-handler.ts";
import { requireApiToken } from "../../middleware/api-token-auth.ts";
import type { Logger } from "../../lib/logger.ts";
import type { RouteDeps } from "../deps.ts";
import { groupOperations } from "./groups.ts";
import { grantOperations } from "./grants.ts";
import { oidcClientOperations } from "./oidc-clients.ts";
import { mountOperations, type Operation } from "./operation.ts";
import { type ApiInfo, openApiDocument } from "./openapi.ts";
import { reportOperations } from "./reports.ts";
import { systemOperations } from "./systems.ts";
import { teamOperations } from "./teams.ts";
import { userImportOperations } from "./user-import.ts";
import { userOperations } from "./users.ts";
import { apiDocsView } from "./docs-view.ts";

export const API_BASE = "/api/v1";
const PAGE_NOT_FOUND = new NotFoundError().message;

const API_INFO: ApiInfo = {
  title: "Gatehouse API",
  version: "1.0.0",
  description:
    "Users, teams, memberships, systems, system groups, grants and effective access, with the console's own rules. " +
    "Authenticate with a personal API token from the Profile page: `Authorization: Bearer <token>`. " +
    'Errors are JSON: `{"error": {"code", "message", "fields"}}`. Lists take `page` and `perPage` and answer `{data, paging}`.',
};

export function apiOperations(deps: RouteDeps): Operation[] {
  return [
    ...userOperations(deps),
    ...userImportOperations(deps),
    ...teamOperations(deps),
    ...systemOperations(deps),
    ...oidcClientOperations(deps),
    ...groupOperations(deps),
    ...grantOperations(deps),
    ...reportOperations(deps),
  ];
}

/** Every error of the API as JSON, whatever the client accepts; bad input is a 400 naming each field. */
function apiErrorHandler(logger: Logger) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction): void => {
    let known = answerFor(error, req, logger);
    // An id that cannot be one, or a record the service did not find: the web's "page" is a record here.
    if (known instanceof NotFoundError && known.message === PAGE_NOT_FOUND) known = new NotFoundError("There is no such record: check the id in the address.");
    if (known instanceof StaleWriteError) {
      const version = (known.current as { version?: number } | undefined)?.version;
      known = Object.assign(new AppError(409, "stale_write", "Someone else changed this record since the version you sent; nothing was saved."), {
        fields: { version: `The record is now at version ${version}. Read it again, then send your change with that version.` },
      });
    }
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
  // The documentation page is a page of the console (its frame, its session), served further down the app.
  router.get("/docs", (_req, _res, next) => next("router"));
  router.get("/openapi.json", (_req, res) => {
    res.json(document);
  });
  mountOperations(router, operations, requireApiToken(deps.db, deps.keys));
  // A known address with another method: 405 naming the methods it has (OPTIONS answers with them alone).
  const methodsByPath = new Map<string, string[]>();
  for (const op of operations) methodsByPath.set(op.path, [...(methodsByPath.get(op.path) ?? []), op.method.toUpperCase()]);
  for (const [path, methods] of methodsByPath) {
    const allow = [...methods, ...(methods.includes("GET") ? ["HEAD"] : []), "OPTIONS"].join(", ");
    router.all(path, (req, res, next) => {
      res.set("Allow", allow);
      if (req.method === "OPTIONS") return void res.status(204).end();
      next(new AppError(405, "method_not_allowed", `${req.method} is not an operation of ${API_BASE}${req.path}; it has ${methods.join(", ")}.`));
    });
  }
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
