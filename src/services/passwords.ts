import { availableParallelism } from "node:os";
import argon2 from "argon2";
import { Semaphore } from "../lib/semaphore.ts";
import type { Db } from "../db/index.ts";
import { ServiceUnavailableError, ValidationError } from "../errors.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import { nameKey } from "../lib/fields.ts";
import { signInWithDirectory } from "../ldap/sign-in.ts";
import * as failures from "../repositories/login-failures.ts";
import * as users from "../repositories/users/index.ts";
import type { User } from "../types/user.ts";
import { DEFAULT_LOCKOUT, type LockoutThresholds, readLockoutThresholds } from "./general-settings.ts";
import { directoryServers, recordDirectoryServerChanges } from "./ldap-settings.ts";
import { passwordProblem } from "./password-policy.ts";

/** OWASP's argon2id floor (docs/domain.md, "Passwords and reset"). Changing these makes sign-in rehash stored passwords. */
export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

// One hash per core at a time: more only wait for a core while holding 19 MiB each, and every libuv thread that
// ever hashed keeps its memory arena (measured: 4 at once on 2 cores cost about 80 MB of resident memory for good).
const hashing = new Semaphore(Math.max(1, Math.min(4, availableParallelism())));

export function hashPassword(password: string): Promise<string> {
  return hashing.run(() => argon2.hash(password.normalize("NFKC"), ARGON2_OPTIONS));
}

/** False for a wrong password and for a hash that cannot be parsed; never throws for either. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await hashing.run(() => argon2.verify(hash, password.normalize("NFKC")));
  } catch {
    return false;
  }
}

export function needsRehash(hash: string): boolean {
  try {
    return argon2.needsRehash(hash, ARGON2_OPTIONS);
  } catch {
    return true;
  }
}

let dummyHash: Promise<string> | undefined;

/** Spends the time of one real verification so an unknown username answers as slowly as a wrong password. */
export async function verifyAgainstDummy(password: string): Promise<void> {
  dummyHash ??= hashPassword("gatehouse-dummy-password-for-timing");
  await verifyPassword(await dummyHash, password);
}

export async function newPasswordHash(password: string, context: { username: string; email: string | null }, field: string) {
  const problem = passwordProblem(password, context);
  if (problem) throw new ValidationError({ [field]: problem });
  return hashPassword(password);
}

/**
 * docs/domain.md, "Sessions and throttling" / docs/security.md §1.1: per-account growing waits from 5 failures, a temporary lock at 20. These two
 * are the defaults; General settings can change them (accountWaits takes the thresholds in force).
 */
export const ACCOUNT_POLICY = {
  windowSeconds: 12 * 3600,
  delayFrom: DEFAULT_LOCKOUT.delayFrom,
  lockAt: DEFAULT_LOCKOUT.lockAt,
  lockSeconds: 3600,
  maxDelaySeconds: 15 * 60,
} as const;

/** The wait after `count` consecutive failures under `thresholds`: a minute more per failure from delayFrom, an hour's lock at lockAt. */
export function accountWaits(thresholds: LockoutThresholds): (count: number) => number {
  return (count) => {
    if (count >= thresholds.lockAt) return ACCOUNT_POLICY.lockSeconds;
    if (count < thresholds.delayFrom) return 0;
    return Math.min((count - thresholds.delayFrom + 1) * 60, ACCOUNT_POLICY.maxDelaySeconds);
  };
}

/** The wait under the default thresholds. */
export function accountWaitSeconds(count: number): number {
  return accountWaits(ACCOUNT_POLICY)(count);
}

export const DIRECTORY_UNAVAILABLE =
  "The directory (LDAP) is not answering, so directory accounts cannot sign in right now. Try again in a few minutes; accounts with a local password can still sign in.";

/**
 * Checks the password of an account that is already signed in (to change it, say), under the same per-account
 * throttle as sign-in: a stolen session cannot guess the password at argon2 speed.
 */
export async function verifyCurrentPassword(db: Db, user: User, password: string, keys?: SecretKeys): Promise<boolean> {
  const accountKey = nameKey(user.username);
  const slot = await db.transaction(async (trx) =>
    failures.reserveAttempt(trx, "account", accountKey, {
      windowSeconds: ACCOUNT_POLICY.windowSeconds,
      blockSecondsByCount: accountWaits(await readLockoutThresholds(trx)),
    }),
  );
  if (!slot) {
    const counter = await failures.readFailureCounter(db, "account", accountKey, ACCOUNT_POLICY.windowSeconds);
    const minutes = Math.max(1, Math.ceil(((counter.blockedUntil?.getTime() ?? Date.now()) - Date.now()) / 60_000));
    throw new ValidationError(
      { currentPassword: `Too many wrong passwords. Try again in ${minutes === 1 ? "a minute" : `${minutes} minutes`}.` },
      "Too many wrong passwords.",
      429,
    );
  }
  let valid: boolean;
  if (user.authSource === "ldap") {
    // An LDAP account re-authenticates with its directory password, and only as its own directory entry.
    const servers = keys && password ? await directoryServers(db, keys) : [];
    const answer = servers.length > 0 ? await signInWithDirectory(servers, user.username, password) : undefined;
    if (answer) await recordDirectoryServerChanges(db, answer.changes);
    if (answer?.status === "unavailable") {
      await failures.releaseAttempt(db, "account", accountKey);
      throw new ServiceUnavailableError(DIRECTORY_UNAVAILABLE);
    }
    valid = answer?.status === "ok" && answer.entry.externalId === (await users.findExternalId(db, user.id));
  } else {
    const hash = await users.findPasswordHash(db, user.id);
    valid = hash !== null && (await verifyPassword(hash, password));
  }
  if (valid) await failures.clearFailures(db, "account", accountKey);
  return valid;
}
