import type { Db, Queryable } from "../db/index.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import { assertCan } from "../policies/grants.ts";
import { NO_SUCH_GROUP } from "../policies/groups.ts";
import { NO_SUCH_SYSTEM } from "../policies/systems.ts";
import { NO_SUCH_TEAM } from "../policies/teams.ts";
import { NO_SUCH_USER } from "../policies/users.ts";
import * as grants from "../repositories/grants.ts";
import { selectGroup, selectGroups } from "../repositories/system-groups.ts";
import { selectSystem, selectSystemNames } from "../repositories/systems.ts";
import { selectTeam } from "../repositories/teams.ts";
import { findUserById } from "../repositories/users/index.ts";
import { type GrantPermission, LEVEL_BY_PERMISSION, PERMISSION_BY_LEVEL } from "../types/access.ts";
import type { Actor } from "../types/user.ts";
import { recordAudit } from "./audit.ts";
import { onForeignKeyViolation } from "./errors-map.ts";

export type { Subject, Target } from "../repositories/grants.ts";

/** The name of the user, team, system or group, if it exists. */
async function nameOf(db: Queryable, record: grants.Subject | grants.Target): Promise<string | undefined> {
  if (record.kind === "user") return (await findUserById(db, record.id))?.username;
  if (record.kind === "team") return (await selectTeam(db, record.id))?.name;
  if (record.kind === "system") return (await selectSystem(db, record.id))?.name;
  return (await selectGroup(db, record.id))?.name;
}

async function subjectLabel(db: Queryable, subject: grants.Subject): Promise<string> {
  const found = await nameOf(db, subject);
  if (found === undefined) throw new NotFoundError();
  return found;
}

function targetGone(target: grants.Target, field: string): ValidationError {
  return new ValidationError({ [field]: `Choose a ${target.kind} from the list; that one no longer exists.` });
}

async function targetLabel(db: Queryable, target: grants.Target, field: string): Promise<string> {
  const found = await nameOf(db, target);
  if (found === undefined) throw targetGone(target, field);
  return found;
}

/**
 * The grants on a system or group as an audit record lists them, for the deletion that removes them with it
 * (the cascade writes no grant.removed event of its own).
 */
export async function grantsOnForAudit(db: Queryable, target: grants.Target) {
  return (await grants.grantsOn(db, target)).map((g) => ({ [g.subject]: { id: g.subjectId, name: g.subjectName }, permission: PERMISSION_BY_LEVEL[g.level] }));
}

/** The grants a team holds, as the audit record of its deletion lists them. */
export async function grantsOfTeamForAudit(db: Queryable, teamId: number) {
  const subject: grants.Subject = { kind: "team", id: teamId };
  const list = [];
  for (const kind of ["system", "group"] as const)
    for (const g of await grants.grantsOf(db, subject, kind)) list.push({ [kind]: { id: g.targetId, name: g.targetName }, permission: PERMISSION_BY_LEVEL[g.level] });
  return list;
}

const MISSING = { user: NO_SUCH_USER, team: NO_SUCH_TEAM, system: NO_SUCH_SYSTEM, group: NO_SUCH_GROUP } as const;

/** The name of the user, team, system or group a grant is for or on; a 404 naming its kind when there is none. */
export async function existingGrantParty(db: Queryable, actor: Actor, record: grants.Subject | grants.Target): Promise<string> {
  assertCan(actor, "manage");
  const found = await nameOf(db, record);
  if (found === undefined) throw new NotFoundError(MISSING[record.kind]);
  return found;
}

function auditTarget(subject: grants.Subject, label: string) {
  return { type: subject.kind, id: subject.id, label };
}

/**
 * Grants `permission` on a system or group to a user or team, in one transaction with one event for what changed.
 * An existing grant keeps its permission unless `replace` (an API PUT sets it; the console's Add leaves it, so a
 * double submit stays one grant). `created` when there was no grant before.
 */
async function writeGrant(db: Db, actor: Actor, subject: grants.Subject, target: grants.Target, permission: GrantPermission, replace: boolean) {
  assertCan(actor, "manage");
  const field = target.kind === "system" ? "systemId" : "groupId";
  return onForeignKeyViolation(
    () =>
      db.transaction(async (trx) => {
        const subjectName = await subjectLabel(trx, subject);
        const targetName = await targetLabel(trx, target, field);
        const level = LEVEL_BY_PERMISSION[permission];
        const created = await grants.insertGrant(trx, subject, target, level);
        const before = created || !replace ? undefined : await grants.setGrantLevel(trx, subject, target, level);
        const from = before === undefined ? null : PERMISSION_BY_LEVEL[before];
        const changed = created || (replace && from !== permission);
        if (changed)
          await recordAudit(trx, actor, {
            action: created ? "grant.added" : "grant.changed",
            target: auditTarget(subject, subjectName),
            details: { [target.kind]: { id: target.id, name: targetName }, permission: { from, to: permission } },
          });
        return { created, changed, targetName };
      }),
    // The user, team, system or group was deleted after this transaction read it: the page's subject gone is a 404,
    // the chosen target gone is an error on its field.
    async () => subjectLabel(db, subject).then(() => targetGone(target, field), (error: Error) => error),
  );
}

/** Grants `permission` unless a grant exists already; use `changeGrant` to change the permission. */
export async function addGrant(db: Db, actor: Actor, subject: grants.Subject, target: grants.Target, permission: GrantPermission) {
  const { created, targetName } = await writeGrant(db, actor, subject, target, permission, false);
  return { added: created, targetName };
}

/** Grants `permission`, whether or not a grant exists already. */
export function setGrant(db: Db, actor: Actor, subject: grants.Subject, target: grants.Target, permission: GrantPermission) {
  return writeGrant(db, actor, subject, target, permission, true);
}

/** The grants a user or team holds, on systems and on groups, each by target name. */
export async function grantsHeldBy(
  db: Queryable,
  actor: Actor,
  subject: grants.Subject,
): Promise<{ systems: grants.GrantRow[]; groups: grants.GrantRow[] }> {
  assertCan(actor, "manage");
  const [systems, groups] = await Promise.all([grants.grantsOf(db, subject, "system"), grants.grantsOf(db, subject, "group")]);
  return { systems, groups };
}

/** The grants a user or team holds, with every system and group a new grant could be on: its page's grant sections. */
export async function grantsWithChoices(db: Queryable, actor: Actor, subject: grants.Subject) {
  const [held, systems, groups] = await Promise.all([grantsHeldBy(db, actor, subject), selectSystemNames(db), selectGroups(db)]);
  return { systemGrants: held.systems, groupGrants: held.groups, systems, groups };
}

export async function changeGrant(db: Db, actor: Actor, subject: grants.Subject, target: grants.Target, permission: GrantPermission) {
  assertCan(actor, "manage");
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
  assertCan(actor, "manage");
  return db.transaction(async (trx) => {
    const subjectName = await subjectLabel(trx, subject);
    const before = await grants.deleteGrant(trx, subject, target);
    const targetName = await nameOf(trx, target);
    if (before !== undefined)
      await recordAudit(trx, actor, {
        action: "grant.removed",
        target: auditTarget(subject, subjectName),
        details: { [target.kind]: { id: target.id, name: targetName ?? null }, permission: { from: PERMISSION_BY_LEVEL[before], to: null } },
      });
    return { removed: before !== undefined, targetName: targetName ?? null };
  });
}
