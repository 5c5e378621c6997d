import { type NextFunction, type Request, type Response, Router } from "express";
import { z } from "zod";
import { ValidationError } from "../../errors.ts";
import { flash } from "../../lib/flash.ts";
import { passwordField, usernameField } from "../../lib/fields.ts";
import { formView } from "../../middleware/form-view.ts";
import { input, validate } from "../../middleware/validate.ts";
import { establishSession } from "../../auth/establish-session.ts";
import { isSetUp } from "../../services/installation.ts";
import { completeSignIn } from "../../services/sign-in.ts";
import { createFirstAdministrator } from "../../services/accounts.ts";
import { PASSWORD_HINT } from "../../services/password-policy.ts";
import { actorOf } from "../actor.ts";
import { fieldErrorsOf, typedValues } from "../form-values.ts";
import type { RouteDeps } from "../deps.ts";

const SetupSchema = z.strictObject({
  username: usernameField,
  password: passwordField,
  confirmPassword: z.string(),
});

export function setupRouter({ db }: RouteDeps): Router {
  const router = Router();
  const render = (res: Response, status: number, values: Record<string, string>, errors: Record<string, string>) =>
    res.status(status).render("setup/index", { title: "Set up Gatehouse", values, errors, passwordHint: PASSWORD_HINT });

  /** Once an account exists, /setup is gone: no form, no validation, no password hashing; just sign in. */
  const onlyBeforeSetup = async (req: Request, res: Response, next: NextFunction) => {
    if (await isSetUp(db)) return res.redirect(303, req.user ? "/" : "/login");
    next();
  };

  router.get("/setup", onlyBeforeSetup, (_req, res) => render(res, 200, { username: "admin" }, {}));

  router.post(
    "/setup",
    onlyBeforeSetup,
    formView((req, res, error) => {
      if (error.code === "conflict" && !fieldErrorsOf(error).username) return res.redirect(303, "/login");
      render(res, error.status, typedValues(req), fieldErrorsOf(error));
    }),
    validate({ body: SetupSchema }),
    async (req, res) => {
      const { body } = input<z.infer<typeof SetupSchema>>(res);
      if (body.password !== body.confirmPassword)
        throw new ValidationError({ confirmPassword: "Confirm password does not match the password; type the same password twice." });
      const user = await createFirstAdministrator(db, actorOf(req), body);
      // The person who just chose the password is the administrator: signing them in spares typing it again at
      // once. A new session id all the same (docs/security.md S1), and the sign-in is audited like any other.
      await establishSession(req, user);
      await completeSignIn(db, actorOf(req), user, "setup");
      flash(req, "success", `Administrator ${user.username} created. You are signed in.`);
      res.redirect(303, "/");
    },
  );

  return router;
}
