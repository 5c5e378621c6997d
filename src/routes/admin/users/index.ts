import { type Request, type Response, Router } from "express";
import { EmptySchema } from "../../../lib/fields.ts";
import type { z } from "zod";
import { type AppError, StaleWriteError, ValidationError } from "../../../errors.ts";
import { flash } from "../../../lib/flash.ts";
import { paginationView } from "../../../lib/pagination.ts";
import { formView } from "../../../middleware/form-view.ts";
import { requireAdmin } from "../../../middleware/require-auth.ts";
import { input, validate } from "../../../middleware/validate.ts";
import { presentUser } from "../../../presenters/user.ts";
import { presentUserAccess } from "../../../presenters/user-access.ts";
import { createUser, deleteUser, listUsersPage, readUser, setUserDisabled, updateUser } from "../../../services/accounts.ts";
import { userAccessOverview } from "../../../services/effective-access.ts";
import { countLiveSessions, endUserSessionsAsAdmin } from "../../../services/sessions.ts";
import { countActiveApiTokens, revokeAllApiTokens } from "../../../services/api-tokens.ts";
import { addTeamMember, removeTeamMember } from "../../../services/teams.ts";
import { lossSentence } from "../../../presenters/access.ts";
import { PASSWORD_HINT } from "../../../services/password-policy.ts";
import { awaitingConfirmation, confirmEmailCode, sendConfirmationCodeAsAdmin } from "../../../services/email-verification.ts";
import { isAccountLocked, unlockAccount } from "../../../services/sign-in.ts";
import { adminDisableTwoFactor, METHOD_LABELS } from "../../../services/two-factor.ts";
import type { User, UserDetails } from "../../../types/user.ts";
import { actorOf } from "../../actor.ts";
import { continueSession, establishSession } from "../../../auth/establish-session.ts";
import { ALERT_SERVICES_PLACE, reportCodeDelivery, reportCodeWithheld } from "../../code-delivery.ts";
import { fieldErrorsOf, typedValues } from "../../form-values.ts";
import { issueTemporaryPassword, TEMPORARY_PASSWORD_VALID_SECONDS } from "../../../services/password-reset.ts";
import type { RouteDeps } from "../../deps.ts";
import { beginCsv, datedFileName, streamAuditedDownload } from "../../stream-text.ts";
import { recordUsersDownload, usersCsvChunks } from "../../../services/users-download.ts";
import { JoinTeamSchema, UserTeamParams } from "../catalog-schemas.ts";
import { grantRoutes } from "../grant-routes.ts";
import {
  AUTH_SOURCES,
  type UserCreateBody,
  UserCreateSchema,
  UserIdParams,
  UserListQuerySchema,
  type UserUpdateBody,
  UserUpdateSchema,
  ConfirmationSchema,
  VersionSchema,
} from "./schemas.ts";

const PER_PAGE = 50;
const USERS_CSV_PATH = "/admin/users/export.csv";

/** The list's search and sort as a query string, for the download of everything it matches. */
function listParams(query: { q: string; sort: string; dir: string }): string {
  const params = new URLSearchParams({ q: query.q, sort: query.sort, dir: query.dir });
  if (!query.q) params.delete("q");
  return params.toString();
}

const COLUMNS = [
  { key: "username", label: "Username" },
  { key: "name", label: "Full name" },
  { key: "email", label: "Email" },
  { key: "role", label: "Role" },
  { key: "lastLogin", label: "Last sign-in" },
] as const;

function detailsFrom(body: UserCreateBody): UserDetails {
  return {
    username: body.username,
    fullName: body.fullName,
    title: body.title,
    email: body.email,
    phone: body.phone,
    isAdmin: body.isAdmin,
    authSource: body.authSource,
  };
}

/** docs/domain.md, "Passwords and reset": a password set for someone else is theirs to replace. */
function reportTemporaryPassword(req: Request, user: User): void {
  flash(req, "notice", `The password you set is temporary: ${user.username} must replace it at the next sign-in.`);
}

function checkConfirmation(body: { password: string; confirmPassword: string }): void {
  if (body.password !== body.confirmPassword)
    throw new ValidationError({ confirmPassword: "Confirm password does not match the password; type the same password twice." });
}

function formValuesOf(user: User): Record<string, string> {
  return {
    username: user.username,
    fullName: user.fullName,
    title: user.title,
    email: user.email ?? "",
    phone: user.phone,
    isAdmin: user.isAdmin ? "on" : "",
    authSource: user.authSource,
    version: String(user.version),
  };
}

export function adminUsersRouter({ db, keys, mailOutbox, config, logger }: RouteDeps): Router {
  const router = Router();
  router.use(requireAdmin);

  const loadUser = async (res: Response): Promise<User> => readUser(db, actorOf(res.req), input<unknown, unknown, UserIdParams>(res).params.id);

  const renderNew = (res: Response, status: number, values: Record<string, string>, errors: Record<string, string>) =>
    res.status(status).render("admin/users/new", {
      title: "New user",
      values,
      errors,
      authSources: AUTH_SOURCES,
      passwordHint: PASSWORD_HINT,
    });

  const renderUser = async (
    req: Request,
    res: Response,
    user: User,
    status: number,
    form: { values?: Record<string, string>; errors?: Record<string, string>; message?: string; stale?: User } = {},
  ) => {
    const [lockedUntil, sessionCount, access, apiTokenCount, confirmation] = await Promise.all([
      isAccountLocked(db, user),
      countLiveSessions(db, user.id, config.session),
      userAccessOverview(db, actorOf(req), user).then((overview) => presentUserAccess(user, overview)),
      countActiveApiTokens(db, user.id),
      awaitingConfirmation(db, user),
    ]);
    res.status(status).render("admin/users/show", {
      title: `User ${user.username}`,
      user: presentUser(user),
      isSelf: req.user?.id === user.id,
      lockedUntil: lockedUntil?.toISOString() ?? null,
      sessionCount,
      apiTokenCount,
      values: form.values ?? formValuesOf(user),
      errors: form.errors ?? {},
      message: form.message ?? null,
      stale: form.stale ? presentUser(form.stale) : null,
      confirmation,
      twoFactorLabel: user.twoFactorMethod ? METHOD_LABELS[user.twoFactorMethod] : null,
      authSources: AUTH_SOURCES,
      passwordHint: PASSWORD_HINT,
      ...access,
    });
  };

  /** Errors on the user page (a failed save, a refused disable) come back to the page with the user's input kept. */
  const userPageForm = formView(async (req, res, error: AppError) => {
    const user = await loadUser(res);
    const typed = typedValues(req);
    const isEditForm = "username" in typed;
    if (error instanceof StaleWriteError) {
      const current = error.current as User;
      // Keep what this administrator typed; the next save applies on top of the newer version.
      if (isEditForm)
        return renderUser(req, res, current, 409, {
          values: { ...typed, version: String(current.version) },
          message: "Someone else changed this user after you opened the page. Their version is shown below; your input is kept. Save again to apply it.",
          stale: current,
        });
      // A disable, enable or delete button carries only the version: show the user as saved now.
      return renderUser(req, res, current, 409, {
        message: "Someone else changed this user after you opened the page. Check the details below, then try again.",
      });
    }
    await renderUser(req, res, user, error.status, {
      values: isEditForm ? typed : undefined,
      errors: fieldErrorsOf(error),
      message: error.message,
    });
  });

  router.get("/", validate({ query: UserListQuerySchema }), async (req, res) => {
    const { query } = input<unknown, z.infer<typeof UserListQuerySchema>>(res);
    const { users, total } = await listUsersPage(db, actorOf(req), {
      search: query.q.trim(),
      sort: query.sort,
      direction: query.dir,
      limit: PER_PAGE,
      offset: (query.page - 1) * PER_PAGE,
    });
    const link = (overrides: Record<string, string | number>) => {
      const params = new URLSearchParams({ q: query.q, sort: query.sort, dir: query.dir, page: String(query.page) });
      for (const [k, v] of Object.entries(overrides)) params.set(k, String(v));
      if (!params.get("q")) params.delete("q");
      return `/admin/users?${params.toString()}`;
    };
    res.render("admin/users/list", {
      title: "Users",
      users: users.map(presentUser),
      total,
      query,
      columns: COLUMNS.map((c) => {
        const active = query.sort === c.key;
        return {
          ...c,
          ariaSort: active ? (query.dir === "asc" ? "ascending" : "descending") : "none",
          href: link({ sort: c.key, dir: active && query.dir === "asc" ? "desc" : "asc", page: 1 }),
        };
      }),
      pagination: paginationView(query.page, total, PER_PAGE, (page) => link({ page })),
      downloadHref: `${USERS_CSV_PATH}?${listParams(query)}`,
    });
  });

  // Every account the list's search matches, in the list's order: the same query string, without the page.
  router.get("/export.csv", validate({ query: UserListQuerySchema }), async (req, res) => {
    const { query } = input<unknown, z.infer<typeof UserListQuerySchema>>(res);
    const wanted = { search: query.q.trim(), sort: query.sort, direction: query.dir };
    const chunks = usersCsvChunks(db, actorOf(req), wanted);
    await streamAuditedDownload(res, chunks, beginCsv(res, datedFileName("gatehouse-users", "csv")), logger, () =>
      recordUsersDownload(db, actorOf(req), wanted),
    );
  });

  router.get("/new", (_req, res) => renderNew(res, 200, { authSource: "local" }, {}));

  router.post(
    "/",
    formView((req, res, error) => renderNew(res, error.status, typedValues(req), fieldErrorsOf(error))),
    validate({ body: UserCreateSchema }),
    async (req, res) => {
      const { body } = input<UserCreateBody>(res);
      checkConfirmation(body);
      const { user, verificationMessageId, codeWithheldForNoMail, temporaryPassword } = await createUser(db, actorOf(req), {
        details: detailsFrom(body),
        password: body.password || undefined,
        verifyEmailWith: keys,
      });
      flash(req, "success", `User ${user.username} created.`);
      await reportCodeDelivery(req, mailOutbox, verificationMessageId, user.email);
      if (codeWithheldForNoMail) reportCodeWithheld(req, user.email);
      if (temporaryPassword) reportTemporaryPassword(req, user);
      res.redirect(303, `/admin/users/${user.id}`);
    },
  );

  router.get("/:id", validate({ params: UserIdParams }), async (req, res) => {
    await renderUser(req, res, await loadUser(res), 200);
  });

  router.post("/:id", validate({ params: UserIdParams }), userPageForm, validate({ body: UserUpdateSchema }), async (req, res) => {
    const { body, params } = input<UserUpdateBody, unknown, UserIdParams>(res);
    checkConfirmation(body);
    const { user, verificationMessageId, codeWithheldForNoMail, temporaryPassword } = await updateUser(db, actorOf(req), params.id, {
      version: body.version,
      details: detailsFrom(body),
      password: body.password || undefined,
      verifyEmailWith: keys,
    });
    // Saving one's own password bumps the session version, which ends every session of the account;
    // this one carries on with a fresh session, as after a change on the profile page.
    if (req.user?.id === user.id && req.user.sessionVersion !== user.sessionVersion) await establishSession(req, user);
    flash(req, "success", `User ${user.username} saved.`);
    await reportCodeDelivery(req, mailOutbox, verificationMessageId, user.email);
    if (codeWithheldForNoMail) reportCodeWithheld(req, user.email);
    if (temporaryPassword) reportTemporaryPassword(req, user);
    res.redirect(303, `/admin/users/${user.id}`);
  });

  router.post("/:id/teams", validate({ params: UserIdParams }), userPageForm, validate({ body: JoinTeamSchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof JoinTeamSchema>, unknown, UserIdParams>(res);
    const { added, username, teamName } = await addTeamMember(db, actorOf(req), body.teamId, params.id);
    flash(req, "success", added ? `${username} joined team ${teamName}.` : `${username} was already in team ${teamName}.`);
    res.redirect(303, `/admin/users/${params.id}#teams`);
  });

  router.post("/:id/teams/:teamId/remove", validate({ params: UserTeamParams }), userPageForm, validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, z.infer<typeof UserTeamParams>>(res);
    const { removed, teamName, lost } = await removeTeamMember(db, actorOf(req), params.teamId, params.id);
    flash(req, "success", removed ? `Removed from team ${teamName}; ${lossSentence(lost)}.` : "That membership had already ended.");
    res.redirect(303, `/admin/users/${params.id}#teams`);
  });

  router.use(grantRoutes(db, "user", (id) => `/admin/users/${id}`, userPageForm));

  router.get("/:id/delete", validate({ params: UserIdParams }), async (req, res) => {
    const user = await loadUser(res);
    res.render("admin/users/delete", { title: `Delete user ${user.username}?`, user: presentUser(user), isSelf: req.user?.id === user.id });
  });

  router.post("/:id/delete", validate({ params: UserIdParams }), userPageForm, validate({ body: VersionSchema }), async (req, res) => {
    const { body, params } = input<z.infer<typeof VersionSchema>, unknown, UserIdParams>(res);
    const user = await deleteUser(db, actorOf(req), params.id, body.version);
    flash(req, "success", `User ${user.username} deleted.`);
    res.redirect(303, "/admin/users");
  });

  for (const [action, disabled] of [
    ["disable", true],
    ["enable", false],
  ] as const) {
    router.post(`/:id/${action}`, validate({ params: UserIdParams }), userPageForm, validate({ body: VersionSchema }), async (req, res) => {
      const { body, params } = input<z.infer<typeof VersionSchema>, unknown, UserIdParams>(res);
      const user = await setUserDisabled(db, actorOf(req), params.id, body.version, disabled);
      flash(req, "success", disabled ? `User ${user.username} disabled; their sessions were ended.` : `User ${user.username} enabled.`);
      res.redirect(303, `/admin/users/${user.id}`);
    });
  }

  router.post("/:id/2fa/disable", validate({ params: UserIdParams }), userPageForm, validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, UserIdParams>(res);
    const user = await adminDisableTwoFactor(db, actorOf(req), params.id);
    mailOutbox.kick();
    flash(req, "success", `Two-factor authentication is off for ${user.username}; their sessions were ended.`);
    res.redirect(303, `/admin/users/${user.id}#two-factor`);
  });

  router.post(
    "/:id/email/confirm",
    validate({ params: UserIdParams }),
    userPageForm,
    validate({ body: ConfirmationSchema }),
    async (req, res) => {
      const { params, body } = input<z.infer<typeof ConfirmationSchema>, unknown, UserIdParams>(res);
      const user = await confirmEmailCode(db, keys, actorOf(req), params.id, body.confirmationCode);
      flash(req, "success", `Email address ${user.email} of ${user.username} verified.`);
      res.redirect(303, `/admin/users/${user.id}`);
    },
  );

  // "Send confirmation code": an address saved unverified (by an administrator, or while mail was not configured)
  // gets its code on request; without a mail server nothing changes and the page says where to set one up.
  router.post("/:id/email/resend", validate({ params: UserIdParams }), userPageForm, validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, UserIdParams>(res);
    const sent = await sendConfirmationCodeAsAdmin(db, keys, actorOf(req), params.id, req.ip ?? "unknown");
    if (sent.kind === "queued") await reportCodeDelivery(req, mailOutbox, sent.messageId, sent.address);
    else if (sent.kind === "mail-not-configured")
      flash(
        req,
        "error",
        `No confirmation code was sent: email is not configured. Set up the mail server under ${ALERT_SERVICES_PLACE}, then send the code again.`,
      );
    else
      flash(
        req,
        "success",
        sent.user.email ? `No code is needed: ${sent.user.email} is already verified.` : `${sent.user.username} has no email address to confirm.`,
      );
    res.redirect(303, `/admin/users/${params.id}#email-confirmation`);
  });

  router.post("/:id/temporary-password", validate({ params: UserIdParams }), userPageForm, validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, UserIdParams>(res);
    const { user, password } = await issueTemporaryPassword(db, actorOf(req), params.id);
    // Shown once, on this answer only: never in a flash, a redirect or the log.
    res.render("admin/users/temporary-password", {
      title: `Temporary password for ${user.username}`,
      username: user.username,
      userId: user.id,
      password,
      validHours: TEMPORARY_PASSWORD_VALID_SECONDS / 3600,
    });
  });

  router.post("/:id/sessions/end", validate({ params: UserIdParams }), userPageForm, validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, UserIdParams>(res);
    const { ended, user, keptCurrent } = await endUserSessionsAsAdmin(db, actorOf(req), params.id, req.sessionID, config.session);
    const plural = ended === 1 ? "session" : "sessions";
    if (keptCurrent) {
      await continueSession(req, user);
      flash(
        req,
        "success",
        ended === 0
          ? "You had no other sessions. Your current session stays signed in."
          : `Ended ${ended} other ${plural} of yours. Your current session stays signed in.`,
      );
    } else {
      flash(req, "success", ended === 0 ? `${user.username} had no active sessions.` : `Ended ${ended} ${plural} of ${user.username}.`);
    }
    res.redirect(303, `/admin/users/${user.id}#sessions`);
  });

  router.post("/:id/api-tokens/revoke", validate({ params: UserIdParams }), userPageForm, validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, UserIdParams>(res);
    const { user, revoked } = await revokeAllApiTokens(db, actorOf(req), params.id);
    const plural = revoked === 1 ? "API token" : "API tokens";
    flash(req, "success", revoked === 0 ? `${user.username} had no active API tokens.` : `Revoked ${revoked} ${plural} of ${user.username}.`);
    res.redirect(303, `/admin/users/${user.id}#api-tokens`);
  });

  router.post("/:id/unlock", validate({ params: UserIdParams }), userPageForm, validate({ body: VersionSchema }), async (req, res) => {
    const user = await loadUser(res);
    await unlockAccount(db, actorOf(req), user);
    flash(req, "success", `User ${user.username} can sign in again.`);
    res.redirect(303, `/admin/users/${user.id}`);
  });

  return router;
}
