import { type NextFunction, type Request, type Response, Router } from "express";
import { z } from "zod";
import { ForbiddenError, ValidationError } from "../../errors.ts";
import { flash } from "../../lib/flash.ts";
import { passwordField, textField } from "../../lib/fields.ts";
import { formView } from "../../middleware/form-view.ts";
import { requireSignedIn } from "../../middleware/require-auth.ts";
import { input, validate } from "../../middleware/validate.ts";
import { presentUser } from "../../presenters/user.ts";
import { changeOwnPassword, updateOwnProfile } from "../../services/accounts.ts";
import { PASSWORD_HINT } from "../../services/password-policy.ts";
import { signedInActor } from "../actor.ts";
import { establishSession } from "../auth/index.ts";
import { fieldErrorsOf, typedValues } from "../form-values.ts";
import type { RouteDeps } from "../index.ts";

const ProfileSchema = z.strictObject({
  fullName: textField("Full name", 128),
  title: textField("Title", 128),
  phone: textField("Phone", 64),
});

const PasswordChangeSchema = z.strictObject({
  currentPassword: z.string().min(1, "Enter your current password.").max(1000),
  newPassword: passwordField,
  confirmPassword: z.string(),
});

/** Fields only an administrator may set; asking for them on your own profile is refused outright. */
const PRIVILEGED_FIELDS = ["isAdmin", "is_admin", "role", "admin", "authSource", "auth_source", "disabled", "teams", "grants", "username"];

function refusePrivilegedFields(req: Request, _res: Response, next: NextFunction) {
  const body = (req.body ?? {}) as Record<string, unknown>;
  if (PRIVILEGED_FIELDS.some((f) => f in body)) return next(new ForbiddenError("You cannot change your own role, account type or username."));
  next();
}

export function profileRouter({ db }: RouteDeps): Router {
  const router = Router();
  router.use("/profile", requireSignedIn);

  const render = (
    req: Request,
    res: Response,
    status: number,
    form: { values?: Record<string, string>; errors?: Record<string, string>; passwordErrors?: Record<string, string> } = {},
  ) => {
    const user = presentUser(req.user!);
    res.status(status).render("profile/index", {
      title: "Profile",
      user,
      values: form.values ?? { fullName: user.fullName, title: user.title, phone: user.phone },
      errors: form.errors ?? {},
      passwordErrors: form.passwordErrors ?? {},
      passwordHint: PASSWORD_HINT,
    });
  };

  router.get("/profile", (req, res) => render(req, res, 200));

  router.post(
    "/profile",
    refusePrivilegedFields,
    formView((req, res, error) => render(req, res, error.status, { values: typedValues(req), errors: fieldErrorsOf(error) })),
    validate({ body: ProfileSchema }),
    async (req, res) => {
      const { body } = input<z.infer<typeof ProfileSchema>>(res);
      await updateOwnProfile(db, signedInActor(req), body);
      flash(req, "success", "Profile saved.");
      res.redirect(303, "/profile");
    },
  );

  router.post(
    "/profile/password",
    formView((req, res, error) => render(req, res, error.status, { passwordErrors: fieldErrorsOf(error) })),
    validate({ body: PasswordChangeSchema }),
    async (req, res) => {
      const { body } = input<z.infer<typeof PasswordChangeSchema>>(res);
      if (body.newPassword !== body.confirmPassword)
        throw new ValidationError({ confirmPassword: "Confirm new password does not match the new password; type it twice." });
      const user = await changeOwnPassword(db, signedInActor(req), {
        currentPassword: body.currentPassword,
        newPassword: body.newPassword,
        currentSid: req.sessionID,
      });
      await establishSession(req, user);
      flash(req, "success", "Password changed. Your other sessions were signed out.");
      res.redirect(303, "/profile");
    },
  );

  return router;
}
