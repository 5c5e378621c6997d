import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { NextFunction, Request, Response } from "express";
import type { Logger } from "../lib/logger.ts";

declare global {
  namespace Express {
    interface Request {
      /** This request's id: answered as X-Request-Id, written into its audit events and log lines. */
      id: string;
      /** A logger whose lines carry the request's id. */
      log: Logger;
    }
  }
}

/** Probes answer many times a minute; a line for each would drown the log. */
const UNLOGGED_PATHS = new Set(["/healthz", "/readyz"]);

/**
 * Gives each request an id and a logger that carries it, and logs one line when the request ends (info; debug for
 * paths under `quietPrefixes`): its method, path (never the query string, which can carry codes and tokens), client
 * address, status and time taken.
 * Written here rather than taken from pino-http, which built and serialised a child logger for every request whether
 * or not anything was logged: a tenth of the CPU of a /systems page (bench:http, 1.54 -> 1.38 ms).
 */
export function requestLog(logger: Logger, options: { quietPrefixes?: readonly string[] } = {}) {
  const quietPrefixes = options.quietPrefixes ?? [];
  return (req: Request, res: Response, next: NextFunction): void => {
    const id = randomUUID();
    req.id = id;
    res.setHeader("X-Request-Id", id);
    let child: Logger | undefined;
    // Made the first time something logs: most requests never do.
    Object.defineProperty(req, "log", { get: () => (child ??= logger.child({ reqId: id })), configurable: true, enumerable: false });
    // Static files: a page brings three or four, and a scanner's guesses at them hundreds (docs/security.md H1).
    const level = quietPrefixes.some((prefix) => req.path.startsWith(prefix)) ? "debug" : "info";
    if (!logger.isLevelEnabled(level) || UNLOGGED_PATHS.has(req.path)) {
      next();
      return;
    }
    const start = performance.now();
    const method = req.method;
    const path = req.originalUrl.split("?")[0];
    let logged = false;
    const line = (message: string) => {
      if (logged) return;
      logged = true;
      logger[level]({ reqId: id, req: { method, path, ip: req.ip }, res: { status: res.statusCode }, responseTime: Math.round(performance.now() - start) }, message);
    };
    res.once("finish", () => line("request completed"));
    // The client left before the answer was sent (a closed tab, a timeout).
    res.once("close", () => line("request aborted"));
    next();
  };
}
