import { type Request, type Response, Router } from "express";
import { z } from "zod";
import { ValidationError } from "../../errors.ts";
import { safeReturnTo } from "../../lib/return-to.ts";
import { formView } from "../../middleware/form-view.ts";
import { input, validate } from "../../middleware/validate.ts";
import { flash } from "../../lib/flash.ts";
import { accountInProgress } from "../../services/accounts.ts";
import {
  checkSecondFactor,
  recordSecondFactorFailure,
  SECOND_FACTOR_MESSAGES,
  sendSignInCode,
} from "../../services/two-factor.ts";
import type { PasswordChangeReason } from "../../types/user.ts";
import type { User } from "../../types/user.ts";
import { actorOf } from "../actor.ts";
import { fieldErrorsOf } from "../form-values.ts";
import type { RouteDeps } from "../deps.ts";
import { establishSession } from "../../auth/establish-session.ts";
import { completeSignIn } from "../../services/sign-in.ts";

/** Wrong codes allowed in one pending sign-in before it starts over (docs/security.md T2). */
export const CODES_PER_PENDING_SIGN_IN = 5;

const CodeSchema = z.strictObject({ code: z.string().max(200).default("") });
const EmptySchema = z.strictObject({});

function regenerate(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
}

/** "j…e@example.com": enough to recognise one's own address, not enough to learn someone else's. */
function maskAddress(address: string): string {
  const at = address.lastIndexOf("@");
  const local = address.slice(0, at);
  const shown = local.length <= 2 ? `${local.slice(0, 1)}…` : `${local.slice(0, 1)}…${local.slice(-1)}`;
  return `${shown}${address.slice(at)}`;
}

export function secondFactorRoutes(
  { db, keys, mailOutbox, logger }: RouteDeps,
  beginPasswordChange: (req: Request, user: User, kind: PasswordChangeReason) => Promise<void>,
) {
  /** Emails a sign-in code and sends it at once; returns why it could not be sent, or null. */
  const mailSignInCode = async (req: Request, user: User): Promise<string | null> => {
    try {
      const id = await sendSignInCode(db, keys, user, req.ip ?? "unknown");
      const result = await mailOutbox.deliverNow(id);
      // Only the password step lies behind this page: the mail server's own words (hosts, addresses) go to the log.
      if (result.status === "queued" || result.status === "failed") {
        logger.warn({ outboxId: id, error: result.error }, "sign-in code: the mail server did not take it");
        return "The code could not be sent right now. Gatehouse keeps trying; if nothing arrives, use a recovery code or ask an administrator.";
      }
      return null;
    } catch (error) {
      if (error instanceof ValidationError) return error.message;
      throw error;
    }
  };

  /**
   * After a right password for an account with 2FA: a new session that is *not* signed in and holds only the
   * pending step. Emailed codes are sent now.
   */
  const beginSecondFactor = async (req: Request, user: User, returnTo: string, passwordReset?: PasswordChangeReason): Promise<void> => {
    if (!user.twoFactorMethod) throw new Error("beginSecondFactor needs an account with two-factor authentication");
    await regenerate(req);
    req.session.pendingSignIn = {
      userId: user.id,
      sessionVersion: user.sessionVersion,
      method: user.twoFactorMethod,
      startedAt: Date.now(),
      failures: 0,
      returnTo: safeReturnTo(returnTo),
      deliveryProblem: null,
      ...(passwordReset ? { passwordReset } : {}),
    };
    if (user.twoFactorMethod === "email") req.session.pendingSignIn.deliveryProblem = await mailSignInCode(req, user);
  };

  const renderCodePage = (req: Request, res: Response, status: number, errors: Record<string, string> = {}, message: string | null = null) => {
    const pending = req.session.pendingSignIn!;
    res.status(status).render("auth/code", {
      title: "Enter your code",
      method: pending.method,
      address: res.locals.pendingAddress ?? null,
      deliveryProblem: pending.deliveryProblem,
      errors,
      message,
    });
  };

  /** The pending account as it is now; a change since the password step (disabled, 2FA off, new password) ends the attempt. */
  const pendingAccount = async (req: Request): Promise<User | undefined> => {
    const pending = req.session.pendingSignIn;
    if (!pending) return undefined;
    const user = await accountInProgress(db, pending.userId);
    if (!user || user.disabled || user.sessionVersion !== pending.sessionVersion || user.twoFactorMethod !== pending.method) {
      delete req.session.pendingSignIn;
      return undefined;
    }
    return user;
  };

  const startOver = (req: Request, res: Response, notice: string, status = 401) => {
    delete req.session.pendingSignIn;
    res.status(status).render("auth/login", { title: "Sign in", username: "", returnTo: "/", errors: {}, message: null, notice });
  };

  const router = Router();

  router.get("/login/code", async (req, res) => {
    const user = await pendingAccount(req);
    if (!user) return res.redirect(303, res.locals.pendingExpired ? "/login?expired=1" : "/login");
    res.locals.pendingAddress = user.email ? maskAddress(user.email) : null;
    renderCodePage(req, res, 200);
  });

  router.post(
    "/login/code",
    formView(async (req, res, error) => {
      if (!req.session.pendingSignIn) return res.redirect(303, "/login");
      renderCodePage(req, res, error.status, fieldErrorsOf(error));
    }),
    validate({ body: CodeSchema }),
    async (req, res) => {
      const { body } = input<z.infer<typeof CodeSchema>>(res);
      const user = await pendingAccount(req);
      // docs/security.md T4: only the server's pending state leads here; a forged or stale post starts over.
      if (!user) return res.redirect(303, "/login");
      const pending = req.session.pendingSignIn!;
      const actor = { ...actorOf(req), id: user.id, username: user.username };
      const result = await checkSecondFactor(db, keys, actor, user, body.code);
      if (result === "ok") {
        // After a reset code, the code step leads to choosing a new password, not into the console (docs/security.md R7).
        if (pending.passwordReset) {
          await beginPasswordChange(req, user, pending.passwordReset);
          return res.redirect(303, "/login/new-password");
        }
        const returnTo = pending.returnTo;
        await establishSession(req, user);
        await completeSignIn(db, actor, user, `password+${user.twoFactorMethod}`);
        return res.redirect(303, returnTo);
      }
      if (result === "replay") mailOutbox.kick();
      pending.failures += 1;
      await recordSecondFactorFailure(db, actor, user, result, pending.failures);
      if (result === "throttled") return startOver(req, res, SECOND_FACTOR_MESSAGES.throttled, 429);
      if (pending.failures >= CODES_PER_PENDING_SIGN_IN)
        return startOver(req, res, "Too many wrong codes. Sign in again with your username and password.");
      res.locals.pendingAddress = user.email ? maskAddress(user.email) : null;
      renderCodePage(req, res, 422, { code: SECOND_FACTOR_MESSAGES[result] });
    },
  );

  router.post("/login/code/resend", validate({ body: EmptySchema }), async (req, res) => {
    const user = await pendingAccount(req);
    if (!user) return res.redirect(303, "/login");
    if (user.twoFactorMethod !== "email") return res.redirect(303, "/login/code");
    req.session.pendingSignIn!.deliveryProblem = (await mailSignInCode(req, user)) ?? null;
    if (!req.session.pendingSignIn!.deliveryProblem) flash(req, "success", "A new code was sent.");
    res.redirect(303, "/login/code");
  });

  router.post("/login/cancel", validate({ body: EmptySchema }), (req, res) => {
    delete req.session.pendingSignIn;
    delete req.session.pendingPasswordChange;
    res.redirect(303, "/login");
  });

  return { router, beginSecondFactor };
}
