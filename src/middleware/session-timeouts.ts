import type { NextFunction, Request, Response } from "express";
import type { Config } from "../config.ts";

/**
 * Ends a signed-in session that has been idle too long or has outlived its absolute lifetime,
 * and remembers why so the sign-in page can say "Your session expired".
 */
export function sessionTimeouts(config: Config) {
  const idleMs = config.session.idleMinutes * 60_000;
  const absoluteMs = config.session.absoluteHours * 3_600_000;
  return (req: Request, res: Response, next: NextFunction) => {
    if (!req.session || !req.user) return next();
    const now = Date.now();
    const authAt = req.session.authAt ?? now;
    const lastSeen = req.session.lastSeenAt ?? now;
    const idleExpired = idleMs > 0 && now - lastSeen > idleMs;
    if (idleExpired || now - authAt > absoluteMs) {
      // A new, empty session rather than none: the old one is deleted from the store, and what follows
      // (the CSRF check, the sign-in page's token) still has a session to work with.
      req.session.regenerate((err) => {
        if (err) return next(err);
        res.locals.sessionExpired = true;
        req.user = undefined;
        next();
      });
      return;
    }
    req.session.lastSeenAt = now;
    next();
  };
}
