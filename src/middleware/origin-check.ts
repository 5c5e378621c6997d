import type { NextFunction, Request, Response } from "express";
import type { Config } from "../config.ts";
import { ForbiddenError } from "../errors.ts";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Defence in depth beside the CSRF token: a browser's unsafe request from another site is refused by its
 * Origin header or its Fetch Metadata, before the token is even looked at.
 */
export function originCheck(config: Config) {
  const configured = new URL(config.baseUrl).origin;
  return (req: Request, _res: Response, next: NextFunction) => {
    if (SAFE_METHODS.has(req.method)) return next();
    if (req.get("sec-fetch-site") === "cross-site") return next(crossSite());
    const origin = req.get("origin");
    if (!origin || origin === "null") return origin === "null" ? next(crossSite()) : next();
    const own = `${req.protocol}://${req.get("host")}`;
    if (origin === configured || origin === own) return next();
    next(crossSite());
  };
}

function crossSite(): ForbiddenError {
  return new ForbiddenError("This form came from another site, so it was not accepted.");
}
