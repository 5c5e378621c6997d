import { type NextFunction, type Request, type Response, Router } from "express";
import type { z } from "zod";
import { AppError, ValidationError } from "../../errors.ts";
import { safeReturnTo } from "../../lib/return-to.ts";
import { formView } from "../../middleware/form-view.ts";
import { input, validate } from "../../middleware/validate.ts";
import { recordSignOut } from "../../services/sign-in.ts";
import type { User } from "../../types/user.ts";
import { signedInActor } from "../actor.ts";
import { fieldErrorsOf, typedValues } from "../form-values.ts";
import type { RouteDeps } from "../deps.ts";
import { LoginPageQuerySchema, LoginSchema } from "./schemas.ts";
import type { PasswordChangeReason } from "../../types/user.ts";
import { passwordResetRoutes } from "./password-reset.ts";
import { secondFactorRoutes } from "./second-factor.ts";
import { establishSession } from "../../auth/establish-session.ts";

export const SIGN_IN_FAILED = "Invalid username or password.";

interface LoginView {
  resetHint?: boolean;
  username: string;
  returnTo: string;
  errors: Record<string, string>;
  message: string | null;
  notice: string | null;
}

function renderLogin(res: Response, status: number, view: LoginView): void {
  res.status(status).render("auth/login", { title: "Sign in", ...view });
}

export function authRouter(deps: RouteDeps): Router {
  const { db, passport } = deps;
  const router = Router();
  const passwordReset = passwordResetRoutes(deps);
  const secondFactor = secondFactorRoutes(deps, passwordReset.beginPasswordChange);

  router.get("/login", validate({ query: LoginPageQuerySchema }), (req, res) => {
    const { query } = input<unknown, z.infer<typeof LoginPageQuerySchema>>(res);
    if (req.user) return res.redirect(303, safeReturnTo(query.returnTo));
    const expired = res.locals.sessionExpired || res.locals.pendingExpired || query.expired !== undefined;
    renderLogin(res, 200, {
      username: "",
      returnTo: safeReturnTo(query.returnTo),
      errors: {},
      message: null,
      notice: expired ? "Your session expired. Sign in again to continue." : null,
    });
  });

  router.post(
    "/login",
    formView((req, res, error) =>
      renderLogin(res, error.status, {
        username: typedValues(req).username ?? "",
        returnTo: safeReturnTo(typedValues(req).returnTo),
        errors: fieldErrorsOf(error),
        // Every refusal but a form error says why: too many attempts, the directory or the database unavailable,
        // or a change that got in the way ("try again"). A bare 409 page would leave the person guessing.
        message: error instanceof ValidationError ? null : error.message,
        notice: null,
      }),
    ),
    validate({ body: LoginSchema }),
    (req: Request, res: Response, next: NextFunction) => {
      const { body } = input<z.infer<typeof LoginSchema>>(res);
      // passport-local reads the body itself; give it the parsed values only.
      req.body = { username: body.username, password: body.password };
      passport.authenticate("local", { session: false }, (err: unknown, user: User | false, info?: { passwordReset?: PasswordChangeReason }) => {
        if (err) return next(err);
        if (!user) {
          return renderLogin(res, 401, {
            username: body.username,
            returnTo: safeReturnTo(body.returnTo),
            errors: {},
            message: SIGN_IN_FAILED,
            notice: null,
            resetHint: true,
          });
        }
        const returnTo = safeReturnTo(body.returnTo);
        const reset = info?.passwordReset;
        if (user.twoFactorMethod)
          return secondFactor.beginSecondFactor(req, user, returnTo, reset).then(() => res.redirect(303, "/login/code"), next);
        if (reset) return passwordReset.beginPasswordChange(req, user, reset).then(() => res.redirect(303, "/login/new-password"), next);
        establishSession(req, user).then(() => res.redirect(303, returnTo), next);
      })(req, res, next);
    },
  );

  router.use(secondFactor.router);
  router.use(passwordReset.router);

  router.post("/logout", async (req, res, next) => {
    if (!req.user) return res.redirect(303, "/login");
    try {
      await recordSignOut(db, signedInActor(req));
    } catch (error) {
      return next(error);
    }
    req.logout({ keepSessionInfo: false }, (err) => {
      if (err) return next(err);
      req.session.destroy((destroyErr) => {
        if (destroyErr) return next(destroyErr);
        // Ending the session queued logout tokens for the systems signed in through it: send them now.
        deps.oidcLogoutNotices.runSoon();
        res.clearCookie(res.req.app.get("sessionCookieName") ?? "gatehouse.sid");
        res.redirect(303, "/login");
      });
    });
  });

  router.all("/logout", (_req, _res, next) => next(new AppError(405, "method_not_allowed", "Sign out with the Sign out button.")));

  return router;
}
