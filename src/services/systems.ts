import type { Db } from "../db/index.ts";
import { ConflictError, NotFoundError, StaleWriteError } from "../errors.ts";
import { type AccessLoss, previewAccessLoss } from "../repositories/access-loss.ts";
import * as systems from "../repositories/systems.ts";
import type { System } from "../types/catalog.ts";
import type { Actor } from "../types/user.ts";
import { diffFields, recordAudit } from "./audit.ts";
import { isUniqueViolation } from "./errors-map.ts";

const AUDITED = ["name", "host", "description", "notes"] as const;

function nameTaken(name: string): ConflictError {
  return new ConflictError(`A system named "${name}" already exists.`, {
    name: `The name "${name}" is already used by another system (names are compared without regard to case).`,
  });
}

export async function createSystem(db: Db, actor: Actor, fields: systems.SystemFields): Promise<System> {
  return db.transaction(async (trx) => {
    const system = await systems.insertSystem(trx, fields);
    if (!system) throw nameTaken(fields.name);
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
    if (isUniqueViolation(error)) throw nameTaken(fields.name ?? "");
    throw error;
  }
}

/** Deletes the system, its group links and every grant on it, in one transaction; returns who lost access. */
export async function deleteSystem(db: Db, actor: Actor, id: number, version: number): Promise<{ system: System; lost: AccessLoss[] }> {
  return db.transaction(async (trx) => {
    const before = await systems.findSystem(trx, id);
    if (!before) throw new NotFoundError();
    const lost = await previewAccessLoss(trx, { kind: "system", id });
    if (!(await systems.deleteSystem(trx, id, version))) throw new StaleWriteError(before);
    await recordAudit(trx, actor, {
      action: "system.deleted",
      target: { type: "system", id, label: before.name },
      details: { changes: diffFields<System>(before, {}, AUDITED), usersLosingAccess: [...new Set(lost.map((l) => l.username))] },
    });
    return { system: before, lost };
  });
}
