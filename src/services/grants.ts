import type { Db, Queryable } from "../db/index.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import * as grants from "../repositories/grants.ts";
import { findGroup } from "../repositories/system-groups.ts";
import { findSystem } from "../repositories/systems.ts";
import { findTeam } from "../repositories/teams.ts";
import { findUserById } from "../repositories/users.ts";
import { type GrantPermission, LEVEL_BY_PERMISSION, PERMISSION_BY_LEVEL } from "../types/access.ts";
import type { Actor } from "../types/user.ts";
import { recordAudit } from "./audit.ts";

export type { Subject, Target } from "../repositories/grants.ts";

async function subjectLabel(db: Queryable, subject: grants.Subject): Promise<string> {
  const found = subject.kind === "user" ? (await findUserById(db, subject.id))?.username : (await findTeam(db, subject.id))?.name;
  if (found === undefined) throw new NotFoundError();
  return found;
}

async function targetLabel(db: Queryable, target: grants.Target, field: string): Promise<string> {
  const found = target.kind === "system" ? (await findSystem(db, target.id))?.name : (await findGroup(db, target.id))?.name;
  if (found === undefined)
    throw new ValidationError({ [field]: `Choose a ${target.kind} from the list; that one no longer exists.` });
  return found;
}

function auditTarget(subject: grants.Subject, label: string) {
  return { type: subject.kind, id: subject.id, label };
}

/**
 * Grants `permission` on a system or group to a user or team. Granting what already exists changes nothing
 * (a double submit stays one grant); use `changeGrant` to change the permission.
 */
export async function addGrant(db: Db, actor: Actor, subject: grants.Subject, target: grants.Target, permission: GrantPermission) {
  return db.transaction(async (trx) => {
    const subjectName = await subjectLabel(trx, subject);
    const targetName = await targetLabel(trx, target, target.kind === "system" ? "systemId" : "groupId");
    const added = await grants.insertGrant(trx, subject, target, LEVEL_BY_PERMISSION[permission]);
    if (added)
      await recordAudit(trx, actor, {
        action: "grant.added",
        target: auditTarget(subject, subjectName),
        details: { [target.kind]: { id: target.id, name: targetName }, permission: { from: null, to: permission } },
      });
    return { added, targetName };
  });
}

export async function changeGrant(db: Db, actor: Actor, subject: grants.Subject, target: grants.Target, permission: GrantPermission) {
  return db.transaction(async (trx) => {
    const subjectName = await subjectLabel(trx, subject);
    const targetName = await targetLabel(trx, target, "permission");
    const before = await grants.setGrantLevel(trx, subject, target, LEVEL_BY_PERMISSION[permission]);
    if (before === undefined) throw new NotFoundError("That access was already removed.");
    const from = PERMISSION_BY_LEVEL[before];
    if (from !== permission)
      await recordAudit(trx, actor, {
        action: "grant.changed",
        target: auditTarget(subject, subjectName),
        details: { [target.kind]: { id: target.id, name: targetName }, permission: { from, to: permission } },
      });
    return { targetName, changed: from !== permission };
  });
}

/** Removing a grant that is already gone is a no-op. */
export async function removeGrant(db: Db, actor: Actor, subject: grants.Subject, target: grants.Target) {
  return db.transaction(async (trx) => {
    const subjectName = await subjectLabel(trx, subject);
    const before = await grants.deleteGrant(trx, subject, target);
    const targetName = target.kind === "system" ? (await findSystem(trx, target.id))?.name : (await findGroup(trx, target.id))?.name;
    if (before !== undefined)
      await recordAudit(trx, actor, {
        action: "grant.removed",
        target: auditTarget(subject, subjectName),
        details: { [target.kind]: { id: target.id, name: targetName ?? null }, permission: { from: PERMISSION_BY_LEVEL[before], to: null } },
      });
    return { removed: before !== undefined, targetName: targetName ?? null };
  });
}
