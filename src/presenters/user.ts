import type { User } from "../types/user.ts";
import { presentTime, type TimeView } from "./time.ts";

export interface PresentedUser {
  id: number;
  username: string;
  fullName: string;
  title: string;
  email: string;
  emailVerified: boolean;
  phone: string;
  isAdmin: boolean;
  role: string;
  authSource: string;
  authLabel: string;
  disabled: boolean;
  status: string;
  version: number;
  lastLogin: TimeView | null;
  created: TimeView | null;
  displayName: string;
}

export function presentUser(user: User): PresentedUser {
  return {
    id: user.id,
    username: user.username,
    fullName: user.fullName,
    title: user.title,
    email: user.email ?? "",
    emailVerified: user.emailVerified,
    phone: user.phone,
    isAdmin: user.isAdmin,
    role: user.isAdmin ? "Administrator" : "User",
    authSource: user.authSource,
    authLabel: user.authSource === "ldap" ? "LDAP" : "Local password",
    disabled: user.disabled,
    status: user.disabled ? "Disabled" : "Active",
    version: user.version,
    lastLogin: presentTime(user.lastLoginAt),
    created: presentTime(user.createdAt),
    displayName: user.fullName || user.username,
  };
}

/** What the top bar needs of the signed-in account. */
export function presentCurrentUser(user: User | undefined) {
  return user ? { id: user.id, displayName: user.fullName || user.username, isAdmin: user.isAdmin } : null;
}
