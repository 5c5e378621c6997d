import { type NextFunction, type Request, type Response, Router } from "express";
import { z } from "zod";
import { ForbiddenError, ValidationError } from "../../errors.ts";
import { flash } from "../../lib/flash.ts";
import { checkbox, emailField, passwordField, textField } from "../../lib/fields.ts";
import { openSecret, sealSecret } from "../../lib/secret-box.ts";
import { formView } from "../../middleware/form-view.ts";
import { requireSignedIn } from "../../middleware/require-auth.ts";
import { input, validate } from "../../middleware/validate.ts";
import { presentUser } from "../../presenters/user.ts";
import { changeOwnPassword, updateOwnProfile } from "../../services/accounts.ts";
import {
  addressAwaitingCode,
  awaitingConfirmation,
  confirmEmailCode,
  REAUTH_AFTER_MS,
  requestOwnEmailChange,
  resendVerificationCode,
} from "../../services/email-verification.ts";
import { readGeneralSettings } from "../../services/general-settings.ts";
import { PASSWORD_HINT } from "../../services/password-policy.ts";
import { verifyCurrentPassword } from "../../services/passwords.ts";
import {
  confirmTotpEnrolment,
  describeEnrolment,
  disableOwnTwoFactor,
  enableEmailTwoFactor,
  METHOD_LABELS,
  RECOVERY_CODE_COUNT,
  regenerateRecoveryCodes,
  startTotpEnrolment,
  unusedRecoveryCodeCount,
} from "../../services/two-factor.ts";
import { signedInActor } from "../actor.ts";
import { continueSession, establishSession } from "../../auth/establish-session.ts";
import { reportCodeDelivery } from "../code-delivery.ts";
import { fieldErrorsOf, typedValues } from "../form-values.ts";
import type { RouteDeps } from "../deps.ts";
import { loadApiTokensView, profileApiTokensRouter } from "./api-tokens.ts";
import { loadSessionsView, profileSessionsRouter } from "./sessions.ts";

const ProfileSchema = z.strictObject({
  fullName: textField("Full name", 128),
  title: textField("Title", 128),
  // Absent: the form was posted without its Email field, and the address stays as it is; blank asks to remove it.
  email: emailField.optional(),
  phone: textField("Phone", 64),
  password: z.string().max(1000).default(""),
});

const PasswordChangeSchema = z.strictObject({
  currentPassword: z.string().min(1, "Enter your current password.").max(1000),
  newPassword: passwordField,
  confirmPassword: z.string(),
});

const ConfirmationSchema = z.strictObject({ confirmationCode: z.string().max(200).default("") });
const EmptySchema = z.strictObject({});
const EnableTwoFactorSchema = z.strictObject({
  method: z.enum(["email", "totp"], { error: "Choose how you will get your codes: Email code or Authenticator app." }),
  currentPassword: z.string().max(1000).default(""),
});
const EnrolmentCodeSchema = z.strictObject({ code: z.string().max(200).default("") });
const ReauthSchema = z.strictObject({
  currentPassword: z.string().max(1000).default(""),
  code: z.string().max(200).default(""),
});
const DisableTwoFactorSchema = ReauthSchema.extend({ endOtherSessions: checkbox });

/** Fields only an administrator may set; asking for them on your own profile is refused outright. */
const PRIVILEGED_FIELDS = ["isAdmin", "is_admin", "role", "admin", "authSource", "auth_source", "disabled", "teams", "grants", "username"];

function refusePrivilegedFields(req: Request, _res: Response, next: NextFunction) {
  const body = (req.body ?? {}) as Record<string, unknown>;
  if (PRIVILEGED_FIELDS.some((f) => f in body)) return next(new ForbiddenError("You cannot change your own role, account type or username."));
  next();
}

/** Which form on the page an error belongs to: its messages show next to that form only. */
type Section = "details" | "confirm" | "twoFactor" | "disable" | "recovery" | "password" | "apiTokens";

export function profileRouter(deps: RouteDeps): Router {
  const { db, keys, mailOutbox } = deps;
  const router = Router();
  router.use("/profile", requireSignedIn);
  router.use(profileSessionsRouter(deps));

  const render = async (
    req: Request,
    res: Response,
    status: number,
    form: { section?: Section; values?: Record<string, string>; errors?: Record<string, string>; message?: string } = {},
  ) => {
    const account = req.user!;
    const user = presentUser(account);
    const errorsFor = (section: Section) => (form.section === section ? (form.errors ?? {}) : {});
    const [recoveryLeft, general, sessions, apiTokens, confirmation] = await Promise.all([
      account.twoFactorMethod ? unusedRecoveryCodeCount(db, account.id) : Promise.resolve(0),
      readGeneralSettings(db),
      loadSessionsView(db, deps.config.session, req),
      loadApiTokensView(db, account.id),
      awaitingConfirmation(db, account),
    ]);
    const detailsValues = { fullName: user.fullName, title: user.title, email: account.pendingEmail ?? user.email, phone: user.phone };
    res.status(status).render("profile/index", {
      title: "Profile",
      user,
      values: form.section === "details" && form.values ? form.values : detailsValues,
      errors: errorsFor("details"),
      confirmErrors: errorsFor("confirm"),
      twoFactorErrors: errorsFor("twoFactor"),
      twoFactorValues: form.section === "twoFactor" && form.values ? form.values : { method: "email" },
      disableErrors: errorsFor("disable"),
      recoveryErrors: errorsFor("recovery"),
      passwordErrors: errorsFor("password"),
      passwordHint: PASSWORD_HINT,
      confirmation,
      pendingEmail: account.pendingEmail,
      reauthNeeded: Date.now() - (req.session.authAt ?? 0) > REAUTH_AFTER_MS,
      twoFactor: account.twoFactorMethod
        ? { method: account.twoFactorMethod, label: METHOD_LABELS[account.twoFactorMethod], recoveryLeft, recoveryTotal: RECOVERY_CODE_COUNT }
        : null,
      twoFactorRequired: account.isAdmin && !account.twoFactorMethod && general.value.requireAdminTwoFactor,
      sessions,
      apiTokens,
      apiTokenErrors: errorsFor("apiTokens"),
      apiTokenValues: form.section === "apiTokens" && form.values ? form.values : { expiresInDays: apiTokens.defaultExpiry },
      apiTokenMessage: form.section === "apiTokens" ? (form.message ?? null) : null,
    });
  };

  const sectionView = (section: Section, keepValues: boolean) =>
    formView((req, res, error) =>
      render(req, res, error.status, { section, values: keepValues ? typedValues(req) : undefined, errors: fieldErrorsOf(error) }),
    );

  /** Recovery codes go to the next page through the session, sealed, and are shown there once. */
  const showRecoveryCodes = (req: Request, res: Response, codes: string[]) => {
    req.session.recoveryCodesToShow = sealSecret(keys.storage, JSON.stringify(codes));
    mailOutbox.kick();
    res.redirect(303, "/profile/2fa/recovery-codes");
  };

  // Errors of the API tokens form: the typed name and choice come back; a refusal that is not about one field
  // (the cap) shows as the section's message.
  router.use(
    profileApiTokensRouter(deps, (req, res, error) => {
      const errors = fieldErrorsOf(error);
      return render(req, res, error.status, {
        section: "apiTokens",
        values: typedValues(req),
        errors,
        message: Object.keys(errors).length === 0 ? error.message : undefined,
      });
    }),
  );

  router.get("/profile", (req, res) => render(req, res, 200));

  router.post("/profile", refusePrivilegedFields, sectionView("details", true), validate({ body: ProfileSchema }), async (req, res) => {
    const { body } = input<z.infer<typeof ProfileSchema>>(res);
    const actor = signedInActor(req);
    // The email first: when it cannot be changed (no mail server, address taken, password needed) nothing is saved.
    const change =
      body.email === undefined
        ? ({ kind: "unchanged" } as const)
        : await requestOwnEmailChange(db, keys, actor, {
            email: body.email,
            password: body.password,
            authAt: req.session.authAt ?? 0,
            clientIp: req.ip ?? "unknown",
          });
    await updateOwnProfile(db, actor, { fullName: body.fullName, title: body.title, phone: body.phone });
    flash(req, "success", "Profile saved.");
    if (change.kind === "cancelled") flash(req, "success", "The email change was cancelled; your address stays as it was.");
    if (change.kind === "pending") {
      await reportCodeDelivery(req, mailOutbox, change.messageId, change.address);
      mailOutbox.kick();
    }
    res.redirect(303, "/profile");
  });

  // A second tab or a double submit after the address was confirmed: nothing waits for a code any more.
  const nothingAwaitingCode = (req: Request, res: Response, next: NextFunction) => {
    if (addressAwaitingCode(req.user!)) return next();
    flash(req, "success", req.user!.email ? `No code is needed: ${req.user!.email} is already verified.` : "No email address is waiting for a code.");
    res.redirect(303, "/profile");
  };

  router.post("/profile/email/confirm", nothingAwaitingCode, sectionView("confirm", false), validate({ body: ConfirmationSchema }), async (req, res) => {
    const { body } = input<z.infer<typeof ConfirmationSchema>>(res);
    const user = await confirmEmailCode(db, keys, signedInActor(req), req.user!.id, body.confirmationCode);
    flash(req, "success", `Email address ${user.email} verified.`);
    res.redirect(303, "/profile");
  });

  router.post("/profile/email/resend", nothingAwaitingCode, sectionView("confirm", false), validate({ body: EmptySchema }), async (req, res) => {
    const messageId = await resendVerificationCode(db, keys, req.user!.id, req.ip ?? "unknown", "confirmationCode");
    await reportCodeDelivery(req, mailOutbox, messageId, addressAwaitingCode(req.user!));
    res.redirect(303, "/profile#email-confirmation");
  });

  router.post("/profile/2fa", sectionView("twoFactor", true), validate({ body: EnableTwoFactorSchema }), async (req, res) => {
    const { body } = input<z.infer<typeof EnableTwoFactorSchema>>(res);
    const user = req.user!;
    if (user.twoFactorMethod) throw new ValidationError({ method: "Two-factor authentication is already on." });
    if (!user.email || !user.emailVerified)
      throw new ValidationError({ method: "Verify your email address first: enter it above, then the confirmation code we send." });
    // A change of sign-in factors needs the password again once the sign-in is older than 15 minutes (ASVS 7.5.1):
    // a session left open must not let someone enrol their own authenticator.
    if (Date.now() - (req.session.authAt ?? 0) > REAUTH_AFTER_MS) {
      if (!body.currentPassword) throw new ValidationError({ currentPassword: "Enter your password: you signed in more than 15 minutes ago." });
      if (!(await verifyCurrentPassword(db, user, body.currentPassword, keys))) throw new ValidationError({ currentPassword: "Password is not correct." });
    }
    if (body.method === "email") return showRecoveryCodes(req, res, await enableEmailTwoFactor(db, keys, signedInActor(req)));
    // docs/security.md T7: a fresh secret for every attempt; nothing is stored on the account until a code confirms it.
    const enrolment = await startTotpEnrolment(keys, user);
    req.session.pendingTotp = { sealedSecret: enrolment.sealedSecret, startedAt: Date.now() };
    res.redirect(303, "/profile/2fa/authenticator");
  });

  const renderEnrolment = async (req: Request, res: Response, status: number, errors: Record<string, string> = {}) => {
    const pending = req.session.pendingTotp;
    if (!pending) return res.redirect(303, "/profile#two-factor");
    const enrolment = await describeEnrolment(keys, req.user!, pending.sealedSecret);
    res.status(status).render("profile/authenticator", {
      title: "Set up your authenticator app",
      qrDataUrl: enrolment.qrDataUrl,
      secretGroups: enrolment.secret.match(/.{1,4}/g) ?? [],
      errors,
    });
  };

  router.get("/profile/2fa/authenticator", (req, res) => renderEnrolment(req, res, 200));

  router.post(
    "/profile/2fa/authenticator",
    formView((req, res, error) => renderEnrolment(req, res, error.status, fieldErrorsOf(error))),
    validate({ body: EnrolmentCodeSchema }),
    async (req, res) => {
      const { body } = input<z.infer<typeof EnrolmentCodeSchema>>(res);
      const pending = req.session.pendingTotp;
      if (!pending) return res.redirect(303, "/profile#two-factor");
      const codes = await confirmTotpEnrolment(db, keys, signedInActor(req), pending.sealedSecret, body.code);
      delete req.session.pendingTotp;
      showRecoveryCodes(req, res, codes);
    },
  );

  router.post("/profile/2fa/authenticator/cancel", validate({ body: EmptySchema }), (req, res) => {
    delete req.session.pendingTotp;
    res.redirect(303, "/profile#two-factor");
  });

  router.get("/profile/2fa/recovery-codes", (req, res) => {
    const sealed = req.session.recoveryCodesToShow;
    if (!sealed) {
      flash(req, "error", "Recovery codes are shown only once. Make new ones on your Profile if you did not save them.");
      return res.redirect(303, "/profile#two-factor");
    }
    delete req.session.recoveryCodesToShow;
    res.render("profile/recovery-codes", { title: "Your recovery codes", codes: JSON.parse(openSecret(keys.storage, sealed)) as string[] });
  });

  router.post("/profile/2fa/disable", sectionView("disable", false), validate({ body: DisableTwoFactorSchema }), async (req, res) => {
    const { body } = input<z.infer<typeof DisableTwoFactorSchema>>(res);
    const { user } = await disableOwnTwoFactor(db, keys, signedInActor(req), {
      password: body.currentPassword,
      code: body.code,
      endOtherSessions: body.endOtherSessions,
      currentSid: req.sessionID,
    });
    if (body.endOtherSessions) await continueSession(req, user);
    flash(req, "success", body.endOtherSessions ? "Two-factor authentication is off. Your other sessions were signed out." : "Two-factor authentication is off.");
    mailOutbox.kick();
    res.redirect(303, "/profile#two-factor");
  });

  router.post("/profile/2fa/recovery-codes", sectionView("recovery", false), validate({ body: ReauthSchema }), async (req, res) => {
    const { body } = input<z.infer<typeof ReauthSchema>>(res);
    const codes = await regenerateRecoveryCodes(db, keys, signedInActor(req), { password: body.currentPassword, code: body.code });
    showRecoveryCodes(req, res, codes);
  });

  router.post("/profile/password", sectionView("password", false), validate({ body: PasswordChangeSchema }), async (req, res) => {
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
  });

  return router;
}
