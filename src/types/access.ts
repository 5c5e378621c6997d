/** Stored as 1 and 2 so that "most permissive" is max(). */
export type PermissionLevel = 0 | 1 | 2;
export type Permission = "none" | "read" | "read/write";
export type GrantPermission = Exclude<Permission, "none">;

export const PERMISSION_BY_LEVEL: Record<PermissionLevel, Permission> = { 0: "none", 1: "read", 2: "read/write" };
export const LEVEL_BY_PERMISSION: Record<GrantPermission, 1 | 2> = { read: 1, "read/write": 2 };

/** The four sources of DESIGN §3.2, in the order the explanation lists them. */
export type GrantSource = "A" | "B" | "C" | "D";

export interface ContributingGrant {
  source: GrantSource;
  permission: GrantPermission;
  team: { id: number; name: string } | null;
  group: { id: number; name: string } | null;
  /** The grant that set the effective permission: the first, in A–D order, with the highest value. */
  decides: boolean;
}

export type AccessBasis = "administrator" | "disabled" | "grants" | "no-grants";

export interface EffectiveAccess {
  permission: Permission;
  basis: AccessBasis;
  grants: ContributingGrant[];
}
