import { randomInt } from "node:crypto";
import { assertCan as assertCanOnUser } from "../policies/users.ts";
import type { Db, Queryable } from "../db/index.ts";
import { ConflictError, ForbiddenError, NotFoundError, TooManyRequestsError, ValidationError } from "../errors.ts";
import { nameKey } from "../lib/fields.ts";
import { digestOfToken, newRandomToken, sameHash } from "../lib/secret-box.ts";
import { invitationMessage, passwordChangedMessage, passwordResetMessage } from "../mail/messages.ts";
import * as failures from "../repositories/login-failures.ts";
import * as outbox from "../repositories/outbox.ts";
import * as resets from "../repositories/password-resets.ts";
import * as sessions from "../repositories/sessions.ts";
import * as users from "../repositories/users/index.ts";
import type { Actor, PasswordChangeReason, User } from "../types/user.ts";
import { newPasswordHash, verifyPassword } from "./passwords.ts";
import { recordAudit, SECRET_MASK } from "./audit.ts";
import { revokeTokensWith } from "./api-tokens.ts";

/** docs/domain.md, "Passwords and reset": a reset code lasts 30 minutes, a temporary password 6 hours. */
export const RESET_CODE_VALID_SECONDS = 30 * 60;
export const TEMPORARY_PASSWORD_VALID_SECONDS = 6 * 3600;
/** docs/domain.md, "Importing users": the first code of an imported account lasts 72 hours, a weekend's worth. */
export const INVITATION_VALID_SECONDS = 72 * 3600;
/** Forgot-password requests per client address and hour, matched or not (so the limit tells nothing). */
const REQUESTS_PER_ADDRESS = { windowSeconds: 3600, maxFailures: 10 } as const;
/** Reset mails per account: one a minute, five an hour (as for every emailed code). */
const MAILS_PER_ACCOUNT = { windowSeconds: 3600, maxFailures: 5 } as const;
const RESEND_SECONDS = 60;

/** The one answer to every forgot-password request (docs/security.md R1): it says nothing about what matched. */
export const FORGOT_PASSWORD_ANSWER =
  "If the username and email address belong to an account with that verified address, a reset code is on its way. It is valid for 30 minutes. Check your inbox, and your spam folder.";


const TEMPORARY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/** 16 characters from 32 unambiguous ones (80 bits), in groups of four: easy to read out and type. */
function newTemporaryPassword(): string {
  const chars = Array.from({ length: 16 }, () => TEMPORARY_ALPHABET[randomInt(TEMPORARY_ALPHABET.length)]);
  return [0, 4, 8, 12].map((i) => chars.slice(i, i + 4).join("")).join("-");
}

function userTarget(user: User) {
  return { type: "user", id: user.id, label: user.username } as const;
}

/** The link in the reset mail: the configured base URL (never the request's Host, docs/security.md R5) and the code in the fragment, which no server or log ever sees. */
export function resetLink(baseUrl: string, username: string, code: string): string {
  return `${baseUrl}/login#${new URLSearchParams({ reset: code, username }).toString()}`;
}

/**
 * Forgot password (docs/domain.md, "Passwords and reset"): when the username and the verified email address match a local account, a
 * reset code is mailed. The caller answers FORGOT_PASSWORD_ANSWER whatever happened; the outcome is audited.
 * Returns the outbox message to send, if any.
 */
export async function requestPasswordReset(
  db: Db,
  actor: Actor,
  input: { username: string; email: string; baseUrl: string },
): Promise<number | null> {
  const address = actor.clientIp ?? "unknown";
  if (!(await failures.reserveAttempt(db, "code_send_ip", `reset:${address}`, REQUESTS_PER_ADDRESS))) {
    const seconds = await failures.secondsLeftInWindow(db, "code_send_ip", `reset:${address}`, REQUESTS_PER_ADDRESS.windowSeconds);
    throw new TooManyRequestsError(seconds, "Too many password reset requests from your network. Try again later.");
  }
  const user = await users.findUserByUsername(db, input.username);
  const matches =
    user !== undefined &&
    user.authSource === "local" &&
    !user.disabled &&
    user.emailVerified &&
    user.email !== null &&
    user.email.toLowerCase() === input.email.toLowerCase();
  const audit = (outcome: string) =>
    recordAudit(db, user ? { ...actor, username: input.username } : actor, {
      action: "password.reset_requested",
      target: user ? userTarget(user) : undefined,
      details: { outcome },
    });
  if (!matches || !user?.email) {
    await audit(user?.authSource === "ldap" ? "ldap_account" : "no_match");
    return null;
  }
  const since = await resets.secondsSinceLastEmailedReset(db, user.id);
  if (since !== null && since < RESEND_SECONDS) {
    await audit("too_soon");
    return null;
  }
  if (!(await failures.reserveAttempt(db, "code_send_account", `reset:${user.id}`, MAILS_PER_ACCOUNT))) {
    await audit("hourly_limit");
    return null;
  }
  const to = user.email;
  const code = newRandomToken();
  return db.transaction(async (trx) => {
    await resets.replaceReset(trx, user.id, "emailed_code", digestOfToken(code), RESET_CODE_VALID_SECONDS);
    const messageId = await outbox.enqueue(
      trx,
      passwordResetMessage(to, user.username, code, resetLink(input.baseUrl, user.username, code), RESET_CODE_VALID_SECONDS / 60),
    );
    await recordAudit(trx, { ...actor, username: input.username }, { action: "password.reset_requested", target: userTarget(user), details: { outcome: "mailed" } });
    return messageId;
  });
}

/**
 * Invitations of new accounts that have no password (an import): each gets an emailed reset code valid 72 hours,
 * written with its message in the caller's transaction. Signing in with the code leads to choosing a password, as
 * after Forgot password. Returns the outbox messages to send after commit.
 */
export async function queueInvitations(trx: Queryable, accounts: readonly { id: number; username: string; email: string }[], baseUrl: string): Promise<number[]> {
  const codes = accounts.map(() => newRandomToken());
  await resets.insertResets(
    trx,
    accounts.map((account, i) => ({ userId: account.id, kind: "emailed_code" as const, tokenHash: digestOfToken(codes[i] as string) })),
    INVITATION_VALID_SECONDS,
  );
  return outbox.enqueueAll(
    trx,
    accounts.map((account, i) => {
      const code = codes[i] as string;
      return invitationMessage(account.email, account.username, code, resetLink(baseUrl, account.username, code), INVITATION_VALID_SECONDS / 3600);
    }),
  );
}

/**
 * Break-glass (docs/domain.md, "Passwords and reset"): a temporary password, valid 6 hours and changed at its first use; the account's
 * sign-in lock is lifted. Never for an LDAP account, whose password lives in the directory.
 */
export async function issueTemporaryPassword(db: Db, actor: Actor, userId: number): Promise<{ user: User; password: string }> {
  assertCanOnUser(actor, "reset-credentials", { id: userId });
  const user = await users.findUserById(db, userId);
  if (!user) throw new NotFoundError();
  if (user.authSource !== "local") throw new ConflictError(`${user.username} signs in through the directory (LDAP); change the password there.`);
  if (actor.id === userId) throw new ForbiddenError("Change your own password on your Profile.");
  const password = newTemporaryPassword();
  await db.transaction(async (trx) => {
    await resets.replaceReset(trx, user.id, "temporary_password", digestOfToken(password), TEMPORARY_PASSWORD_VALID_SECONDS);
    await failures.clearFailures(trx, "account", nameKey(user.username));
    await recordAudit(trx, actor, {
      action: "password.temporary_issued",
      target: userTarget(user),
      details: { validHours: TEMPORARY_PASSWORD_VALID_SECONDS / 3600, temporaryPassword: SECRET_MASK, lockCleared: true },
    });
  });
  return { user, password };
}

/**
 * At sign-in, after the account's own password did not match: the account's active reset code or temporary
 * password that `typed` is, if any. Not used up here: `useResetInSignIn` does that in the sign-in's transaction.
 */
export async function findResetAtSignIn(db: Queryable, user: User, typed: string): Promise<resets.PasswordReset | undefined> {
  if (user.authSource !== "local") return undefined;
  const reset = await resets.findActiveReset(db, user.id);
  if (!reset || !sameHash(digestOfToken(typed), reset.tokenHash)) return undefined;
  return reset;
}

/**
 * Uses up a reset found by `findResetAtSignIn` (single use, docs/security.md R3), in the transaction that records the
 * sign-in it opens: if that fails, the code stays usable; of two requests with the same code, the second waits for
 * the first and finds it used (false).
 */
export async function useResetInSignIn(trx: Queryable, reset: resets.PasswordReset): Promise<boolean> {
  return resets.useReset(trx, reset.id);
}

/**
 * The new password after a reset code, a temporary password or a password an administrator set (and the code step,
 * with 2FA), which must differ from that one. Every session of the
 * account ends and every other reset is void (docs/security.md R8); the person then signs in with the new password, so
 * 2FA applies again (R7). Returns the notice to send, if the account has a verified address.
 */
export async function completePasswordReset(db: Db, actor: Actor, input: { userId: number; kind: PasswordChangeReason; newPassword: string }): Promise<number | null> {
  const user = await users.findUserById(db, input.userId);
  if (!user || user.disabled) throw new NotFoundError();
  if (user.authSource !== "local") throw new ForbiddenError("This account's password is managed by the directory (LDAP).");
  const hash = await newPasswordHash(input.newPassword, user, "newPassword");
  // The administrator knows the password they set: keeping it would keep it theirs.
  const administratorsHash = input.kind === "set_by_administrator" ? await users.findPasswordHash(db, user.id) : null;
  if (administratorsHash && (await verifyPassword(administratorsHash, input.newPassword)))
    throw new ValidationError({ newPassword: "Choose a password of your own: this is the one an administrator set." });
  return db.transaction(async (trx) => {
    const after = await users.setPasswordHash(trx, user.id, hash, { bumpSessionVersion: true });
    if (!after) throw new NotFoundError();
    await sessions.deleteUserSessions(trx, user.id);
    await resets.deleteResets(trx, user.id);
    await failures.clearFailures(trx, "account", nameKey(user.username));
    await revokeTokensWith(trx, { ...actor, id: user.id, username: user.username }, user, "password reset");
    await recordAudit(trx, { ...actor, id: user.id, username: user.username }, {
      action: "password.reset_completed",
      target: userTarget(user),
      details: { with: input.kind, changes: { password: { from: SECRET_MASK, to: SECRET_MASK } } },
    });
    if (!user.email || !user.emailVerified) return null;
    const how = input.kind === "emailed_code" ? "with an emailed reset code" : "with a temporary password";
    return outbox.enqueue(trx, passwordChangedMessage(user.email, user.username, how));
  });
}
