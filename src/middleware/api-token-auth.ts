import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { Db } from "../db/index.ts";
import { AppError } from "../errors.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import { checkApiToken } from "../services/api-tokens.ts";
import { readGeneralSettings } from "../services/general-settings.ts";

export const API_TOKEN_REQUIRED = "A valid API token is required: send it as 'Authorization: Bearer <token>'.";
export const API_TWO_FACTOR_REQUIRED =
  "Administrators must use two-factor authentication: turn it on on your Profile, then use your API tokens again.";

/** `Bearer <token>`: the scheme in any case (RFC 9110 §11.1), one token, nothing after it. */
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

function refuse(res: Response, next: NextFunction, tokenSent: boolean): void {
  // RFC 6750 §3: a request with no token gets the challenge alone; a token that was refused is named invalid.
  res.set("WWW-Authenticate", tokenSent ? 'Bearer realm="gatehouse", error="invalid_token"' : 'Bearer realm="gatehouse"');
  next(new AppError(401, "unauthorized", API_TOKEN_REQUIRED));
}

/**
 * Authenticates a request by a personal API token in `Authorization: Bearer <token>` (never from the query string,
 * a form field or a cookie). Every refusal (no header, another scheme, a malformed, unknown, revoked or expired
 * token, a disabled or deleted owner) is the same 401 with `WWW-Authenticate`; the reason goes to the debug log.
 * On success `req.user` is the owner as loaded now (the same type passport sets) and `res.locals.apiTokenId`
 * the token's id. When General settings require 2FA for administrators, an administrator without it gets a 403,
 * as on the pages (middleware/admin-two-factor.ts).
 */
export function requireApiToken(db: Db, keys: SecretKeys): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    try {
      const header = req.get("authorization");
      const match = header ? BEARER.exec(header) : null;
      const token = match?.[1];
      if (!token) {
        // "Bearer" followed by nothing usable is a token sent badly; no header or another scheme is none sent.
        const bearerAttempt = header !== undefined && /^Bearer\b/i.test(header.trim());
        req.log?.debug({ reason: header ? (bearerAttempt ? "malformed" : "other_scheme") : "missing" }, "API token refused");
        return refuse(res, next, bearerAttempt);
      }
      const result = await checkApiToken(db, keys, token);
      if (!result.ok) {
        req.log?.debug({ reason: result.reason }, "API token refused");
        return refuse(res, next, true);
      }
      const { user, tokenId } = result;
      if (user.isAdmin && !user.twoFactorMethod) {
        const { value } = await readGeneralSettings(db);
        if (value.requireAdminTwoFactor) {
          req.log?.debug({ tokenId, userId: user.id }, "API token refused: administrator without 2FA");
          return next(new AppError(403, "two_factor_required", API_TWO_FACTOR_REQUIRED));
        }
      }
      req.user = user;
      req.apiTokenId = tokenId;
      res.locals.apiTokenId = tokenId;
      next();
    } catch (error) {
      next(error);
    }
  };
}
