import type { Request } from "express";
import type { User } from "../types/user.ts";

/** Marks the session as signed in by `user`: a new session id (fixation), and the clocks for the timeouts. */
export function establishSession(req: Request, user: User): Promise<void> {
  return new Promise((resolve, reject) => {
    req.login(user, (err) => {
      if (err) return reject(err);
      const now = Date.now();
      req.session.authAt = now;
      req.session.lastSeenAt = now;
      req.session.client = { ip: req.ip ?? "", userAgent: req.get("user-agent") ?? "" };
      resolve();
    });
  });
}

/**
 * After the account's session version moved on (its other sessions were ended), this session carries on under a
 * new id and the new version, still counting its absolute lifetime from the sign-in: ending sessions is no
 * re-authentication.
 */
export async function continueSession(req: Request, user: User): Promise<void> {
  const authAt = req.session.authAt;
  await establishSession(req, user);
  if (authAt) req.session.authAt = authAt;
}
