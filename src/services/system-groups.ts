import type { Db, Queryable } from "../db/index.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import { assertCan, NO_SUCH_GROUP } from "../policies/groups.ts";
import * as groups from "../repositories/system-groups.ts";
import { selectSystem, selectSystemNames } from "../repositories/systems.ts";
import type { SystemGroup } from "../types/catalog.ts";
import type { Actor } from "../types/user.ts";
import { recordAudit } from "./audit.ts";
import { type CatalogStore, existingRecord, guardedRecords } from "./catalog-records.ts";
import { onForeignKeyViolation } from "./errors-map.ts";
import { grantsOnForAudit } from "./grants.ts";

type GroupFields = { name: string; description: string };

export const GROUP_STORE: CatalogStore<SystemGroup, GroupFields> = {
  kind: "group",
  missing: NO_SUCH_GROUP,
  audited: ["name", "description"],
  ...groups.groupRows,
};

const SYSTEM_GONE = { systemId: "Choose a system from the list; that one no longer exists." };

/** Every group, by name: for the administrators' pickers. */
export function listAllGroups(db: Queryable, actor: Actor): Promise<SystemGroup[]> {
  assertCan(actor, "list");
  return groups.selectGroups(db);
}

export function findGroupById(db: Queryable, actor: Actor, id: number): Promise<SystemGroup | undefined> {
  assertCan(actor, "read");
  return groups.selectGroup(db, id);
}

/** The group, or a 404 naming it. */
export function existingGroup(db: Queryable, actor: Actor, id: number): Promise<SystemGroup> {
  assertCan(actor, "read");
  return existingRecord(db, GROUP_STORE, id);
}

export function listGroupsPage(db: Queryable, actor: Actor, query: { search: string; limit: number; offset: number }) {
  assertCan(actor, "list");
  return groups.selectGroupsPage(db, query);
}

export function listGroupSystemsPage(db: Queryable, actor: Actor, groupId: number, page: { limit: number; offset: number }) {
  assertCan(actor, "read");
  return groups.selectGroupSystemsPage(db, groupId, page);
}

/** The systems in a group, and those that could be added to it, for its page. */
export async function groupSystemsWithChoices(db: Queryable, actor: Actor, groupId: number) {
  assertCan(actor, "read");
  const [systems, all] = await Promise.all([groups.selectGroupSystems(db, groupId), selectSystemNames(db)]);
  const inGroup = new Set(systems.map((s) => s.id));
  return { systems, available: all.filter((s) => !inGroup.has(s.id)) };
}

/** Create, change and delete a group, and what its deletion would cost; its links and grants go with it, its systems stay. */
export const groupRecords = guardedRecords(GROUP_STORE, assertCan, async (trx, id) => ({
  systems: (await groups.selectGroupSystems(trx, id)).map((s) => ({ id: s.id, name: s.name })),
  grants: await grantsOnForAudit(trx, { kind: "group", id }),
}));
export const { create: createGroup, update: updateGroup, remove: deleteGroup } = groupRecords;

/**
 * Adds a system to a group; adding it twice changes nothing and writes no second event. A system that does not
 * exist, or was deleted meanwhile, is an error on the systemId field; a group that is gone is a 404.
 */
export async function addSystemToGroup(db: Db, actor: Actor, groupId: number, systemId: number): Promise<{ added: boolean; systemName: string }> {
  assertCan(actor, "add-system");
  return onForeignKeyViolation(
    () =>
      db.transaction(async (trx) => {
        const group = await groups.selectGroup(trx, groupId);
        if (!group) throw new NotFoundError();
        const system = await selectSystem(trx, systemId);
        if (!system) throw new ValidationError(SYSTEM_GONE);
        const added = await groups.insertGroupSystem(trx, groupId, systemId);
        if (added)
          await recordAudit(trx, actor, {
            action: "group.system_added",
            target: { type: "group", id: groupId, label: group.name },
            details: { system: { id: systemId, name: system.name } },
          });
        return { added, systemName: system.name };
      }),
    async () => ((await groups.selectGroup(db, groupId)) ? new ValidationError(SYSTEM_GONE) : new NotFoundError()),
  );
}

export async function removeSystemFromGroup(
  db: Db,
  actor: Actor,
  groupId: number,
  systemId: number,
): Promise<{ removed: boolean; systemName: string | null }> {
  assertCan(actor, "remove-system");
  return db.transaction(async (trx) => {
    const group = await groups.selectGroup(trx, groupId);
    if (!group) throw new NotFoundError();
    const system = await selectSystem(trx, systemId);
    const removed = await groups.deleteGroupSystem(trx, groupId, systemId);
    if (removed)
      await recordAudit(trx, actor, {
        action: "group.system_removed",
        target: { type: "group", id: groupId, label: group.name },
        details: { system: { id: systemId, name: system?.name ?? null } },
      });
    return { removed, systemName: system?.name ?? null };
  });
}
