import { type Request, type Response, Router } from "express";
import { z } from "zod";
import type { Db } from "../../db/index.ts";
import { ConflictError, ValidationError } from "../../errors.ts";
import { idParam } from "../../lib/fields.ts";
import { flash } from "../../lib/flash.ts";
import { openSecret, sealSecret } from "../../lib/secret-box.ts";
import { type FormRenderer, formView } from "../../middleware/form-view.ts";
import { requireSignedIn } from "../../middleware/require-auth.ts";
import { input, validate } from "../../middleware/validate.ts";
import { presentTime, type TimeView } from "../../presenters/time.ts";
import {
  API_TOKEN_EXPIRY_CHOICES,
  type ApiTokenStatus,
  type ApiTokenView,
  apiTokenNameField,
  createApiToken,
  DEFAULT_API_TOKEN_EXPIRY,
  listApiTokens,
  MAX_ACTIVE_API_TOKENS,
  revokeApiToken,
} from "../../services/api-tokens.ts";
import { REAUTH_AFTER_MS } from "../../services/email-verification.ts";
import { verifyCurrentPassword } from "../../services/passwords.ts";
import { signedInActor } from "../actor.ts";
import type { RouteDeps } from "../deps.ts";

const EXPIRY_VALUES = API_TOKEN_EXPIRY_CHOICES.map((c) => c.value) as [string, ...string[]];

const CreateTokenSchema = z.strictObject({
  name: apiTokenNameField,
  expiresInDays: z.enum(EXPIRY_VALUES, { error: "Expires: choose 7 days, 30 days, 90 days, 1 year or Never." }),
  currentPassword: z.string().max(1000).default(""),
});
const TokenParams = z.strictObject({ id: idParam });
const EmptySchema = z.strictObject({});

const STATUS_LABELS: Record<ApiTokenStatus, string> = { active: "Active", expired: "Expired", revoked: "Revoked" };

/** One row of the Profile's API tokens table. */
export interface ApiTokenRowView {
  id: number;
  name: string;
  /** "gh_AbCdEfGh…": how the token starts. */
  prefix: string;
  created: TimeView;
  expires: TimeView | null;
  lastUsed: TimeView | null;
  status: ApiTokenStatus;
  statusLabel: string;
  /** The accessible name of its Revoke button. */
  revokeLabel: string;
}

function presentToken(token: ApiTokenView): ApiTokenRowView {
  return {
    id: token.id,
    name: token.name,
    prefix: `${token.prefix}…`,
    created: presentTime(token.createdAt) as TimeView,
    expires: presentTime(token.expiresAt),
    lastUsed: presentTime(token.lastUsedAt),
    status: token.status,
    statusLabel: STATUS_LABELS[token.status],
    revokeLabel: `Revoke token ${token.name} (${token.prefix}…)`,
  };
}

/** What the Profile's API tokens section shows: the account's tokens and the form's choices. */
export async function loadApiTokensView(db: Db, userId: number) {
  const tokens = (await listApiTokens(db, userId)).map(presentToken);
  return {
    tokens,
    activeCount: tokens.filter((t) => t.status === "active").length,
    limit: MAX_ACTIVE_API_TOKENS,
    expiryChoices: API_TOKEN_EXPIRY_CHOICES.map(({ value, label }) => ({ value, label })),
    defaultExpiry: DEFAULT_API_TOKEN_EXPIRY,
  };
}

export type ApiTokensSectionView = Awaited<ReturnType<typeof loadApiTokensView>>;

/** The token on its way to the page that shows it once. */
interface TokenToShow {
  token: string;
  name: string;
  prefix: string;
  expiresAt: string | null;
}

/**
 * The Profile's API tokens: create (the token is shown once, on the next page), revoke. `renderForm` shows the
 * Profile again with this section's errors and the typed values.
 */
/** Whether the session, as stored now, holds a just-created token not yet shown. */
function tokenWaitingToShow(req: Request): Promise<boolean> {
  return new Promise((resolve) => req.session.reload((err) => resolve(!err && Boolean(req.session.apiTokenToShow))));
}

export function profileApiTokensRouter({ db, keys, mailOutbox, logger }: RouteDeps, renderForm: FormRenderer): Router {
  const router = Router();
  router.use("/profile/api-tokens", requireSignedIn);

  router.post("/profile/api-tokens", formView(renderForm), validate({ body: CreateTokenSchema }), async (req, res) => {
    const { body } = input<z.infer<typeof CreateTokenSchema>>(res);
    const user = req.user!;
    // A new credential is a sensitive change: the password again once the sign-in is older than 15 minutes
    // (ASVS 7.5.1), the directory's for an LDAP account, as when turning on 2FA.
    if (Date.now() - (req.session.authAt ?? 0) > REAUTH_AFTER_MS) {
      if (!body.currentPassword) throw new ValidationError({ currentPassword: "Enter your password: you signed in more than 15 minutes ago." });
      if (!(await verifyCurrentPassword(db, user, body.currentPassword, keys))) throw new ValidationError({ currentPassword: "Password is not correct." });
    }
    const choice = API_TOKEN_EXPIRY_CHOICES.find((c) => c.value === body.expiresInDays);
    let created: Awaited<ReturnType<typeof createApiToken>>;
    try {
      created = await createApiToken(db, keys, signedInActor(req), user.id, { name: body.name, expiresInDays: choice?.days ?? null });
    } catch (error) {
      // A double click: the first request made the token and put it in the session to show. This one leads there
      // too (the session as stored now, since the first may have saved it after this request read it).
      if (error instanceof ConflictError && error.fields.name && (await tokenWaitingToShow(req))) return res.redirect(303, "/profile/api-tokens/new");
      throw error;
    }
    const { token, record, noticeId } = created;
    // The notice goes now if it can; otherwise the outbox retries it. The new token's page does not wait for it.
    if (noticeId !== null) mailOutbox.deliverNow(noticeId).catch((err: unknown) => logger.warn({ err }, "API token notice not sent yet"));
    // Sealed in the session until the next page shows it: the session row never holds the token in the clear.
    const toShow: TokenToShow = { token, name: record.name, prefix: record.prefix, expiresAt: record.expiresAt?.toISOString() ?? null };
    req.session.apiTokenToShow = sealSecret(keys.storage, JSON.stringify(toShow));
    res.redirect(303, "/profile/api-tokens/new");
  });

  router.get("/profile/api-tokens/new", (req: Request, res: Response) => {
    const sealed = req.session.apiTokenToShow;
    if (!sealed) {
      flash(req, "error", "An API token is shown only once, right after it is created. If you did not copy it, revoke it and create a new one.");
      return res.redirect(303, "/profile#api-tokens");
    }
    delete req.session.apiTokenToShow;
    const shown = JSON.parse(openSecret(keys.storage, sealed)) as TokenToShow;
    res.render("profile/api-token-created", {
      title: "Your new API token",
      token: shown.token,
      name: shown.name,
      prefix: shown.prefix,
      expires: presentTime(shown.expiresAt ? new Date(shown.expiresAt) : null),
    });
  });

  router.post("/profile/api-tokens/:id/revoke", validate({ params: TokenParams, body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, z.infer<typeof TokenParams>>(res);
    // Already revoked (a second tab, a double click): the same answer, since the token is revoked either way.
    const token = await revokeApiToken(db, signedInActor(req), req.user!.id, params.id);
    flash(req, "success", `API token ${token.name} (${token.prefix}…) revoked. Requests with it are refused from now on.`);
    res.redirect(303, "/profile#api-tokens");
  });

  return router;
}
