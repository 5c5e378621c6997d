import type { Db } from "../db/index.ts";
import { ConflictError, NotFoundError, StaleWriteError, ValidationError } from "../errors.ts";
import { type AccessLoss, previewAccessLoss } from "../repositories/access-loss.ts";
import * as groups from "../repositories/system-groups.ts";
import { findSystem } from "../repositories/systems.ts";
import type { SystemGroup } from "../types/catalog.ts";
import type { Actor } from "../types/user.ts";
import { diffFields, recordAudit } from "./audit.ts";
import { isUniqueViolation } from "./errors-map.ts";

const AUDITED = ["name", "description"] as const;

function nameTaken(name: string): ConflictError {
  return new ConflictError(`A group named "${name}" already exists.`, {
    name: `The name "${name}" is already used by another group (names are compared without regard to case).`,
  });
}

export async function createGroup(db: Db, actor: Actor, fields: { name: string; description: string }): Promise<SystemGroup> {
  return db.transaction(async (trx) => {
    const group = await groups.insertGroup(trx, fields);
    if (!group) throw nameTaken(fields.name);
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
    if (isUniqueViolation(error)) throw nameTaken(fields.name);
    throw error;
  }
}

export async function deleteGroup(db: Db, actor: Actor, id: number, version: number): Promise<{ group: SystemGroup; lost: AccessLoss[] }> {
  return db.transaction(async (trx) => {
    const before = await groups.findGroup(trx, id);
    if (!before) throw new NotFoundError();
    const lost = await previewAccessLoss(trx, { kind: "group", id });
    if (!(await groups.deleteGroup(trx, id, version))) throw new StaleWriteError(before);
    await recordAudit(trx, actor, {
      action: "group.deleted",
      target: { type: "group", id, label: before.name },
      details: { changes: diffFields<SystemGroup>(before, {}, AUDITED), usersLosingAccess: [...new Set(lost.map((l) => l.username))] },
    });
    return { group: before, lost };
  });
}

/** Adds a system to a group; adding it twice changes nothing and writes no second event. */
export async function addSystemToGroup(db: Db, actor: Actor, groupId: number, systemId: number): Promise<{ added: boolean; systemName: string }> {
  return db.transaction(async (trx) => {
    const group = await groups.findGroup(trx, groupId);
    if (!group) throw new NotFoundError();
    const system = await findSystem(trx, systemId);
    if (!system) throw new ValidationError({ systemId: "Choose a system from the list; that one no longer exists." });
    const added = await groups.addSystemToGroup(trx, groupId, systemId);
    if (added)
      await recordAudit(trx, actor, {
        action: "group.system_added",
        target: { type: "group", id: groupId, label: group.name },
        details: { system: { id: systemId, name: system.name } },
      });
    return { added, systemName: system.name };
  });
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
