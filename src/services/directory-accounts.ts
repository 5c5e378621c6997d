import type { Db, Queryable } from "../db/index.ts";
import { nameKey, optionalEmailField, textField, usernameField } from "../lib/fields.ts";
import type { DirectoryEntry } from "../ldap/directory-entry.ts";
import * as ldap from "../repositories/ldap.ts";
import * as teams from "../repositories/teams.ts";
import * as users from "../repositories/users/index.ts";
import type { Actor, User } from "../types/user.ts";
import { recordAudit } from "./audit.ts";
import { readLdapOptions } from "./ldap-settings.ts";

/** Why a person the directory accepted still does not get in; for the audit trail only. */
export type DirectoryRefusal =
  | "local_account_with_same_name"
  | "linked_to_another_entry"
  | "not_provisioned"
  | "username_not_allowed"
  | "username_looks_like_another"
  | "disabled";

/**
 * A refusal names the account it concerns (`user`), or for a new name that looks like an existing one (docs/domain.md,
 * "Accounts") that existing account (`lookalike`), which only the audit trail shows.
 */
export type DirectoryAccount =
  | { ok: true; user: User; created: boolean }
  | { ok: false; reason: DirectoryRefusal; user?: User; lookalike?: User };

const DIRECTORY_FULL_NAME = textField("Full name", 128);

function userTarget(user: User) {
  return { type: "user", id: user.id, label: user.username } as const;
}

/** The account a new directory user gets, or undefined when another sign-in created it at the same moment. */
async function createAccount(trx: Queryable, actor: Actor, entry: DirectoryEntry, username: string): Promise<User | undefined> {
  // The directory's values pass the rules the user form applies. Its address is kept only when valid and no other
  // account uses it (addresses are unique); it starts unverified.
  const parsedEmail = optionalEmailField.safeParse(entry.email ?? "");
  const candidate = parsedEmail.success ? parsedEmail.data : null;
  const email = candidate && !(await users.findEmailOwner(trx, candidate)) ? candidate : null;
  const parsedName = DIRECTORY_FULL_NAME.safeParse(entry.fullName);
  const fullName = parsedName.success ? parsedName.data : "";
  const created = await users.insertDirectoryUser(trx, { username, fullName, email, externalId: entry.externalId });
  if (!created) return undefined;
  await recordAudit(trx, { ...actor, id: created.id, username: created.username }, {
    action: "user.created_by_directory",
    target: userTarget(created),
    details: { dn: entry.dn, fullName: entry.fullName, email, groups: entry.groups },
  });
  for (const team of await ldap.listDefaultTeams(trx)) await addToTeam(trx, actor, created, team, "default team");
  return created;
}

async function addToTeam(trx: Queryable, actor: Actor, user: User, team: { id: number; name: string }, why: "default team" | "group mapping"): Promise<void> {
  if (!(await teams.insertMember(trx, team.id, user.id, { byDirectory: why === "group mapping" }))) return;
  await recordAudit(trx, { ...actor, id: user.id, username: user.username }, {
    action: "team.member_added",
    target: { type: "team", id: team.id, label: team.name },
    details: { user: { id: user.id, username: user.username }, source: `LDAP ${why}` },
  });
}

/** Adds the teams the person's directory groups map to; with the option on, takes away mapped teams they lost. */
async function syncMappedTeams(trx: Queryable, actor: Actor, user: User, entry: DirectoryEntry, removeUnmapped: boolean): Promise<void> {
  const mapped = new Set(await ldap.teamIdsForGroups(trx, entry.groups.map(nameKey)));
  const current = await teams.selectTeamsOfUser(trx, user.id);
  const currentIds = new Set(current.map((t) => t.id));
  for (const teamId of mapped) {
    if (currentIds.has(teamId)) continue;
    const team = await teams.selectTeam(trx, teamId);
    if (team) await addToTeam(trx, actor, user, team, "group mapping");
  }
  if (!removeUnmapped) return;
  // Only memberships a mapping added are taken back: a team joined by hand (or as a default team) stays.
  const managed = new Set(await teams.selectDirectoryAddedTeamIds(trx, user.id));
  for (const team of current) {
    if (!managed.has(team.id) || mapped.has(team.id)) continue;
    if (!(await teams.deleteMember(trx, team.id, user.id))) continue;
    await recordAudit(trx, { ...actor, id: user.id, username: user.username }, {
      action: "team.member_removed",
      target: { type: "team", id: team.id, label: team.name },
      details: { user: { id: user.id, username: user.username }, source: "LDAP group mapping (the directory no longer lists the group)" },
    });
  }
}

/**
 * The account a successful directory sign-in belongs to (docs/domain.md, "LDAP"), in one transaction: the account linked to
 * the entry's stable id; else an LDAP account an administrator made ahead under that name, linked now; else, with
 * "Allow LDAP user creation" on, a new one in the default teams, unless its name looks like an existing account's
 * (the unique index on skeletons holds it too, when one is written at the same moment: the retry then finds it).
 * A local account is never signed into or changed. A directory rename onto a name taken or looked like is not followed.
 * Mapped teams are added at every sign-in.
 */
export async function accountForDirectoryEntry(db: Db, actor: Actor, entry: DirectoryEntry): Promise<DirectoryAccount> {
  const attempt = () =>
    db.transaction(async (trx): Promise<DirectoryAccount | undefined> => {
      const options = (await readLdapOptions(trx)).value;
      let user = await users.findUserByExternalId(trx, entry.externalId);
      let created = false;
      if (user) {
        const renamed = usernameField.safeParse(entry.username);
        if (renamed.success && nameKey(user.username) !== nameKey(renamed.data) && (await users.renameDirectoryUser(trx, user.id, renamed.data))) {
          await recordAudit(trx, { ...actor, id: user.id, username: renamed.data }, {
            action: "user.renamed_by_directory",
            target: userTarget(user),
            details: { changes: { username: { from: user.username, to: renamed.data } } },
          });
          user = (await users.findUserById(trx, user.id)) ?? user;
        }
      } else {
        const named = await users.findUserByUsername(trx, entry.username);
        if (named && named.authSource !== "ldap") return { ok: false, reason: "local_account_with_same_name", user: named };
        if (named) {
          if (!(await users.linkExternalId(trx, named.id, entry.externalId))) return { ok: false, reason: "linked_to_another_entry", user: named };
          await recordAudit(trx, { ...actor, id: named.id, username: named.username }, {
            action: "user.linked_to_directory",
            target: userTarget(named),
            details: { dn: entry.dn },
          });
          user = named;
        } else {
          if (!options.allowUserCreation) return { ok: false, reason: "not_provisioned" };
          const username = usernameField.safeParse(entry.username);
          if (!username.success) return { ok: false, reason: "username_not_allowed" };
          const lookalike = await users.findUserLookingLike(trx, username.data);
          if (lookalike) return { ok: false, reason: "username_looks_like_another", lookalike };
          user = await createAccount(trx, actor, entry, username.data);
          // Another sign-in of the same person created it first: start again and find theirs.
          if (!user) return undefined;
          created = true;
        }
      }
      if (user.disabled) return { ok: false, reason: "disabled", user };
      await syncMappedTeams(trx, actor, user, entry, options.removeUnmappedTeams);
      return { ok: true, user, created };
    });
  return (await attempt()) ?? (await attempt()) ?? { ok: false, reason: "linked_to_another_entry" };
}
