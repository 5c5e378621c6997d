import type { Db, Queryable } from "../db/index.ts";
import { ConflictError, NotFoundError, ValidationError } from "../errors.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import { emailChangeNoticeMessage, verificationCodeMessage } from "../mail/messages.ts";
import { assertCan as assertCanOnUsers, NO_SUCH_USER } from "../policies/users.ts";
import * as codes from "../repositories/email-codes.ts";
import * as outbox from "../repositories/outbox.ts";
import * as users from "../repositories/users/index.ts";
import type { Actor, User } from "../types/user.ts";
import { recordAudit } from "./audit.ts";
import { isUniqueViolation } from "./errors-map.ts";
import { assertMailConfigured, isMailConfigured } from "./mail-settings.ts";
import { CODE_MESSAGES, CODE_POLICY, checkEmailCode, issueCode, reserveCodeSend } from "./one-time-codes.ts";
import { verifyCurrentPassword } from "./passwords.ts";

/** docs/security.md §1.1: sensitive changes need the password again when the sign-in is older than this. */
export const REAUTH_AFTER_MS = 15 * 60_000;

export const EMAIL_TAKEN = "This email address is already used by another account (addresses are compared without regard to case).";

/** The address waiting for a code: a pending new one, or the account's own address while it is unverified. */
export function addressAwaitingCode(user: User): string | null {
  if (user.pendingEmail) return user.pendingEmail;
  if (user.email && !user.emailVerified) return user.email;
  return null;
}

/** What a page says about an address waiting for its code: whether a code can be sent, and whether one still works. */
export interface AwaitingConfirmation {
  address: string;
  mailConfigured: boolean;
  /** A code for this account was issued within its validity (10 minutes): "we sent a code" is true. */
  codeLive: boolean;
}

export async function awaitingConfirmation(db: Queryable, user: User): Promise<AwaitingConfirmation | null> {
  const address = addressAwaitingCode(user);
  if (!address) return null;
  const [mailConfigured, since] = await Promise.all([isMailConfigured(db), codes.secondsSinceLastCode(db, user.id, "verify_email")]);
  return { address, mailConfigured, codeLive: since !== null && since < CODE_POLICY.validSeconds };
}

export async function assertEmailFree(db: Queryable, email: string, exceptUserId: number | undefined, field = "email"): Promise<void> {
  if (await users.findEmailOwner(db, email, exceptUserId)) throw new ConflictError(EMAIL_TAKEN, { [field]: EMAIL_TAKEN });
}

/** Writes a confirmation code for `address` and its message, in the caller's transaction; returns the message id. */
export async function queueVerificationCode(trx: Queryable, keys: SecretKeys, user: User, address: string): Promise<number> {
  const code = await issueCode(trx, keys, { userId: user.id, purpose: "verify_email", address });
  return outbox.enqueue(trx, verificationCodeMessage(address, user.username, code));
}

export type OwnEmailChange =
  | { kind: "unchanged" }
  | { kind: "cancelled" }
  | { kind: "pending"; address: string; messageId: number };

/**
 * A new address chosen on one's own profile (docs/security.md E5): needs the password when the sign-in is older than
 * 15 minutes, stays pending until its code is entered, and the old (verified) address is told and stays in use.
 */
export async function requestOwnEmailChange(
  db: Db,
  keys: SecretKeys,
  actor: Actor & { id: number },
  input: { email: string | null; password: string; authAt: number; clientIp: string },
): Promise<OwnEmailChange> {
  const user = await users.findUserById(db, actor.id);
  if (!user) throw new NotFoundError();
  const current = user.pendingEmail ?? user.email;
  if (input.email === current) return { kind: "unchanged" };
  if (input.email === null)
    throw new ValidationError({ email: "To remove your email address, ask an administrator. Leave it as it is to keep it." });
  if (input.email === user.email) {
    await db.transaction(async (trx) => {
      await users.setPendingEmail(trx, user.id, null);
      await recordAudit(trx, actor, { action: "email.change_cancelled", target: { type: "user", id: user.id, label: user.username } });
    });
    return { kind: "cancelled" };
  }
  if (Date.now() - input.authAt > REAUTH_AFTER_MS) {
    if (!input.password)
      throw new ValidationError({ password: "Enter your password to change your email: you signed in more than 15 minutes ago." });
    if (!(await verifyCurrentPassword(db, user, input.password, keys)))
      throw new ValidationError({ password: "Password is not correct." });
  }
  await assertMailConfigured(db, "email");
  await assertEmailFree(db, input.email, user.id);
  const address = input.email;
  const messageId = await db.transaction(async (trx) => {
    await reserveCodeSend(trx, { userId: user.id, purpose: "verify_email", clientIp: input.clientIp, field: "email" });
    const after = await users.setPendingEmail(trx, user.id, address);
    if (!after) throw new NotFoundError();
    const id = await queueVerificationCode(trx, keys, after, address);
    if (user.email && user.emailVerified) await outbox.enqueue(trx, emailChangeNoticeMessage(user.email, user.username, address));
    await recordAudit(trx, actor, {
      action: "email.change_requested",
      target: { type: "user", id: user.id, label: user.username },
      details: { changes: { pendingEmail: { from: user.pendingEmail, to: address } } },
    });
    return id;
  });
  return { kind: "pending", address, messageId };
}

/** "Send a new code" for the address waiting for one; throttled (docs/security.md E4). */
export async function resendVerificationCode(db: Db, keys: SecretKeys, userId: number, clientIp: string, field: string): Promise<number> {
  const user = await users.findUserById(db, userId);
  if (!user) throw new NotFoundError();
  const address = addressAwaitingCode(user);
  if (!address) throw new ConflictError("This email address is already verified.", { [field]: "This email address is already verified." });
  await assertMailConfigured(db, field);
  return db.transaction(async (trx) => {
    await reserveCodeSend(trx, { userId, purpose: "verify_email", clientIp, field });
    return queueVerificationCode(trx, keys, user, address);
  });
}

/** What an administrator's "Send confirmation code" did. */
export type AdminCodeSend =
  | { kind: "queued"; user: User; address: string; messageId: number }
  | { kind: "mail-not-configured"; user: User }
  | { kind: "already-verified"; user: User };

/**
 * An administrator's "Send confirmation code" on a user's page, for an address saved unverified (docs/domain.md,
 * "Email and verification"). Throttled like every code (docs/security.md E4) and audited; without a mail server it
 * changes nothing and says so.
 */
export async function sendConfirmationCodeAsAdmin(
  db: Db,
  keys: SecretKeys,
  actor: Actor,
  userId: number,
  clientIp: string,
): Promise<AdminCodeSend> {
  assertCanOnUsers(actor, "send-confirmation-code", { id: userId });
  const user = await users.findUserById(db, userId);
  if (!user) throw new NotFoundError(NO_SUCH_USER);
  const address = addressAwaitingCode(user);
  if (!address) return { kind: "already-verified", user };
  if (!(await isMailConfigured(db))) return { kind: "mail-not-configured", user };
  const messageId = await db.transaction(async (trx) => {
    await reserveCodeSend(trx, { userId, purpose: "verify_email", clientIp, field: "confirmationCode" });
    const id = await queueVerificationCode(trx, keys, user, address);
    await recordAudit(trx, actor, {
      action: "email.code_sent",
      target: { type: "user", id: user.id, label: user.username },
      details: { to: address },
    });
    return id;
  });
  return { kind: "queued", user, address, messageId };
}

/**
 * The code from the message marks the address verified; a pending address becomes the account's email.
 * Wrong codes name the `field` they were typed into.
 */
export async function confirmEmailCode(
  db: Db,
  keys: SecretKeys,
  actor: Actor,
  userId: number,
  code: string,
  field = "confirmationCode",
): Promise<User> {
  const user = await users.findUserById(db, userId);
  if (!user) throw new NotFoundError();
  const address = addressAwaitingCode(user);
  if (!address) throw new ConflictError("This email address is already verified.", { [field]: "This email address is already verified." });
  let confirmed: User | undefined;
  const check = checkEmailCode(db, keys, { userId, purpose: "verify_email", address, code }, async (trx) => {
    confirmed = await users.confirmEmail(trx, userId, address);
    if (!confirmed) return;
    await recordAudit(trx, actor, {
      action: "email.verified",
      target: { type: "user", id: userId, label: user.username },
      details: { changes: { email: { from: user.email, to: address }, emailVerified: { from: user.emailVerified, to: true } } },
    });
  });
  // Another account took the address while this one waited for its code: the code is not used up.
  const result = await check.catch((error: unknown) => {
    if (isUniqueViolation(error)) throw new ConflictError(EMAIL_TAKEN, { [field]: EMAIL_TAKEN });
    throw error;
  });
  if (result !== "ok" || !confirmed) {
    const message = CODE_MESSAGES[result === "ok" ? "expired" : result];
    throw new ValidationError({ [field]: message }, message, result === "throttled" ? 429 : 422);
  }
  return confirmed;
}
