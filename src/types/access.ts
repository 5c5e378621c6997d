/** Stored as 1 and 2 so that "most permissive" is max(). */
export type PermissionLevel = 0 | 1 | 2;
export type Permission = "none" | "read" | "read/write";
export type GrantPermission = Exclude<Permission, "none">;

export const PERMISSION_BY_LEVEL: Record<PermissionLevel, Permission> = { 0: "none", 1: "read", 2: "read/write" };
export const LEVEL_BY_PERMISSION: Record<GrantPermission, 1 | 2> = { read: 1, "read/write": 2 };

/** The four sources A–D (docs/domain.md, "Grants and the resolver"), in the order the explanation lists them. */
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

/** One account that loses (or keeps less) access to one system when a team, group, system or membership goes. */
export interface AccessLoss {
  userId: number;
  username: string;
  systemId: number;
  systemName: string;
  /** Level now and level after the removal (0 = no access). */
  before: 1 | 2;
  after: 0 | 1;
}
