import { type Request, type Response, Router } from "express";
import { z } from "zod";
import { ValidationError } from "../../errors.ts";
import { emailField, passwordField, usernameField } from "../../lib/fields.ts";
import { flash } from "../../lib/flash.ts";
import { formView } from "../../middleware/form-view.ts";
import { input, validate } from "../../middleware/validate.ts";
import { accountInProgress } from "../../services/accounts.ts";
import type { PasswordChangeReason } from "../../types/user.ts";
import { completePasswordReset, FORGOT_PASSWORD_ANSWER, requestPasswordReset } from "../../services/password-reset.ts";
import { PASSWORD_HINT } from "../../services/password-policy.ts";
import type { User } from "../../types/user.ts";
import { actorOf } from "../actor.ts";
import { fieldErrorsOf, typedValues } from "../form-values.ts";
import type { RouteDeps } from "../deps.ts";

const ForgotPasswordSchema = z.strictObject({
  username: usernameField,
  email: emailField.refine((v) => v !== null, "Enter the email address of your account."),
});

const NewPasswordSchema = z.strictObject({
  username: z.string().max(200).optional(),
  newPassword: passwordField,
  confirmPassword: z.string().max(1000),
});

function regenerate(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
}

/**
 * Forgot password and the page that follows a sign-in with a reset code or temporary password (docs/domain.md, "Passwords and reset").
 * That page belongs to a session that is not signed in (docs/security.md §1.2, the "half-open" session): nothing else
 * is reachable until a new password is set, and setting it signs nobody in.
 */
export function passwordResetRoutes({ db, config, mailOutbox }: RouteDeps) {
  const router = Router();

  /** After the reset code (and the code step, with 2FA): a fresh session that can only choose a new password. */
  const beginPasswordChange = async (req: Request, user: User, kind: PasswordChangeReason): Promise<void> => {
    await regenerate(req);
    req.session.pendingPasswordChange = { userId: user.id, sessionVersion: user.sessionVersion, kind, startedAt: Date.now() };
  };

  const pendingAccount = async (req: Request): Promise<User | undefined> => {
    const pending = req.session.pendingPasswordChange;
    if (!pending) return undefined;
    const user = await accountInProgress(db, pending.userId);
    if (!user || user.disabled || user.sessionVersion !== pending.sessionVersion) {
      delete req.session.pendingPasswordChange;
      return undefined;
    }
    return user;
  };

  const renderNewPassword = (res: Response, status: number, user: User, kind: PasswordChangeReason, errors: Record<string, string> = {}, message: string | null = null) =>
    res.status(status).render("auth/new-password", { title: "Choose a new password", username: user.username, kind, passwordHint: PASSWORD_HINT, errors, message });

  router.get("/login/new-password", async (req, res) => {
    const user = await pendingAccount(req);
    if (!user) return res.redirect(303, "/login");
    renderNewPassword(res, 200, user, req.session.pendingPasswordChange!.kind);
  });

  router.post(
    "/login/new-password",
    formView(async (req, res, error) => {
      const user = await pendingAccount(req);
      if (!user) return res.redirect(303, "/login");
      renderNewPassword(res, error.status, user, req.session.pendingPasswordChange!.kind, fieldErrorsOf(error), error.message);
    }),
    validate({ body: NewPasswordSchema }),
    async (req, res) => {
      const { body } = input<z.infer<typeof NewPasswordSchema>>(res);
      const user = await pendingAccount(req);
      if (!user) return res.redirect(303, "/login");
      if (body.newPassword !== body.confirmPassword)
        throw new ValidationError({ confirmPassword: "Confirm new password does not match the new password; type it twice." });
      const { kind } = req.session.pendingPasswordChange!;
      const notice = await completePasswordReset(db, { ...actorOf(req), id: user.id, username: user.username }, { userId: user.id, kind, newPassword: body.newPassword });
      if (notice !== null) mailOutbox.kick();
      // Every session of the account ended with the change, this one included: sign in again (2FA applies).
      await regenerate(req);
      flash(req, "success", "Your password has been changed and every session of your account signed out. Sign in with your new password.");
      res.redirect(303, "/login");
    },
  );

  const renderForgot = (res: Response, status: number, view: { values?: Record<string, string>; errors?: Record<string, string>; answer?: string | null }) =>
    res.status(status).render("auth/forgot-password", { title: "Forgot password", values: view.values ?? {}, errors: view.errors ?? {}, answer: view.answer ?? null });

  router.get("/forgot-password", (_req, res) => renderForgot(res, 200, {}));

  router.post(
    "/forgot-password",
    formView((req, res, error) => {
      const { username = "", email = "" } = typedValues(req);
      if (error.status === 429) return renderForgot(res, 429, { values: { username, email }, errors: { username: error.message } });
      renderForgot(res, error.status, { values: { username, email }, errors: fieldErrorsOf(error) });
    }),
    validate({ body: ForgotPasswordSchema }),
    async (req, res) => {
      const { body } = input<z.infer<typeof ForgotPasswordSchema>>(res);
      const messageId = await requestPasswordReset(db, actorOf(req), { username: body.username, email: body.email ?? "", baseUrl: config.baseUrl });
      // Sent in the background whatever matched, so the answer takes the same time either way (docs/security.md R1).
      if (messageId !== null) mailOutbox.kick();
      renderForgot(res, 200, { answer: FORGOT_PASSWORD_ANSWER });
    },
  );

  return { router, beginPasswordChange };
}
