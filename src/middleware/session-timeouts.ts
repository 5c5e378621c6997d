import type { NextFunction, Request, Response } from "express";
import type { Config } from "../config.ts";
import type { Queryable } from "../db/index.ts";
import { safeReturnTo } from "../lib/return-to.ts";
import { generalSettingsOfRequest, lastSeenBeforeRequest } from "../auth/session-context.ts";

declare module "express-session" {
  interface SessionData {
    /** The last few pages this session loaded with GET, newest first: where a form sent after expiry leads back to. */
    recentPages?: string[];
  }
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const RECENT_PAGES = 5;

/** The path and query of a same-origin Referer (the page a form was on), or undefined. */
function refererPath(req: Request, config: Config): string | undefined {
  const referer = req.get("referer");
  if (!referer) return undefined;
  try {
    const url = new URL(referer);
    const own = `${req.protocol}://${req.get("host")}`;
    if (url.origin !== new URL(config.baseUrl).origin && url.origin !== own) return undefined;
    return url.pathname + url.search;
  } catch {
    return undefined;
  }
}

/**
 * Where to come back to after signing in again, for a form sent after its session expired: the page the form
 * was on when this session loaded it with GET (so never a POST-only address), else the last page it loaded.
 */
function pageOfForm(req: Request, config: Config, recentPages: readonly string[]): string {
  const page = refererPath(req, config);
  if (page !== undefined && recentPages.includes(page)) return safeReturnTo(page);
  return safeReturnTo(recentPages[0] ?? "/");
}

/** A page worth coming back to: one sign-in would follow (not /login, /logout), of a sensible length. */
function isPageToReturnTo(url: string): boolean {
  return url.length <= 1000 && safeReturnTo(url) === url;
}

function remember(recentPages: readonly string[] | undefined, page: string): string[] {
  return [page, ...(recentPages ?? []).filter((p) => p !== page)].slice(0, RECENT_PAGES);
}

/**
 * Ends a signed-in session that has been idle too long or has outlived its lifetime, and remembers why so the
 * sign-in page can say "Your session expired". The limits are the saved General settings (the configuration's
 * until saved), read on every request through the service: a change made on another instance counts at once.
 *
 * A page for a signed-in account learns its idle limit (`res.locals.idleTimeoutSeconds`, absent when idle expiry
 * is off), for the warning that public/js/idle-warning.js shows.
 */
export function sessionTimeouts(config: Config, db: Queryable) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (!req.session || !req.user) return next();
    const { value: limits } = await generalSettingsOfRequest(req, db, config.session);
    const idleMs = limits.idleMinutes * 60_000;
    const absoluteMs = limits.absoluteHours * 3_600_000;
    const now = Date.now();
    const authAt = req.session.authAt ?? now;
    // The store moved lastSeenAt to this request as it read the session (DbSessionStore.get): the idle time is the
    // time since the one before.
    const lastSeen = lastSeenBeforeRequest(req) ?? req.session.lastSeenAt ?? now;
    const idleExpired = idleMs > 0 && now - lastSeen > idleMs;
    if (idleExpired || now - authAt > absoluteMs) {
      // A form sent after expiry (docs/security.md S5) goes to sign-in, which says why and leads back to the form's page.
      // JSON clients (the idle warning's keepalive) are answered by what follows: a 401 or 403 they act on.
      const formPage =
        !SAFE_METHODS.has(req.method) && req.accepts(["html", "json"]) === "html"
          ? req.path === "/logout"
            ? "/"
            : pageOfForm(req, config, req.session.recentPages ?? [])
          : undefined;
      // A new, empty session rather than none: the old one is deleted from the store, and what follows
      // (the CSRF check, the sign-in page's token) still has a session to work with.
      req.session.regenerate((err) => {
        if (err) return next(err);
        res.locals.sessionExpired = true;
        req.user = undefined;
        if (formPage === undefined) return next();
        const query = new URLSearchParams({ expired: "1" });
        if (formPage !== "/") query.set("returnTo", formPage);
        res.redirect(303, `/login?${query}`);
      });
      return;
    }
    // Every request moves the idle clock, so the session ends exactly when it has been idle for the limit, as the
    // page's idle warning (public/js/idle-warning.js) counts (test/http/sessions.test.ts, "idle expiry is exact").
    // The store did it in the statement that read the session; a session it did not read gets it here.
    if (req.session.lastSeenAt === undefined) req.session.lastSeenAt = now;
    // The cookie (and the stored session) last exactly as long as the lifetime has left, however long that is.
    req.session.cookie.maxAge = authAt + absoluteMs - now;
    // The cookie is sent again only with a changed session (app.ts: not rolling), so a lifetime moved by the General
    // settings changes the session: the cookie and the stored expiry follow at this request.
    if (req.session.endsAt !== authAt + absoluteMs) req.session.endsAt = authAt + absoluteMs;
    if (req.method === "GET" && req.accepts(["html", "json"]) === "html" && isPageToReturnTo(req.originalUrl) && req.session.recentPages?.[0] !== req.originalUrl)
      req.session.recentPages = remember(req.session.recentPages, req.originalUrl);
    if (idleMs > 0) res.locals.idleTimeoutSeconds = limits.idleMinutes * 60;
    next();
  };
}
