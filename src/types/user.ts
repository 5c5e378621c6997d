export type AuthSource = "local" | "ldap";

export interface User {
  id: number;
  username: string;
  fullName: string;
  title: string;
  email: string | null;
  emailVerified: boolean;
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
}
