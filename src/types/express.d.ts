import type { PasswordChangeReason } from "./user.ts";
import type { TwoFactorMethod, User as GatehouseUser } from "./user.ts";

declare global {
  namespace Express {
    interface User extends GatehouseUser {}
    interface Request {
      /** The personal API token this request authenticated with (REST API only). */
      apiTokenId?: number;
    }
  }
}

declare module "express-session" {
  interface SessionData {
    /** When the account signed in (ms); the absolute lifetime counts from here. */
    authAt?: number;
    /** Last request (ms); the idle timeout counts from here. */
    lastSeenAt?: number;
    /** When the lifetime ends (ms), as last sent in the cookie: a change of the General settings moves it. */
    endsAt?: number;
    client?: { ip: string; userAgent: string };
    flash?: { kind: "success" | "notice" | "error"; text: string }[];
    /** Set by passport once the account has signed in. */
    passport?: { user?: { id: number; sv: number } };
    /**
     * Between the password step and the code step: the account is *not* signed in (no passport.user), and
     * only the code page answers (docs/domain.md, "Two-factor authentication").
     */
    pendingSignIn?: {
      userId: number;
      sessionVersion: number;
      method: TwoFactorMethod;
      startedAt: number;
      /** Wrong codes in this pending sign-in; at 5 it starts over (docs/security.md T2). */
      failures: number;
      returnTo: string;
      /** Why the last emailed code could not be sent, to say so on the code page. */
      deliveryProblem: string | null;
      /** Signed in with a reset code or temporary password: the code step leads to choosing a new password. */
      passwordReset?: PasswordChangeReason;
    };
    /** After a reset code or temporary password (and the code step): only a new password can be chosen. */
    pendingPasswordChange?: { userId: number; sessionVersion: number; kind: PasswordChangeReason; startedAt: number };
    /** An authenticator enrolment waiting for its first code: the new secret, sealed. */
    pendingTotp?: { sealedSecret: string; startedAt: number };
    /** Recovery codes to show once, on the next page. Sealed, and removed as soon as they are shown. */
    recoveryCodesToShow?: string;
    /** A personal API token just created, to show once on the next page: sealed, and removed as soon as it is shown. */
    apiTokenToShow?: string;
  }
}
