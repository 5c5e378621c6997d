import type { NextFunction, Request, Response } from "express";

/** A pending sign-in lasts this long (docs/security.md T3); then it is forgotten and the password step starts again. */
export const PENDING_SIGN_IN_MS = 5 * 60_000;

/** Choosing a new password after a reset code lasts this long; then the code is spent and a new one is needed. */
export const PENDING_PASSWORD_CHANGE_MS = 10 * 60_000;

/** What a visitor choosing a new password after a reset code may reach. */
const OPEN_WHILE_CHOOSING = new Set(["/login/new-password", "/login/cancel", "/logout"]);

/** What a visitor between the password step and the code step may reach. */
const OPEN_WHILE_PENDING = new Set(["/login", "/login/code", "/login/code/resend", "/login/cancel", "/logout", "/forgot-password"]);

/**
 * Between the password step and the code step nothing but the code page is reachable: every other request is
 * sent to it, and the visitor is not signed in (`req.user` is unset). An expired pending sign-in is dropped.
 */
export function pendingSignInGate(req: Request, res: Response, next: NextFunction) {
  const choosing = req.session?.pendingPasswordChange;
  if (choosing && !req.user) {
    if (Date.now() - choosing.startedAt > PENDING_PASSWORD_CHANGE_MS) {
      delete req.session.pendingPasswordChange;
      res.locals.pendingExpired = true;
      return next();
    }
    if (OPEN_WHILE_CHOOSING.has(req.path)) return next();
    return res.redirect(303, "/login/new-password");
  }
  const pending = req.session?.pendingSignIn;
  if (!pending || req.user) return next();
  if (Date.now() - pending.startedAt > PENDING_SIGN_IN_MS) {
    delete req.session.pendingSignIn;
    res.locals.pendingExpired = true;
    return next();
  }
  if (OPEN_WHILE_PENDING.has(req.path)) return next();
  res.redirect(303, "/login/code");
}
