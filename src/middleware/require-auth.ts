import type { NextFunction, Request, Response } from "express";
import { AppError, ForbiddenError } from "../errors.ts";
import { safeReturnTo } from "../lib/return-to.ts";

export class SignInRequiredError extends AppError {
  constructor() {
    super(401, "sign_in_required", "Sign in to continue.");
  }
}

export function requireSignedIn(req: Request, _res: Response, next: NextFunction) {
  if (req.user) return next();
  next(new SignInRequiredError());
}

export function requireAdmin(req: Request, _res: Response, next: NextFunction) {
  if (!req.user) return next(new SignInRequiredError());
  if (!req.user.isAdmin) return next(new ForbiddenError());
  next();
}

export function loginUrl(req: Request, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams(extra);
  const back = req.method === "GET" ? safeReturnTo(req.originalUrl) : "/";
  if (back !== "/") params.set("returnTo", back);
  const query = params.toString();
  return query ? `/login?${query}` : "/login";
}
