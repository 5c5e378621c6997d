import { accessLevel, explainSystemAccess } from "../access/resolver.ts";
import type { Db, Queryable } from "../db/index.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import { actsAsAdministrator } from "../policies/actor.ts";
import { assertCan, can, changeAction, NO_SUCH_SYSTEM } from "../policies/systems.ts";
import { accessibleSystems, type EnabledAccount } from "../repositories/effective-access.ts";
import { selectGroupsOfSystem } from "../repositories/system-groups.ts";
import * as systems from "../repositories/systems.ts";
import { findUsersByIds } from "../repositories/users/index.ts";
import type { PermissionLevel } from "../types/access.ts";
import type { System } from "../types/catalog.ts";
import type { Actor } from "../types/user.ts";
import { type CatalogStore, existingRecord, guardedRecords, updateRecord } from "./catalog-records.ts";
import { grantsOnForAudit } from "./grants.ts";
import { oidcClientIdOfSystem } from "./oidc-clients.ts";

export const SYSTEM_STORE: CatalogStore<System, systems.SystemFields> = {
  kind: "system",
  missing: NO_SUCH_SYSTEM,
  audited: ["name", "host", "webAddress", "gateMode", "description", "notes"],
  ...systems.systemRows,
  async otherClash(db, fields, exceptId) {
    if (!fields.webAddress) return undefined;
    const other = await systems.selectSystemByWebAddress(db, fields.webAddress);
    if (!other || other.id === exceptId) return undefined;
    return new ConflictError(`The web address ${fields.webAddress} is already used by the system "${other.name}".`, {
      webAddress: `Web address is already used by the system "${other.name}" (${other.webAddress}); each web address belongs to one system.`,
    });
  },
};

/** The actor's effective level on one system, from the resolver on every call: 0 when it has none or the system does not exist. */
async function levelOf(db: Queryable, actor: Actor, systemId: number): Promise<PermissionLevel> {
  if (actor.id === null) return actor.isAdmin ? 2 : 0;
  return (await accessLevel(db, actor.id, systemId)) ?? 0;
}

/** Any system, as the administrators' pages and operations read it. */
export async function findSystemById(db: Queryable, actor: Actor, id: number): Promise<System | undefined> {
  assertCan(actor, "administer");
  return systems.selectSystem(db, id);
}

/** Any system, for an administrator; a 404 naming it when the id has none. */
export async function existingSystem(db: Queryable, actor: Actor, id: number): Promise<System> {
  assertCan(actor, "administer");
  return existingRecord(db, SYSTEM_STORE, id);
}

/**
 * One system the actor may read, with its level on it; any other id (missing, or no access) is not found, so
 * that no name leaks. `needs` "change-notes" also refuses a read-only account (403) before any input is read.
 */
export async function readSystem(
  db: Queryable,
  actor: Actor,
  id: number,
  needs: "read" | "change-notes" = "read",
): Promise<{ system: System; level: 1 | 2 }> {
  const level = await levelOf(db, actor, id);
  assertCan(actor, "read", level);
  assertCan(actor, needs, level);
  const system = await systems.selectSystem(db, id);
  if (!system) throw new NotFoundError(NO_SUCH_SYSTEM);
  return { system, level: level as 1 | 2 };
}

/** The groups that hold a system, for an actor allowed to see them (administrators); undefined for anyone else. */
export async function groupsShownWith(db: Queryable, actor: Actor, systemId: number): Promise<{ id: number; name: string }[] | undefined> {
  return can(actor, "see-groups") ? selectGroupsOfSystem(db, systemId) : undefined;
}

/**
 * One page of the systems an account can access, with its effective level on each (every system at read/write
 * for an administrator): what /systems lists.
 */
export function listAccessibleSystems(db: Queryable, actor: Actor, query: { search: string; limit: number; offset: number }) {
  assertCan(actor, "list");
  // The installation (no account) lists as an administrator does: every system.
  const account: EnabledAccount = { id: actor.id ?? 0, isAdmin: actsAsAdministrator(actor) };
  return accessibleSystems(db, account, query);
}

/** One page of every system, by name, for the administrators' list. */
export function listSystemsPage(db: Queryable, actor: Actor, query: { search: string; limit: number; offset: number }) {
  assertCan(actor, "administer");
  return systems.selectSystemsPage(db, query);
}

/** The groups holding a system and every enabled non-administrator who can access it, with why: its admin page. */
export async function systemAccessOverview(db: Queryable, actor: Actor, systemId: number) {
  assertCan(actor, "administer");
  const [access, groups] = await Promise.all([explainSystemAccess(db, systemId), selectGroupsOfSystem(db, systemId)]);
  const users = await findUsersByIds(db, [...access.keys()]);
  return { groups, access: users.map((user) => ({ user, effective: access.get(user.id)! })) };
}

/** Create and delete a system, and what its deletion would cost: its group links and every grant on it go with it. */
export const systemRecords = guardedRecords(SYSTEM_STORE, (actor, action) => assertCan(actor, action === "update" ? "change-identity" : action), async (trx, id) => {
  // Its OpenID Connect client goes with it (ON DELETE CASCADE): the event says which, since that id stops working.
  const oidcClientId = await oidcClientIdOfSystem(trx, id);
  return {
    groups: await selectGroupsOfSystem(trx, id),
    grants: await grantsOnForAudit(trx, { kind: "system", id }),
    ...(oidcClientId ? { oidcClientId } : {}),
  };
});
export const { create: createSystem, remove: deleteSystem } = systemRecords;

/**
 * Administrators change every field; an account with read/write only description and notes; anyone else nothing
 * (read: 403; no access: 404). The level is the one in force now, not when the form was opened.
 */
export async function updateSystem(db: Db, actor: Actor, id: number, version: number, fields: Partial<systems.SystemFields>): Promise<System> {
  const level = await levelOf(db, actor, id);
  assertCan(actor, "read", level);
  assertCan(actor, "change-notes", level);
  assertCan(actor, changeAction(fields), level);
  return updateRecord(db, actor, SYSTEM_STORE, id, version, fields);
}

