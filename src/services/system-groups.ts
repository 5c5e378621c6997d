import type { Db, Queryable } from "../db/index.ts";
import { type ConflictError, NotFoundError, StaleWriteError, ValidationError } from "../errors.ts";
import { type AccessLoss, previewAccessLoss } from "../repositories/access-loss.ts";
import * as groups from "../repositories/system-groups.ts";
import { findSystem } from "../repositories/systems.ts";
import type { SystemGroup } from "../types/catalog.ts";
import type { Actor } from "../types/user.ts";
import { diffFields, recordAudit, unchanged } from "./audit.ts";
import { isUniqueViolation, nameTakenError, onForeignKeyViolation } from "./errors-map.ts";
import { grantsOnForAudit } from "./grants.ts";

const AUDITED = ["name", "description"] as const;

async function nameTaken(db: Queryable, name: string): Promise<ConflictError> {
  return nameTakenError("group", name, (await groups.findGroupByName(db, name))?.name);
}

const SYSTEM_GONE = { systemId: "Choose a system from the list; that one no longer exists." };

export function findGroupById(db: Queryable, id: number): Promise<SystemGroup | undefined> {
  return groups.findGroup(db, id);
}

export function listGroupsPage(db: Queryable, query: { search: string; limit: number; offset: number }) {
  return groups.listGroupsPage(db, query);
}

export function groupsContainingSystem(db: Queryable, systemId: number): Promise<{ id: number; name: string }[]> {
  return groups.groupsOfSystem(db, systemId);
}

export function listGroupSystemsPage(db: Queryable, groupId: number, page: { limit: number; offset: number }) {
  return groups.groupSystemsPage(db, groupId, page);
}

export async function createGroup(db: Db, actor: Actor, fields: { name: string; description: string }): Promise<SystemGroup> {
  return db.transaction(async (trx) => {
    const group = await groups.insertGroup(trx, fields);
    if (!group) throw await nameTaken(trx, fields.name);
    await recordAudit(trx, actor, {
      action: "group.created",
      target: { type: "group", id: group.id, label: group.name },
      details: { changes: diffFields<SystemGroup>({}, group, AUDITED) },
    });
    return group;
  });
}

export async function updateGroup(
  db: Db,
  actor: Actor,
  id: number,
  version: number,
  fields: { name: string; description: string },
): Promise<SystemGroup> {
  try {
    return await db.transaction(async (trx) => {
      const before = await groups.findGroup(trx, id);
      if (!before) throw new NotFoundError();
      if (unchanged<SystemGroup>(before, fields, AUDITED)) {
        // Saving what is already there moves no version on and writes no event; a stale version is still refused.
        if (before.version !== version) throw new StaleWriteError(before);
        return before;
      }
      const after = await groups.updateGroup(trx, id, version, fields);
      if (!after) throw new StaleWriteError(before);
      await recordAudit(trx, actor, {
        action: "group.updated",
        target: { type: "group", id, label: after.name },
        details: { changes: diffFields<SystemGroup>(before, after, AUDITED) },
      });
      return after;
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw await nameTaken(db, fields.name);
    throw error;
  }
}

export async function deleteGroup(db: Db, actor: Actor, id: number, version: number): Promise<{ group: SystemGroup; lost: AccessLoss[] }> {
  return db.transaction(async (trx) => {
    const before = await groups.findGroup(trx, id);
    if (!before) throw new NotFoundError();
    const lost = await previewAccessLoss(trx, { kind: "group", id });
    const systems = (await groups.groupSystems(trx, id)).map((s) => ({ id: s.id, name: s.name }));
    const grants = await grantsOnForAudit(trx, { kind: "group", id });
    if (!(await groups.deleteGroup(trx, id, version))) throw new StaleWriteError(before);
    await recordAudit(trx, actor, {
      action: "group.deleted",
      target: { type: "group", id, label: before.name },
      details: { changes: diffFields<SystemGroup>(before, {}, AUDITED), usersLosingAccess: [...new Set(lost.map((l) => l.username))], systems, grants },
    });
    return { group: before, lost };
  });
}

/**
 * Adds a system to a group; adding it twice changes nothing and writes no second event. A system that does not
 * exist, or was deleted meanwhile, is an error on the systemId field; a group that is gone is a 404.
 */
export async function addSystemToGroup(db: Db, actor: Actor, groupId: number, systemId: number): Promise<{ added: boolean; systemName: string }> {
  return onForeignKeyViolation(
    () =>
      db.transaction(async (trx) => {
        const group = await groups.findGroup(trx, groupId);
        if (!group) throw new NotFoundError();
        const system = await findSystem(trx, systemId);
        if (!system) throw new ValidationError(SYSTEM_GONE);
        const added = await groups.addSystemToGroup(trx, groupId, systemId);
        if (added)
          await recordAudit(trx, actor, {
            action: "group.system_added",
            target: { type: "group", id: groupId, label: group.name },
            details: { system: { id: systemId, name: system.name } },
          });
        return { added, systemName: system.name };
      }),
    async () => ((await groups.findGroup(db, groupId)) ? new ValidationError(SYSTEM_GONE) : new NotFoundError()),
  );
}

export async function removeSystemFromGroup(
  db: Db,
  actor: Actor,
  groupId: number,
  systemId: number,
): Promise<{ removed: boolean; systemName: string | null }> {
  return db.transaction(async (trx) => {
    const group = await groups.findGroup(trx, groupId);
    if (!group) throw new NotFoundError();
    const system = await findSystem(trx, systemId);
    const removed = await groups.removeSystemFromGroup(trx, groupId, systemId);
    if (removed)
      await recordAudit(trx, actor, {
        action: "group.system_removed",
        target: { type: "group", id: groupId, label: group.name },
        details: { system: { id: systemId, name: system?.name ?? null } },
      });
    return { removed, systemName: system?.name ?? null };
  });
}
