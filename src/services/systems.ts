import type { Db, Queryable } from "../db/index.ts";
import { type ConflictError, NotFoundError, StaleWriteError } from "../errors.ts";
import { type AccessLoss, previewAccessLoss } from "../repositories/access-loss.ts";
import { accessibleSystems, type EnabledAccount } from "../repositories/effective-access.ts";
import { groupsOfSystem } from "../repositories/system-groups.ts";
import * as systems from "../repositories/systems.ts";
import type { System } from "../types/catalog.ts";
import type { Actor } from "../types/user.ts";
import { diffFields, recordAudit, unchanged } from "./audit.ts";
import { isUniqueViolation, nameTakenError } from "./errors-map.ts";
import { grantsOnForAudit } from "./grants.ts";

const AUDITED = ["name", "host", "description", "notes"] as const;

async function nameTaken(db: Queryable, name: string): Promise<ConflictError> {
  return nameTakenError("system", name, (await systems.findSystemByName(db, name))?.name);
}

export function findSystemById(db: Queryable, id: number): Promise<System | undefined> {
  return systems.findSystem(db, id);
}

/**
 * One page of the systems an account can access, with its effective level on each (every system at read/write
 * for an administrator): what /systems lists.
 */
export function listAccessibleSystems(db: Queryable, account: EnabledAccount, query: { search: string; limit: number; offset: number }) {
  return accessibleSystems(db, account, query);
}

export async function createSystem(db: Db, actor: Actor, fields: systems.SystemFields): Promise<System> {
  return db.transaction(async (trx) => {
    const system = await systems.insertSystem(trx, fields);
    if (!system) throw await nameTaken(trx, fields.name);
    await recordAudit(trx, actor, {
      action: "system.created",
      target: { type: "system", id: system.id, label: system.name },
      details: { changes: diffFields<System>({}, system, AUDITED) },
    });
    return system;
  });
}

/** Administrators edit every field; a read/write user only description and notes (the route decides which). */
export async function updateSystem(
  db: Db,
  actor: Actor,
  id: number,
  version: number,
  fields: Partial<systems.SystemFields>,
): Promise<System> {
  try {
    return await db.transaction(async (trx) => {
      const before = await systems.findSystem(trx, id);
      if (!before) throw new NotFoundError();
      if (unchanged<System>(before, fields, AUDITED)) {
        // Saving what is already there moves no version on and writes no event; a stale version is still refused.
        if (before.version !== version) throw new StaleWriteError(before);
        return before;
      }
      const after = await systems.updateSystem(trx, id, version, fields);
      if (!after) throw new StaleWriteError(before);
      await recordAudit(trx, actor, {
        action: "system.updated",
        target: { type: "system", id, label: after.name },
        details: { changes: diffFields<System>(before, after, AUDITED) },
      });
      return after;
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw await nameTaken(db, fields.name ?? "");
    throw error;
  }
}

/** Deletes the system, its group links and every grant on it, in one transaction; returns who lost access. */
export async function deleteSystem(db: Db, actor: Actor, id: number, version: number): Promise<{ system: System; lost: AccessLoss[] }> {
  return db.transaction(async (trx) => {
    const before = await systems.findSystem(trx, id);
    if (!before) throw new NotFoundError();
    const lost = await previewAccessLoss(trx, { kind: "system", id });
    const groups = await groupsOfSystem(trx, id);
    const grants = await grantsOnForAudit(trx, { kind: "system", id });
    if (!(await systems.deleteSystem(trx, id, version))) throw new StaleWriteError(before);
    await recordAudit(trx, actor, {
      action: "system.deleted",
      target: { type: "system", id, label: before.name },
      details: { changes: diffFields<System>(before, {}, AUDITED), usersLosingAccess: [...new Set(lost.map((l) => l.username))], groups, grants },
    });
    return { system: before, lost };
  });
}
