import type { NextFunction, Request, Response } from "express";
import type { Db } from "../db/index.ts";
import { generalSettingsOfRequest } from "../auth/session-context.ts";

/** What an administrator without 2FA can still reach while it is required: the way to turn it on. */
const OPEN_PREFIXES = ["/profile", "/logout", "/admin/settings/smtp"];

/**
 * General settings › "Require two-factor authentication for administrators": an administrator without it is
 * sent to the Profile, where it is turned on, and can do nothing else until then (mail settings excepted,
 * since email codes and address verification need them).
 */
export function adminTwoFactorGate(db: Db) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const user = req.user;
    if (!user?.isAdmin || user.twoFactorMethod || OPEN_PREFIXES.some((p) => req.path === p || req.path.startsWith(`${p}/`))) return next();
    const { value } = await generalSettingsOfRequest(req, db);
    if (!value.requireAdminTwoFactor) return next();
    res.redirect(303, "/profile#two-factor");
  };
}
