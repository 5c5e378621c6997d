import type { userAccessOverview } from "../services/effective-access.ts";
import type { User } from "../types/user.ts";
import { presentAccess } from "./access.ts";
import { presentGrants } from "./grants.ts";

/** The Teams, System access, System groups and Effective access sections of a user's page (docs/domain.md, "Pages and fixed names"). */
export function presentUserAccess(user: User, overview: Awaited<ReturnType<typeof userAccessOverview>>) {
  const memberOf = new Set(overview.teams.map((t) => t.id));
  const { grants } = overview;
  return {
    teams: overview.teams,
    joinableTeams: overview.allTeams.filter((t) => !memberOf.has(t.id)).map((t) => ({ id: t.id, name: t.name })),
    anyTeams: overview.allTeams.length > 0,
    grants: presentGrants(`/admin/users/${user.id}`, grants.systemGrants, grants.groupGrants, grants.systems, grants.groups),
    effective: {
      basis: user.disabled ? "disabled" : user.isAdmin ? "administrator" : "grants",
      rows: overview.reachable.map(({ system, access }) => ({ id: system.id, name: system.name, ...presentAccess(access, "admin") })),
    },
  };
}
