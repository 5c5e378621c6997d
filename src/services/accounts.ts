import type { Db, Queryable } from "../db/index.ts";
import { ConflictError, ForbiddenError, NotFoundError, StaleWriteError, ValidationError } from "../errors.ts";
import * as sessions from "../repositories/sessions.ts";
import { assertCan, listScope, NO_SUCH_USER } from "../policies/users.ts";
import * as users from "../repositories/users/index.ts";
import type { Actor, User, UserDetails } from "../types/user.ts";
import { revokeTokensWith } from "./api-tokens.ts";
import { diffFields, recordAudit, SECRET_MASK } from "./audit.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import { lookalikeCharacters } from "../lib/confusables.ts";
import { assertEmailFree, EMAIL_TAKEN, queueVerificationCode } from "./email-verification.ts";
import { isUniqueViolation } from "./errors-map.ts";
import { isMailConfigured } from "./mail-settings.ts";
import { newPasswordHash, verifyCurrentPassword } from "./passwords.ts";

const AUDITED_FIELDS = ["username", "fullName", "title", "email", "phone", "isAdmin", "authSource", "disabled"] as const;

/** An account the actor may read: any for an administrator, their own for anyone else; any other id is not found. */
export async function readUser(db: Queryable, actor: Actor, id: number): Promise<User> {
  assertCan(actor, "read", { id });
  const user = await users.findUserById(db, id);
  if (!user) throw new NotFoundError(NO_SUCH_USER);
  return user;
}

/**
 * One page of the accounts the actor may see, searched and sorted as the Users list does: every account for an
 * administrator; for anyone else a list holding only their own.
 */
export async function listUsersPage(db: Queryable, actor: Actor, query: users.UserPageQuery): Promise<{ users: User[]; total: number }> {
  if (listScope(actor) === "everyone") return users.listUsers(db, query);
  const self = actor.id === null ? undefined : await users.findUserById(db, actor.id);
  return { users: self && query.offset === 0 ? [self] : [], total: self ? 1 : 0 };
}

/**
 * The account a sign-in step or password change in progress is for, as it is now. Nobody is signed in yet, so no
 * policy applies: the caller holds the id in its own session and checks the account's state itself.
 */
export function accountInProgress(db: Queryable, userId: number): Promise<User | undefined> {
  return users.findUserById(db, userId);
}

/** The account named on a team's "Add member" form; a name nobody has is an error on that field. */
export async function memberToAdd(db: Queryable, actor: Actor, username: string): Promise<User> {
  assertCan(actor, "update");
  const user = await users.findUserByUsername(db, username);
  if (!user) throw new ValidationError({ username: `No user is named "${username}".` });
  return user;
}

export const LAST_ADMIN_MESSAGE = "At least one active administrator must remain.";

/**
 * Names both spellings when they differ: "prod" clashes with the existing "Prod". A name that only looks like an
 * existing one ("аdmin" with a Cyrillic а, docs/domain.md, "Accounts") names that one and the characters that differ.
 * Only administrators create and rename accounts here, and their pages list every account already.
 */
async function usernameTaken(db: Queryable, username: string, userId?: number): Promise<ConflictError> {
  const existing = await users.findUserByUsername(db, username);
  if (!existing || existing.id === userId) {
    const lookalike = await users.findUserLookingLike(db, username, userId);
    if (lookalike) return new ConflictError(`A user named "${lookalike.username}" already exists.`, { username: looksLikeMessage(username, lookalike.username) });
  }
  const clash = existing && existing.username !== username ? ` by the existing user "${existing.username}"` : "";
  return new ConflictError(`A user named "${existing?.username ?? username}" already exists.`, {
    username: `The username "${username}" is already taken${clash} (names are compared without regard to case, width or surrounding spaces).`,
  });
}

/** For a field: `username` looks like the existing `existing`, and which of its characters make it so. */
function looksLikeMessage(username: string, existing: string): string {
  const characters = lookalikeCharacters(username);
  const which = characters.length > 0 ? ` (${characters.join(", ")} here)` : "";
  return `The username "${username}" looks like the existing user "${existing}": the two differ only in characters that look alike${which}. Choose a name that looks different.`;
}

/** Runs inside the transaction that may remove `userId` from the active administrators. */
async function assertAnotherActiveAdmin(trx: Queryable, userId: number): Promise<void> {
  const adminIds = await users.lockActiveAdminIds(trx);
  if (adminIds.includes(userId) && adminIds.length <= 1) throw new ConflictError(LAST_ADMIN_MESSAGE, { isAdmin: LAST_ADMIN_MESSAGE });
}

/** A saved account, and the message carrying the confirmation code for its new address, if one was queued. */
export interface SavedUser {
  user: User;
  verificationMessageId: number | null;
  /** The address is new and saved unverified, and no code went out because no mail server is configured. */
  codeWithheldForNoMail: boolean;
  /** A password was set for someone else: it must be replaced at the account's next sign-in. */
  temporaryPassword: boolean;
}

/**
 * docs/domain.md, "Passwords and reset": a password set by someone other than the account's owner is temporary, as
 * the break-glass one is. The installation itself (id null: `npm run admin:create`, ADMIN_PASSWORD) sets the
 * password of the person running it, which is theirs to keep.
 */
function setsTemporaryPassword(actor: Actor, accountId: number | undefined): boolean {
  return actor.id !== null && actor.id !== accountId;
}

/**
 * docs/domain.md, "Email and verification": an address an administrator enters is saved unverified whether or not
 * mail is configured. With a mail server its confirmation code is queued in the same transaction; without one
 * nothing waits for mail, and the code can be sent later from the user's page or the Profile.
 */
async function queueCodeForNewAddress(
  trx: Queryable,
  keys: SecretKeys | undefined,
  user: User,
): Promise<Pick<SavedUser, "verificationMessageId" | "codeWithheldForNoMail">> {
  if (!keys || !user.email) return { verificationMessageId: null, codeWithheldForNoMail: false };
  if (!(await isMailConfigured(trx))) return { verificationMessageId: null, codeWithheldForNoMail: true };
  return { verificationMessageId: await queueVerificationCode(trx, keys, user, user.email), codeWithheldForNoMail: false };
}

/** An address taken by another account (docs/security.md E7), or a username taken. */
async function uniquenessError(db: Queryable, details: UserDetails, userId: number | undefined): Promise<ConflictError> {
  if (details.email && (await users.findEmailOwner(db, details.email, userId))) return new ConflictError(EMAIL_TAKEN, { email: EMAIL_TAKEN });
  return usernameTaken(db, details.username, userId);
}

export interface CreateUserInput {
  details: UserDetails;
  password: string | undefined;
  /**
   * From the administrator's form or the API: a new address gets a confirmation code when a mail server is
   * configured. Without these keys (the CLI, seeding) the address is stored unverified and no code is sent.
   */
  verifyEmailWith?: SecretKeys;
}

const LDAP_HAS_NO_PASSWORD =
  "An LDAP account signs in with its directory password; Gatehouse keeps no password for it. Leave Password empty, or choose Local password.";

export async function createUser(db: Db, actor: Actor, input: CreateUserInput): Promise<SavedUser> {
  assertCan(actor, "create");
  const { details } = input;
  if (details.email) await assertEmailFree(db, details.email, undefined);
  if (details.authSource === "ldap" && input.password) throw new ValidationError({ password: LDAP_HAS_NO_PASSWORD });
  let passwordHash: string | null = null;
  if (details.authSource === "local") {
    if (!input.password) throw new ValidationError({ password: "Enter a password for a local account." });
    passwordHash = await newPasswordHash(input.password, details, "password");
  }
  const temporaryPassword = passwordHash !== null && setsTemporaryPassword(actor, undefined);
  try {
    return await db.transaction(async (trx) => {
      const user = await users.insertUser(trx, { ...details, passwordHash, mustChangePassword: temporaryPassword });
      if (!user) throw await usernameTaken(trx, details.username);
      const code = await queueCodeForNewAddress(trx, input.verifyEmailWith, user);
      await recordAudit(trx, actor, {
        action: "user.created",
        target: { type: "user", id: user.id, label: user.username },
        details: {
          changes: {
            ...diffFields<User>({}, user, AUDITED_FIELDS),
            ...(passwordHash ? { password: { from: null, to: SECRET_MASK } } : {}),
            ...(temporaryPassword ? { temporaryPassword: { from: null, to: true } } : {}),
          },
        },
      });
      return { user, ...code, temporaryPassword };
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw await uniquenessError(db, details, undefined);
    throw error;
  }
}

export interface UpdateUserInput {
  version: number;
  details: UserDetails;
  password: string | undefined;
  /** As for createUser: a changed address gets a confirmation code when a mail server is configured. */
  verifyEmailWith?: SecretKeys;
}

export async function updateUser(db: Db, actor: Actor, id: number, input: UpdateUserInput): Promise<SavedUser> {
  assertCan(actor, "update", { id });
  const before = await users.findUserById(db, id);
  if (!before) throw new NotFoundError();
  const { details } = input;
  const newEmail = details.email !== null && details.email !== before.email;
  if (newEmail && details.email) await assertEmailFree(db, details.email, id);
  if (actor.id === id && before.isAdmin && !details.isAdmin)
    throw new ConflictError("You cannot remove your own administrator role; ask another administrator.", {
      isAdmin: "You cannot remove your own administrator role; ask another administrator.",
    });
  if (details.authSource === "ldap" && input.password) throw new ValidationError({ password: LDAP_HAS_NO_PASSWORD });
  let passwordHash: string | null = null;
  if (input.password && details.authSource === "local")
    passwordHash = await newPasswordHash(input.password, details, "password");
  if (details.authSource === "local" && before.authSource === "ldap" && !passwordHash)
    throw new ValidationError({ password: "Enter a password to switch this account to a local password." });

  const temporaryPassword = passwordHash !== null && setsTemporaryPassword(actor, id);
  try {
    return await db.transaction(async (trx) => {
      if (before.isAdmin && !before.disabled && !details.isAdmin) await assertAnotherActiveAdmin(trx, id);
      // This save sets the password (temporary or not), or drops it with a switch to LDAP.
      const settingPassword = passwordHash !== null || details.authSource === "ldap";
      const wasTemporary = settingPassword && (await users.findMustChangePassword(trx, id));
      const after = await users.updateUserDetails(trx, id, input.version, details, {
        // Any role change (docs/security.md S7), a new way to sign in, or a new password: sessions end at their next request.
        bumpSessionVersion: before.isAdmin !== details.isAdmin || before.authSource !== details.authSource || passwordHash !== null,
        // An LDAP account keeps no local password, temporary or not.
        passwordHash: details.authSource === "ldap" ? null : (passwordHash ?? undefined),
        mustChangePassword: settingPassword ? temporaryPassword : undefined,
      });
      if (!after) {
        const current = await users.findUserById(trx, id);
        if (!current) throw new NotFoundError();
        throw new StaleWriteError(current);
      }
      const changes: Record<string, unknown> = diffFields<User>(before, after, [...AUDITED_FIELDS, "twoFactorMethod"]);
      if (passwordHash) changes.password = { from: SECRET_MASK, to: SECRET_MASK };
      if (temporaryPassword || wasTemporary) changes.temporaryPassword = { from: wasTemporary, to: temporaryPassword };
      // A password set by an administrator is a recovery: a way in that someone else may hold ends with it.
      if (passwordHash && actor.id !== id) await revokeTokensWith(trx, actor, after, "password set by an administrator");
      await recordAudit(trx, actor, {
        action: "user.updated",
        target: { type: "user", id, label: after.username },
        details: { changes },
      });
      const code = newEmail
        ? await queueCodeForNewAddress(trx, input.verifyEmailWith, after)
        : { verificationMessageId: null, codeWithheldForNoMail: false };
      return { user: after, ...code, temporaryPassword };
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw await uniquenessError(db, details, id);
    throw error;
  }
}

export async function setUserDisabled(
  db: Db,
  actor: Actor,
  id: number,
  version: number,
  disabled: boolean,
): Promise<User> {
  assertCan(actor, "disable", { id });
  if (actor.id === id && disabled) throw new ConflictError("You cannot disable your own account.");
  return db.transaction(async (trx) => {
    const before = await users.findUserById(trx, id);
    if (!before) throw new NotFoundError();
    if (disabled && before.isAdmin && !before.disabled) await assertAnotherActiveAdmin(trx, id);
    const after = await users.setDisabled(trx, id, version, disabled);
    if (!after) throw new StaleWriteError(before);
    if (disabled) {
      await sessions.deleteUserSessions(trx, id);
      await revokeTokensWith(trx, actor, after, "account disabled");
    }
    await recordAudit(trx, actor, {
      action: disabled ? "user.disabled" : "user.enabled",
      target: { type: "user", id, label: after.username },
      details: { changes: diffFields<User>(before, after, ["disabled"]) },
    });
    return after;
  });
}

export async function deleteUser(db: Db, actor: Actor, id: number, version: number): Promise<User> {
  assertCan(actor, "delete", { id });
  if (actor.id === id) throw new ConflictError("You cannot delete your own account.");
  return db.transaction(async (trx) => {
    const before = await users.findUserById(trx, id);
    if (!before) throw new NotFoundError();
    if (before.isAdmin && !before.disabled) await assertAnotherActiveAdmin(trx, id);
    const deleted = await users.deleteUserRow(trx, id, version);
    if (!deleted) throw new StaleWriteError(before);
    await recordAudit(trx, actor, {
      action: "user.deleted",
      target: { type: "user", id, label: before.username },
      details: { changes: diffFields<User>(before, {}, AUDITED_FIELDS) },
    });
    return before;
  });
}

export async function updateOwnProfile(
  db: Db,
  actor: Actor & { id: number },
  profile: { fullName: string; title: string; phone: string },
): Promise<User> {
  return db.transaction(async (trx) => {
    const before = await users.findUserById(trx, actor.id);
    if (!before) throw new NotFoundError();
    const after = await users.updateProfile(trx, actor.id, profile);
    if (!after) throw new NotFoundError();
    await recordAudit(trx, actor, {
      action: "profile.updated",
      target: { type: "user", id: actor.id, label: after.username },
      details: { changes: diffFields<User>(before, after, ["fullName", "title", "phone"]) },
    });
    return after;
  });
}

/**
 * Needs the current password. Ends every other session of the account (the caller keeps its own,
 * re-issued with the new session version).
 */
export async function changeOwnPassword(
  db: Db,
  actor: Actor & { id: number },
  input: { currentPassword: string; newPassword: string; currentSid: string },
): Promise<User> {
  const user = await users.findUserById(db, actor.id);
  if (!user) throw new NotFoundError();
  if (user.authSource !== "local") throw new ForbiddenError("Your password is managed by the directory (LDAP).");
  if (!(await verifyCurrentPassword(db, user, input.currentPassword)))
    throw new ValidationError({ currentPassword: "Current password is not correct." });
  const newHash = await newPasswordHash(input.newPassword, user, "newPassword");
  return db.transaction(async (trx) => {
    const after = await users.setPasswordHash(trx, actor.id, newHash, { bumpSessionVersion: true });
    if (!after) throw new NotFoundError();
    await sessions.deleteUserSessions(trx, actor.id, { exceptSid: input.currentSid });
    await recordAudit(trx, actor, {
      action: "password.changed",
      target: { type: "user", id: actor.id, label: after.username },
      details: { changes: { password: { from: SECRET_MASK, to: SECRET_MASK } } },
    });
    return after;
  });
}

/** First run: creates the first administrator, only while no account exists at all. */
export async function createFirstAdministrator(
  db: Db,
  actor: Actor,
  input: { username: string; password: string },
): Promise<User> {
  const passwordHash = await newPasswordHash(input.password, { username: input.username, email: null }, "password");
  return db.transaction(async (trx) => {
    // Serialises concurrent setups: the second waits, then sees the first account.
    await users.lockUsersForWriting(trx);
    if (await users.anyUserExists(trx)) throw new ConflictError("Gatehouse is already set up. Sign in instead.");
    const user = await users.insertUser(trx, {
      username: input.username,
      fullName: "",
      title: "",
      email: null,
      phone: "",
      isAdmin: true,
      authSource: "local",
      passwordHash,
    });
    if (!user) throw await usernameTaken(trx, input.username);
    await recordAudit(trx, { ...actor, username: actor.username ?? user.username }, {
      action: "setup.administrator_created",
      target: { type: "user", id: user.id, label: user.username },
      details: { changes: { ...diffFields<User>({}, user, AUDITED_FIELDS), password: { from: null, to: SECRET_MASK } } },
    });
    return user;
  });
}
