import type { Db } from "../db/index.ts";
import { assertCan as assertCanOnUser } from "../policies/users.ts";
import { ServiceUnavailableError, TooManyRequestsError, } from "../errors.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import { nameKey } from "../lib/fields.ts";
import type { Logger } from "../lib/logger.ts";
import { signInWithDirectory } from "../ldap/sign-in.ts";
import * as failures from "../repositories/login-failures.ts";
import * as users from "../repositories/users/index.ts";
import type { Actor, User } from "../types/user.ts";
import { recordAudit } from "./audit.ts";
import type { PasswordChangeReason } from "../types/user.ts";
import { accountForDirectoryEntry } from "./directory-accounts.ts";
import { findResetAtSignIn, useResetInSignIn } from "./password-reset.ts";
import type { PasswordReset } from "../repositories/password-resets.ts";
import { directoryServers, recordDirectoryServerChanges } from "./ldap-settings.ts";
import { ACCOUNT_POLICY, accountWaits, DIRECTORY_UNAVAILABLE, hashPassword, needsRehash, verifyAgainstDummy, verifyPassword } from "./passwords.ts";
import { readLockoutThresholds } from "./general-settings.ts";

/** Per client address: 30 failed attempts per 15 minutes; successful sign-ins do not count. */
export const IP_POLICY = { windowSeconds: 15 * 60, maxFailures: 30 } as const;

/**
 * `passwordReset`: signed in with a reset code, a temporary password or a password an administrator set, so a new
 * password must be chosen first.
 */
export type SignInResult = { ok: true; user: User; passwordReset?: PasswordChangeReason } | { ok: false };

type FailureReason = "unknown_user" | "wrong_password" | "disabled" | "locked" | "not_local" | "no_password" | `directory_${string}`;


/** What sign-in needs to ask the directory: the keys that open bind passwords, and a log for operators. */
export interface DirectoryAccess {
  keys: SecretKeys;
  logger: Logger;
}

/**
 * Checks a local username and password. Every failure looks the same to the caller and takes about
 * one argon2 verification; the reason goes only to the audit trail.
 *
 * Each attempt is counted against its address and its account *before* the password is checked, each
 * count one atomic step that refuses while the limit is reached or a wait runs, so a burst of parallel
 * attempts cannot all slip past a check that none of them has counted yet. A success then takes its
 * counts back: it clears the account's failures and returns the address's slot. (The price: attempts still
 * in flight count, so a sixth simultaneous attempt at one account waits even if the password is right.)
 */
export async function signInWithPassword(
  db: Db,
  input: { username: string; password: string; clientIp: string; requestId: string | null },
  directory?: DirectoryAccess,
): Promise<SignInResult> {
  const ipSlot = await failures.reserveAttempt(db, "ip", input.clientIp, IP_POLICY);
  if (!ipSlot) {
    const seconds = await failures.secondsLeftInWindow(db, "ip", input.clientIp, IP_POLICY.windowSeconds);
    const minutes = Math.ceil(seconds / 60);
    throw new TooManyRequestsError(
      seconds,
      `Too many failed sign-ins from your network. Try again in ${minutes === 1 ? "a minute" : `${minutes} minutes`}.`,
    );
  }

  const accountKey = nameKey(input.username);
  // Refused while a wait runs: such an attempt does not extend the real owner's wait, but it still counted
  // against the address above, or hammering a locked account would be unlimited argon2 work.
  const accountSlot = await db.transaction(async (trx) =>
    failures.reserveAttempt(trx, "account", accountKey, {
      windowSeconds: ACCOUNT_POLICY.windowSeconds,
      blockSecondsByCount: accountWaits(await readLockoutThresholds(trx)),
    }),
  );
  const actor: Actor = { id: null, username: input.username, clientIp: input.clientIp, requestId: input.requestId };

  const fail = async (reason: FailureReason, user?: User, lookalike?: User): Promise<SignInResult> => {
    await recordAudit(db, user ? { ...actor, id: user.id, username: user.username } : actor, {
      action: "sign_in.failed",
      target: user ? { type: "user", id: user.id, label: user.username } : undefined,
      details: { reason, ...(lookalike ? { lookalike: { id: lookalike.id, username: lookalike.username } } : {}) },
    });
    return { ok: false };
  };

  /** `reset`: the reset code or temporary password signed in with, used up in this transaction; `{ ok: false }` when another request used it first. */
  const success = async (user: User, method: string, rehash?: { from: string; to: string }, passwordReset?: PasswordChangeReason, reset?: PasswordReset): Promise<SignInResult> => {
    const used = await db.transaction(async (trx) => {
      if (reset && !(await useResetInSignIn(trx, reset))) return false;
      await failures.clearFailures(trx, "account", accountKey);
      await failures.releaseAttempt(trx, "ip", input.clientIp);
      // With 2FA the sign-in is complete only after the code step (completeSignIn, below);
      // with a reset code or temporary password, not before a new password is chosen (and then not at all).
      const complete = !user.twoFactorMethod && !passwordReset;
      if (complete) await users.recordLogin(trx, user.id);
      if (rehash) await users.replacePasswordHash(trx, user.id, rehash.from, rehash.to);
      await recordAudit(trx, { ...actor, id: user.id, username: user.username }, {
        action: complete ? "sign_in.succeeded" : passwordReset ? "sign_in.reset_accepted" : "sign_in.password_accepted",
        target: { type: "user", id: user.id, label: user.username },
        details: { method, ...(rehash ? { rehashed: true } : {}) },
      });
      return true;
    });
    if (!used) return { ok: false };
    return passwordReset ? { ok: true, user, passwordReset } : { ok: true, user };
  };

  /**
   * For what follows a right password (provisioning the account, recording the sign-in): when that fails, on the
   * database most likely, the attempt was no failure, so neither the account nor the address is charged for it.
   */
  const afterRightPassword = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      await failures.releaseAttempt(db, "account", accountKey).catch(() => undefined);
      await failures.releaseAttempt(db, "ip", input.clientIp).catch(() => undefined);
      throw error;
    }
  };

  const credentials = await users.findCredentialsByUsername(db, input.username);
  if (!accountSlot) {
    // A reset code or temporary password (256 or 80 random bits, nothing to guess) still opens a locked account,
    // so that a lock someone provoked on purpose cannot also block its owner's way back in by email.
    const reset = credentials && !credentials.user.disabled ? await findResetAtSignIn(db, credentials.user, input.password) : undefined;
    if (credentials && reset) {
      const result = await success(credentials.user, reset.kind, undefined, reset.kind, reset);
      if (result.ok) return result;
    }
    // The audit trail names the account, so its page and the log show who is being locked out.
    await verifyAgainstDummy(input.password);
    return fail("locked", credentials?.user);
  }

  // A local account is only ever checked against its own password: never against the directory (docs/security.md L11).
  if (credentials?.user.authSource !== "local") {
    const servers = directory ? await directoryServers(db, directory.keys) : [];
    if (servers.length === 0) {
      await verifyAgainstDummy(input.password);
      return credentials ? fail("not_local", credentials.user) : fail("unknown_user");
    }
    const answer = await signInWithDirectory(servers, input.username, input.password);
    await recordDirectoryServerChanges(db, answer.changes);
    if (answer.status === "unavailable") {
      // Not a wrong password: neither the account nor the address is charged for the directory's outage.
      await failures.releaseAttempt(db, "account", accountKey);
      await failures.releaseAttempt(db, "ip", input.clientIp);
      directory?.logger.warn({ problems: answer.problems }, "LDAP: no directory server answered a sign-in");
      await recordAudit(db, credentials ? { ...actor, id: credentials.user.id } : actor, {
        action: "sign_in.directory_unavailable",
        target: credentials ? { type: "user", id: credentials.user.id, label: credentials.user.username } : undefined,
        details: { problems: answer.problems.map((p) => `server ${p.serverId}: ${p.reason}`) },
      });
      throw new ServiceUnavailableError(DIRECTORY_UNAVAILABLE);
    }
    if (answer.status === "rejected") {
      const reason = answer.reasons.find((r) => r.reason !== "no_such_user")?.reason ?? "no_such_user";
      if (reason === "ambiguous") directory?.logger.warn({ username: input.username }, "LDAP: more than one directory entry matches a sign-in name");
      return fail(`directory_${reason}`, credentials?.user);
    }
    const account = await afterRightPassword(() => accountForDirectoryEntry(db, actor, answer.entry));
    // The person sees the one generic message; a look-alike is named in the trail, for administrators only.
    if (!account.ok) return fail(`directory_${account.reason}`, account.user ?? credentials?.user, account.lookalike);
    return afterRightPassword(() => success(account.user, "ldap"));
  }

  const { user, passwordHash, mustChangePassword } = credentials;
  if (!passwordHash) {
    await verifyAgainstDummy(input.password);
    // An imported account has no password yet (docs/domain.md, "Importing users"): only its emailed invitation code or
    // a temporary password opens it, leading straight to choosing one.
    const reset = user.authSource === "local" && !user.disabled ? await findResetAtSignIn(db, user, input.password) : undefined;
    const result = reset ? await afterRightPassword(() => success(user, reset.kind, undefined, reset.kind, reset)) : undefined;
    return result?.ok ? result : fail(user.authSource === "local" ? "no_password" : "not_local", user);
  }
  const valid = await verifyPassword(passwordHash, input.password);
  if (!valid) {
    // An emailed reset code or a temporary password, typed as the password (TrueCommand's flow), used up with the sign-in it opens.
    const reset = user.disabled ? undefined : await findResetAtSignIn(db, user, input.password);
    const result = reset ? await afterRightPassword(() => success(user, reset.kind, undefined, reset.kind, reset)) : undefined;
    return result?.ok ? result : fail("wrong_password", user);
  }
  if (user.disabled) return fail("disabled", user);

  const rehashed = needsRehash(passwordHash) ? await hashPassword(input.password) : undefined;
  // A password an administrator set for this account works once more, to choose one's own (docs/domain.md, "Passwords and reset").
  const reason = mustChangePassword ? "set_by_administrator" : undefined;
  return afterRightPassword(() => success(user, reason ?? "password", rehashed ? { from: passwordHash, to: rehashed } : undefined, reason));
}

/**
 * A sign-in that finished outside the password step: after the second factor (`method` "password+totp"), or the
 * administrator /setup has just created. Recorded once the session exists.
 */
export async function completeSignIn(db: Db, actor: Actor, user: User, method: string): Promise<void> {
  await db.transaction(async (trx) => {
    await users.recordLogin(trx, user.id);
    await recordAudit(trx, { ...actor, id: user.id, username: user.username }, {
      action: "sign_in.succeeded",
      target: { type: "user", id: user.id, label: user.username },
      details: { method },
    });
  });
}

export async function recordSignOut(db: Db, actor: Actor & { id: number }): Promise<void> {
  await recordAudit(db, actor, { action: "sign_out", target: { type: "user", id: actor.id, label: actor.username ?? "" } });
}

/** An administrator lifts a sign-in lock early. */
export async function unlockAccount(db: Db, actor: Actor, user: User): Promise<void> {
  assertCanOnUser(actor, "update", user);
  await db.transaction(async (trx) => {
    await failures.clearFailures(trx, "account", nameKey(user.username));
    await recordAudit(trx, actor, { action: "user.unlocked", target: { type: "user", id: user.id, label: user.username } });
  });
}

export async function isAccountLocked(db: Db, user: User): Promise<Date | null> {
  const counter = await failures.readFailureCounter(db, "account", nameKey(user.username), ACCOUNT_POLICY.windowSeconds);
  return counter.blockedUntil && counter.blockedUntil > new Date() ? counter.blockedUntil : null;
}
