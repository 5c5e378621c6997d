import type { EffectiveAccess } from "../types/access.ts";
import type { User } from "../types/user.ts";
import { describeGrant, presentAccess } from "./access.ts";

/** An account as the REST API shows it: never a password hash, secret or session version. */
export function apiUser(user: User) {
  return {
    id: user.id,
    username: user.username,
    fullName: user.fullName,
    title: user.title,
    email: user.email,
    emailVerified: user.emailVerified,
    phone: user.phone,
    isAdmin: user.isAdmin,
    authSource: user.authSource,
    disabled: user.disabled,
    twoFactorMethod: user.twoFactorMethod,
    lastLoginAt: user.lastLoginAt?.toISOString() ?? null,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
    version: user.version,
  };
}

/** The explanation of one (user, system) pair, in the words the console uses for the same grants. */
export function apiAccess(
  user: Pick<User, "id" | "username">,
  system: { id: number; name: string },
  access: EffectiveAccess,
  perspective: "self" | "admin",
) {
  return {
    user: { id: user.id, username: user.username },
    system: { id: system.id, name: system.name },
    permission: access.permission,
    basis: access.basis,
    summary: presentAccess(access, perspective).summary,
    grants: access.grants.map((g) => ({
      source: g.source,
      explanation: describeGrant(g, perspective),
      permission: g.permission,
      team: g.team,
      group: g.group,
      decides: g.decides,
    })),
  };
}
