import type { GrantRow } from "../repositories/grants.ts";
import { PERMISSION_BY_LEVEL } from "../types/access.ts";

export interface GrantSectionView {
  baseUrl: string;
  systems: { rows: { id: number; name: string; permission: string }[]; available: { id: number; name: string }[] };
  groups: { rows: { id: number; name: string; permission: string }[]; available: { id: number; name: string }[]; anyExist: boolean };
}

/** The "System access" and "System groups" sections of a user's or a team's page. */
export function presentGrants(
  baseUrl: string,
  systemGrants: GrantRow[],
  groupGrants: GrantRow[],
  allSystems: { id: number; name: string }[],
  allGroups: { id: number; name: string }[],
): GrantSectionView {
  const rows = (grants: GrantRow[]) => grants.map((g) => ({ id: g.targetId, name: g.targetName, permission: PERMISSION_BY_LEVEL[g.level] }));
  const granted = (grants: GrantRow[]) => new Set(grants.map((g) => g.targetId));
  const systemIds = granted(systemGrants);
  const groupIds = granted(groupGrants);
  return {
    baseUrl,
    systems: { rows: rows(systemGrants), available: allSystems.filter((s) => !systemIds.has(s.id)) },
    groups: {
      rows: rows(groupGrants),
      available: allGroups.filter((g) => !groupIds.has(g.id)).map((g) => ({ id: g.id, name: g.name })),
      anyExist: allGroups.length > 0,
    },
  };
}
