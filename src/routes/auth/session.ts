import type { Request } from "express";
import type { User } from "../../types/user.ts";

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
