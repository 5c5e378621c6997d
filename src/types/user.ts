export type AuthSource = "local" | "ldap";
export type TwoFactorMethod = "email" | "totp";

export interface User {
  id: number;
  username: string;
  fullName: string;
  title: string;
  email: string | null;
  emailVerified: boolean;
  /** A new address chosen on the profile, in use only once its confirmation code is entered. */
  pendingEmail: string | null;
  /** null while two-factor authentication is off. */
  twoFactorMethod: TwoFactorMethod | null;
  phone: string;
  isAdmin: boolean;
  authSource: AuthSource;
  disabled: boolean;
  sessionVersion: number;
  version: number;
  lastLoginAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The fields an administrator edits on the user form. */
export interface UserDetails {
  username: string;
  fullName: string;
  title: string;
  email: string | null;
  phone: string;
  isAdmin: boolean;
  authSource: AuthSource;
}

export interface Actor {
  id: number | null;
  username: string | null;
  clientIp: string | null;
  requestId: string | null;
  /** Set when the change came through the REST API: the personal token that made it. */
  apiTokenId?: number;
  /**
   * What the policies (src/policies) decide by: an administrator's account, or the installation itself (id null:
   * the CLI, the environment seed, scheduled jobs). Absent or false: an ordinary account, or nobody signed in.
   */
  isAdmin?: boolean;
}

/** The orders a list of accounts can be sorted in. */
export const USER_SORT_KEYS = ["username", "name", "email", "role", "lastLogin", "created"] as const;
export type UserSort = (typeof USER_SORT_KEYS)[number];

/** How a password reset was proven: a code sent by email, or a temporary password an administrator issued. */
export type ResetKind = "emailed_code" | "temporary_password";

/**
 * Why a sign-in must choose a new password before anything else: a reset code or temporary password was used, or
 * the account's password was set by an administrator for someone else (docs/domain.md, "Passwords and reset").
 */
export type PasswordChangeReason = ResetKind | "set_by_administrator";
