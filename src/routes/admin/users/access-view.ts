import { explainAllAccess } from "../../../access/resolver.ts";
import type { Db } from "../../../db/index.ts";
import { presentAccess } from "../../../presenters/access.ts";
import { presentGrants } from "../../../presenters/grants.ts";
import { accessibleSystems } from "../../../repositories/effective-access.ts";
import { grantsOf } from "../../../repositories/grants.ts";
import { listGroups } from "../../../repositories/system-groups.ts";
import { allSystemNames } from "../../../repositories/systems.ts";
import { listTeams, teamsOfUser } from "../../../repositories/teams.ts";
import type { User } from "../../../types/user.ts";

/** The Teams, System access, System groups and Effective access sections of a user's page (DESIGN §4, UI.md). */
export async function loadUserAccess(db: Db, user: User) {
  const subject = { kind: "user" as const, id: user.id };
  const [teams, allTeams, systemGrants, groupGrants, systems, groups, explained, reachable] = await Promise.all([
    teamsOfUser(db, user.id),
    listTeams(db),
    grantsOf(db, subject, "system"),
    grantsOf(db, subject, "group"),
    allSystemNames(db),
    listGroups(db),
    user.isAdmin ? Promise.resolve(new Map()) : explainAllAccess(db, user),
    user.isAdmin ? Promise.resolve({ systems: [], total: 0 }) : accessibleSystems(db, user.id),
  ]);
  const memberOf = new Set(teams.map((t) => t.id));
  return {
    teams,
    joinableTeams: allTeams.filter((t) => !memberOf.has(t.id)).map((t) => ({ id: t.id, name: t.name })),
    anyTeams: allTeams.length > 0,
    grants: presentGrants(`/admin/users/${user.id}`, systemGrants, groupGrants, systems, groups),
    effective: {
      basis: user.disabled ? "disabled" : user.isAdmin ? "administrator" : "grants",
      rows: reachable.systems.map((s) => ({ id: s.id, name: s.name, ...presentAccess(explained.get(s.id)!, "admin") })),
    },
  };
}
