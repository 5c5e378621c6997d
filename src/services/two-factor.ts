import { randomInt } from "node:crypto";
import { assertCan as assertCanOnUser } from "../policies/users.ts";
import { generateSecret, generateURI, verify } from "otplib";
import QRCode from "qrcode";
import type { Db, Queryable } from "../db/index.ts";
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from "../errors.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import { hashCode, openSecret, sealSecret } from "../lib/secret-box.ts";
import { codeReplayMessage, signInCodeMessage, twoFactorChangedMessage } from "../mail/messages.ts";
import * as failures from "../repositories/login-failures.ts";
import * as outbox from "../repositories/outbox.ts";
import * as recovery from "../repositories/recovery-codes.ts";
import * as sessions from "../repositories/sessions.ts";
import * as users from "../repositories/users/index.ts";
import type { Actor, TwoFactorMethod, User } from "../types/user.ts";
import { recordAudit } from "./audit.ts";
import { assertMailConfigured } from "./mail-settings.ts";
import {
  CODE_FAILURE_POLICY,
  CODE_MESSAGES,
  type CodeCheck,
  checkEmailCode,
  issueCode,
  reserveCodeSend,
  SIX_DIGITS,
  throttleKey,
} from "./one-time-codes.ts";
import { verifyCurrentPassword } from "./passwords.ts";

/** RFC 6238 as docs/security.md §1.1 sets it: SHA-1, 6 digits, 30 s steps, one step either side, 20-byte secrets. */
const TOTP = { period: 30, digits: 6 as const, algorithm: "sha1" as const, toleranceSeconds: 30, secretBytes: 20 };
export const RECOVERY_CODE_COUNT = 10;
const RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789";
const RECOVERY_SHAPE = /^[a-z0-9]{5}-?[a-z0-9]{5}$/i;
const ISSUER = "Gatehouse";

export const METHOD_LABELS: Record<TwoFactorMethod, string> = { email: "Email code", totp: "Authenticator app" };

export type SecondFactorCheck = CodeCheck | "replay";

export const SECOND_FACTOR_MESSAGES: Record<Exclude<SecondFactorCheck, "ok">, string> = {
  ...CODE_MESSAGES,
  invalid: "Invalid code. Type the 6 digits your authenticator app or email shows, or one of your recovery codes.",
  replay: "That code was already used. Wait for the next code and enter it.",
};

function targetOf(user: User) {
  return { type: "user", id: user.id, label: user.username };
}

async function notify(trx: Queryable, user: User, change: string): Promise<number | undefined> {
  if (!user.email || !user.emailVerified) return undefined;
  return outbox.enqueue(trx, twoFactorChangedMessage(user.email, user.username, change));
}

// Recovery codes ------------------------------------------------------------------------------------------

function newRecoveryCode(): string {
  const chars = Array.from({ length: 10 }, () => RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)]);
  return `${chars.slice(0, 5).join("")}-${chars.slice(5).join("")}`;
}

function recoveryHash(keys: SecretKeys, code: string): string {
  return hashCode(keys.codes, `recovery:${code.replace("-", "").toLowerCase()}`);
}

async function replaceRecoveryCodes(trx: Queryable, keys: SecretKeys, userId: number): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  await recovery.replaceRecoveryCodes(trx, userId, codes.map((c) => recoveryHash(keys, c)));
  return codes;
}

// Authenticator enrolment ----------------------------------------------------------------------------------

export interface TotpEnrolment {
  /** The new secret, sealed: kept in the session until one code confirms it. */
  sealedSecret: string;
  secret: string;
  uri: string;
  qrDataUrl: string;
}

/** A fresh 20-byte secret for every attempt (docs/security.md T7); nothing is stored until a code confirms it. */
export async function startTotpEnrolment(keys: SecretKeys, user: User): Promise<TotpEnrolment> {
  const secret = generateSecret({ length: TOTP.secretBytes });
  return describeEnrolment(keys, user, sealSecret(keys.storage, secret));
}

/** Rebuilds the enrolment page (QR code and key) from the sealed secret kept in the session. */
export async function describeEnrolment(keys: SecretKeys, user: User, sealedSecret: string): Promise<TotpEnrolment> {
  const secret = openSecret(keys.storage, sealedSecret);
  const uri = generateURI({ issuer: ISSUER, label: user.username, secret, algorithm: TOTP.algorithm, digits: TOTP.digits, period: TOTP.period });
  const qrDataUrl = await QRCode.toDataURL(uri, { errorCorrectionLevel: "M", margin: 2, width: 220 });
  return { sealedSecret, secret, uri, qrDataUrl };
}

/**
 * Checks an authenticator code. otplib v13 resolves to an object (never `if (await verify())`), and throws typed
 * errors on malformed input: any of them is an invalid code, never a 500 (docs/security.md T5, T6).
 */
async function totpStep(secret: string, code: string): Promise<number | null> {
  if (!SIX_DIGITS.test(code)) return null;
  try {
    const result = await verify({
      secret,
      token: code,
      algorithm: TOTP.algorithm,
      digits: TOTP.digits,
      period: TOTP.period,
      epochTolerance: TOTP.toleranceSeconds,
    });
    return result.valid === true && "timeStep" in result ? result.timeStep : null;
  } catch {
    return null;
  }
}

const VERIFY_EMAIL_FIRST = "Verify your email address before turning on two-factor authentication.";

/**
 * Sets the method (the write itself refuses an address that is not verified), makes new recovery codes, audits
 * and tells the owner; returns the codes, shown once.
 */
async function turnOn(
  db: Db,
  keys: SecretKeys,
  actor: Actor,
  user: User,
  setting: { method: TwoFactorMethod; sealedSecret: string | null; step: number | null; change: string },
): Promise<string[]> {
  return db.transaction(async (trx) => {
    const after = await users.enableTwoFactor(trx, user.id, setting.method, setting.sealedSecret, setting.step);
    if (!after) throw new ConflictError(VERIFY_EMAIL_FIRST);
    const codes = await replaceRecoveryCodes(trx, keys, user.id);
    await recordAudit(trx, actor, { action: "two_factor.enabled", target: targetOf(user), details: { method: setting.method } });
    await notify(trx, after, setting.change);
    return codes;
  });
}

/** Turns the authenticator on once one code from the new secret is right; returns the recovery codes, shown once. */
export async function confirmTotpEnrolment(
  db: Db,
  keys: SecretKeys,
  actor: Actor & { id: number },
  sealedSecret: string,
  code: string,
): Promise<string[]> {
  const user = await users.findUserById(db, actor.id);
  if (!user) throw new NotFoundError();
  if (!user.emailVerified) throw new ConflictError(VERIFY_EMAIL_FIRST);
  const key = throttleKey(user.id, "sign_in");
  if (!(await failures.reserveAttempt(db, "second_factor", key, CODE_FAILURE_POLICY)))
    throw new ValidationError({ code: CODE_MESSAGES.throttled }, CODE_MESSAGES.throttled, 429);
  const step = await totpStep(openSecret(keys.storage, sealedSecret), code);
  if (step === null) throw new ValidationError({ code: "Invalid code. Type the 6 digits your authenticator app shows now." });
  await failures.releaseAttempt(db, "second_factor", key);
  return turnOn(db, keys, actor, user, { method: "totp", sealedSecret, step, change: "turned on (authenticator app)" });
}

/** TrueCommand's method: codes by email, which needs a verified address (and a mail server to send them). */
export async function enableEmailTwoFactor(db: Db, keys: SecretKeys, actor: Actor & { id: number }): Promise<string[]> {
  const user = await users.findUserById(db, actor.id);
  if (!user) throw new NotFoundError();
  await assertMailConfigured(db, "method");
  return turnOn(db, keys, actor, user, { method: "email", sealedSecret: null, step: null, change: "turned on (email code)" });
}

// The code step of sign-in ----------------------------------------------------------------------------------

/** Emails a sign-in code to the account's verified address; returns the outbox message to send now. */
export async function sendSignInCode(db: Db, keys: SecretKeys, user: User, clientIp: string): Promise<number> {
  if (!user.email) throw new ConflictError("This account has no email address for codes.");
  const address = user.email;
  return db.transaction(async (trx) => {
    await reserveCodeSend(trx, { userId: user.id, purpose: "sign_in", clientIp, field: "code" });
    const code = await issueCode(trx, keys, { userId: user.id, purpose: "sign_in", address });
    return outbox.enqueue(trx, signInCodeMessage(address, user.username, code));
  });
}

/**
 * The second step of sign-in: a code from the account's method, or a recovery code. Every wrong try counts
 * against the account (≤10 per 15 minutes, not reset by signing in again); a replayed authenticator code is
 * refused, audited and reported to the account's owner (docs/security.md T1).
 */
export async function checkSecondFactor(db: Db, keys: SecretKeys, actor: Actor, user: User, rawCode: string): Promise<SecondFactorCheck> {
  const code = rawCode;
  const key = throttleKey(user.id, "sign_in");
  if (RECOVERY_SHAPE.test(code)) {
    if (!(await failures.reserveAttempt(db, "second_factor", key, CODE_FAILURE_POLICY))) return "throttled";
    const used = await db.transaction(async (trx) => {
      if (!(await recovery.useRecoveryCode(trx, user.id, recoveryHash(keys, code)))) return false;
      const left = await recovery.countUnusedRecoveryCodes(trx, user.id);
      await recordAudit(trx, actor, { action: "two_factor.recovery_code_used", target: targetOf(user), details: { remaining: left } });
      return true;
    });
    if (!used) return "invalid";
    await failures.releaseAttempt(db, "second_factor", key);
    return "ok";
  }
  if (user.twoFactorMethod === "email") {
    if (!user.email) return "expired";
    return checkEmailCode(db, keys, { userId: user.id, purpose: "sign_in", address: user.email, code });
  }
  if (!(await failures.reserveAttempt(db, "second_factor", key, CODE_FAILURE_POLICY))) return "throttled";
  const sealed = await users.findTotpSecret(db, user.id);
  const step = sealed ? await totpStep(openSecret(keys.storage, sealed), code) : null;
  if (step === null) return "invalid";
  if (!(await users.acceptTotpStep(db, user.id, step))) {
    await db.transaction(async (trx) => {
      await recordAudit(trx, actor, { action: "two_factor.code_replayed", target: targetOf(user) });
      if (user.email && user.emailVerified) await outbox.enqueue(trx, codeReplayMessage(user.email, user.username));
    });
    return "replay";
  }
  await failures.releaseAttempt(db, "second_factor", key);
  return "ok";
}

/** The code step passed: the sign-in is complete. */
export async function recordSecondFactorFailure(db: Db, actor: Actor, user: User, reason: SecondFactorCheck, attempt: number): Promise<void> {
  await recordAudit(db, actor, { action: "sign_in.second_factor_failed", target: targetOf(user), details: { reason, attempt } });
}

// Turning it off, new recovery codes --------------------------------------------------------------------------

/**
 * docs/security.md T8: the password, and for an authenticator the current code (or a recovery code) too.
 * Throws a ValidationError naming the field that was wrong.
 */
async function reauthenticate(db: Db, keys: SecretKeys, actor: Actor, user: User, input: { password: string; code: string }): Promise<void> {
  if (!(await verifyCurrentPassword(db, user, input.password, keys)))
    throw new ValidationError({ currentPassword: "Current password is not correct." });
  if (user.twoFactorMethod !== "totp") return;
  const result = await checkSecondFactor(db, keys, actor, user, input.code);
  if (result !== "ok") throw new ValidationError({ code: SECOND_FACTOR_MESSAGES[result] }, SECOND_FACTOR_MESSAGES[result], result === "throttled" ? 429 : 422);
}

/** Turns one's own 2FA off; with `endOtherSessions`, every other session of the account ends too. */
export async function disableOwnTwoFactor(
  db: Db,
  keys: SecretKeys,
  actor: Actor & { id: number },
  input: { password: string; code: string; endOtherSessions: boolean; currentSid: string },
): Promise<{ notice: number | undefined; user: User }> {
  const user = await users.findUserById(db, actor.id);
  if (!user) throw new NotFoundError();
  if (!user.twoFactorMethod) throw new ConflictError("Two-factor authentication is already off.");
  await reauthenticate(db, keys, actor, user, input);
  return db.transaction(async (trx) => {
    // Ending the others also moves the session version on: a request of theirs still in flight cannot write a
    // deleted session back into use.
    const after = await users.disableTwoFactor(trx, user.id, { bumpSessionVersion: input.endOtherSessions });
    if (!after) throw new NotFoundError();
    await recovery.deleteRecoveryCodes(trx, user.id);
    const ended = input.endOtherSessions ? await sessions.deleteUserSessions(trx, user.id, { exceptSid: input.currentSid }) : 0;
    await recordAudit(trx, actor, {
      action: "two_factor.disabled",
      target: targetOf(user),
      details: { method: user.twoFactorMethod, otherSessionsEnded: ended },
    });
    return { notice: await notify(trx, after, "turned off by you"), user: after };
  });
}

export async function regenerateRecoveryCodes(
  db: Db,
  keys: SecretKeys,
  actor: Actor & { id: number },
  input: { password: string; code: string },
): Promise<string[]> {
  const user = await users.findUserById(db, actor.id);
  if (!user) throw new NotFoundError();
  if (!user.twoFactorMethod) throw new ConflictError("Turn on two-factor authentication first.");
  await reauthenticate(db, keys, actor, user, input);
  return db.transaction(async (trx) => {
    const codes = await replaceRecoveryCodes(trx, keys, user.id);
    await recordAudit(trx, actor, { action: "two_factor.recovery_codes_regenerated", target: targetOf(user) });
    await notify(trx, user, "new recovery codes were made; the old ones no longer work");
    return codes;
  });
}

/** An administrator turns 2FA off for a locked-out user: audited, and every session of that user ends. */
export async function adminDisableTwoFactor(db: Db, actor: Actor, userId: number): Promise<User> {
  assertCanOnUser(actor, "reset-credentials", { id: userId });
  return db.transaction(async (trx) => {
    const before = await users.findUserById(trx, userId);
    if (!before) throw new NotFoundError();
    if (actor.id === userId) throw new ForbiddenError("Turn off your own two-factor authentication on your Profile.");
    if (!before.twoFactorMethod) throw new ConflictError("Two-factor authentication is already off for this user.");
    const after = await users.disableTwoFactor(trx, userId, { bumpSessionVersion: true });
    if (!after) throw new NotFoundError();
    await recovery.deleteRecoveryCodes(trx, userId);
    await sessions.deleteUserSessions(trx, userId);
    await recordAudit(trx, actor, {
      action: "two_factor.disabled_by_admin",
      target: targetOf(before),
      details: { changes: { twoFactorMethod: { from: before.twoFactorMethod, to: null } } },
    });
    await notify(trx, after, `turned off by the administrator ${actor.username ?? ""}`.trim());
    return after;
  });
}

export async function unusedRecoveryCodeCount(db: Queryable, userId: number): Promise<number> {
  return recovery.countUnusedRecoveryCodes(db, userId);
}
