import { randomInt } from "node:crypto";
import type { Db, Queryable } from "../db/index.ts";
import { ValidationError } from "../errors.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import { hashCode, sameHash } from "../lib/secret-box.ts";
import * as codes from "../repositories/email-codes.ts";
import * as failures from "../repositories/login-failures.ts";

/** docs/security.md §1.1: 6 digits, 10 minutes, single use, dead after 5 wrong tries, resends ≥60 s apart and ≤5 an hour. */
export const CODE_POLICY = {
  validSeconds: 10 * 60,
  failuresPerCode: 5,
  resendSeconds: 60,
  sendsPerHour: 5,
} as const;

/** Per account, across codes, pending sign-ins and methods: a new code or a new sign-in does not reset it. */
export const CODE_FAILURE_POLICY = { windowSeconds: 15 * 60, maxFailures: 10 } as const;

export const SIX_DIGITS = /^[0-9]{6}$/;

export type CodeCheck = "ok" | "none" | "invalid" | "expired" | "dead" | "throttled";

export const CODE_MESSAGES: Record<Exclude<CodeCheck, "ok">, string> = {
  none: "No code is waiting for this address. Ask for a code first, then enter the 6 digits from the mail.",
  invalid: "Invalid code. Check the newest message and type its 6 digits.",
  expired: "Code expired or already used. Request a new code.",
  dead: "This code stopped working after 5 wrong tries. Request a new code.",
  throttled: "Too many wrong codes for this account. Wait 15 minutes, then try again.",
};

export function newSixDigitCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, "0");
}

function minutesText(seconds: number): string {
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  return minutes === 1 ? "a minute" : `${minutes} minutes`;
}

/**
 * docs/security.md E4: at most one code a minute per account, and five an hour per account and per client address.
 * (The minute rule is not applied per address: colleagues behind one office address would refuse each other.)
 * Refuses with a calm message against `field` (status 429); counts the send when it is allowed.
 * Runs in the transaction that then issues the code (`issueCode`): the account stays locked until it commits, so
 * parallel requests are judged one after another, each seeing the code the one before wrote.
 */
export async function reserveCodeSend(
  db: Queryable,
  input: { userId: number; purpose: codes.CodePurpose; clientIp: string; field: string },
): Promise<void> {
  await codes.lockAccountForCodeSend(db, input.userId);
  const since = await codes.secondsSinceLastCode(db, input.userId, input.purpose);
  if (since !== null && since < CODE_POLICY.resendSeconds) {
    const wait = Math.ceil(CODE_POLICY.resendSeconds - since);
    const message = `A code was sent less than a minute ago; check your inbox. You can ask for another in ${wait} seconds.`;
    throw new ValidationError({ [input.field]: message }, message, 429);
  }
  const policy = { windowSeconds: 3600, maxFailures: CODE_POLICY.sendsPerHour };
  const refuse = async (scope: failures.FailureScope, key: string) => {
    const seconds = await failures.secondsLeftInWindow(db, scope, key, policy.windowSeconds);
    const message = `Five codes were sent in the last hour, which is the limit. Use the newest one, or ask again in ${minutesText(seconds)}.`;
    return new ValidationError({ [input.field]: message }, message, 429);
  };
  if (!(await failures.reserveAttempt(db, "code_send_account", String(input.userId), policy)))
    throw await refuse("code_send_account", String(input.userId));
  if (!(await failures.reserveAttempt(db, "code_send_ip", input.clientIp, policy))) {
    await failures.releaseAttempt(db, "code_send_account", String(input.userId));
    throw await refuse("code_send_ip", input.clientIp);
  }
}

/** Issues a new code (retiring older ones) inside the caller's transaction; the plain code goes only into the message. */
export async function issueCode(
  trx: Queryable,
  keys: SecretKeys,
  input: { userId: number; purpose: codes.CodePurpose; address: string },
): Promise<string> {
  const code = newSixDigitCode();
  await codes.insertCode(trx, { ...input, codeHash: hashCode(keys.codes, code), validSeconds: CODE_POLICY.validSeconds });
  return code;
}

export function throttleKey(userId: number, purpose: codes.CodePurpose): string {
  return purpose === "sign_in" ? String(userId) : `${purpose}:${userId}`;
}

/**
 * Checks an emailed code against the newest one of the account, purpose and address (docs/security.md E3: a code is
 * bound to all three). Wrong codes count against the code and against the account; a right one is used once.
 * `onSuccess` runs in the same transaction as the code's use.
 */
export async function checkEmailCode(
  db: Db,
  keys: SecretKeys,
  input: { userId: number; purpose: codes.CodePurpose; address: string; code: string },
  onSuccess: (trx: Queryable) => Promise<void> = async () => {},
): Promise<CodeCheck> {
  const key = throttleKey(input.userId, input.purpose);
  if (!(await failures.reserveAttempt(db, "second_factor", key, CODE_FAILURE_POLICY))) return "throttled";
  const result = await db.transaction(async (trx): Promise<CodeCheck> => {
    const newest = await codes.lockNewestCode(trx, input.userId, input.purpose);
    if (!newest) return "none";
    if (newest.address !== input.address) return "expired";
    if (newest.failedAttempts >= CODE_POLICY.failuresPerCode) return "dead";
    if (newest.consumedAt || newest.expiresAt <= new Date()) return "expired";
    if (!SIX_DIGITS.test(input.code) || !sameHash(newest.codeHash, hashCode(keys.codes, input.code))) {
      const failed = await codes.countFailure(trx, newest.id);
      return failed >= CODE_POLICY.failuresPerCode ? "dead" : "invalid";
    }
    if (!(await codes.consumeCode(trx, newest.id))) return "expired";
    await onSuccess(trx);
    return "ok";
  });
  if (result === "ok" || result === "none" || result === "expired") await failures.releaseAttempt(db, "second_factor", key);
  return result;
}
