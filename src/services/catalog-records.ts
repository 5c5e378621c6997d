import type { Db, Queryable } from "../db/index.ts";
import { type ConflictError, NotFoundError, StaleWriteError } from "../errors.ts";
import { previewAccessLoss } from "../repositories/access-loss.ts";
import type { AccessLoss } from "../types/access.ts";
import type { Actor } from "../types/user.ts";
import { diffFields, recordAudit, unchanged } from "./audit.ts";
import { isUniqueViolation, nameTakenError } from "./errors-map.ts";

/** A named, versioned record of the catalogue: a team, a system group or a system. */
export interface CatalogRecord {
  id: number;
  name: string;
  version: number;
}

/**
 * How one kind of catalogue record is stored: its repository's functions, the fields its audit events list, and
 * its kind, which names its audit events ("team.updated") and its name-clash message.
 */
export interface CatalogStore<T extends CatalogRecord, F> {
  kind: "team" | "group" | "system";
  /** The answer for an id with no record: "There is no such team." */
  missing: string;
  audited: readonly (keyof T & string)[];
  select(db: Queryable, id: number): Promise<T | undefined>;
  selectByName(db: Queryable, name: string): Promise<T | undefined>;
  /** undefined when the name is taken. */
  insert(db: Queryable, fields: F): Promise<T | undefined>;
  /** undefined when the version moved on (or the record is gone). */
  update(db: Queryable, id: number, expectedVersion: number, fields: Partial<F>): Promise<T | undefined>;
  /** false when the version moved on (or the record is gone). */
  delete(db: Queryable, id: number, expectedVersion: number): Promise<boolean>;
  /**
   * For a kind with unique fields besides its name (a system's web address): the 409 naming the field that another
   * record (not `exceptId`) already has, if one does. Asked when a write breaks a unique index.
   */
  otherClash?(db: Queryable, fields: Partial<F>, exceptId?: number): Promise<ConflictError | undefined>;
}

async function nameTaken<T extends CatalogRecord, F>(db: Queryable, store: CatalogStore<T, F>, name: string) {
  return nameTakenError(store.kind, name, (await store.selectByName(db, name))?.name);
}

/** The 409 for a write that broke a unique index: the other unique field that clashes, else the name. */
async function clashOf<T extends CatalogRecord, F>(db: Queryable, store: CatalogStore<T, F>, fields: Partial<F>, exceptId?: number) {
  return (await store.otherClash?.(db, fields, exceptId)) ?? nameTaken(db, store, (fields as { name?: string }).name ?? "");
}

/** The record, or a 404. */
export async function existingRecord<T extends CatalogRecord, F>(db: Queryable, store: CatalogStore<T, F>, id: number): Promise<T> {
  const record = await store.select(db, id);
  if (!record) throw new NotFoundError(store.missing);
  return record;
}

/** The audit event of a change to a record: what was done, to which record (by its name now), and what changed. */
function recordChange<T extends CatalogRecord, F>(
  trx: Queryable,
  actor: Actor,
  store: CatalogStore<T, F>,
  done: "created" | "updated" | "deleted",
  record: T,
  details: Record<string, unknown>,
) {
  return recordAudit(trx, actor, { action: `${store.kind}.${done}`, target: { type: store.kind, id: record.id, label: record.name }, details });
}

/** Creates the record and its audit event in one transaction; a taken name is a 409 naming the existing one. */
export async function createRecord<T extends CatalogRecord, F>(db: Db, actor: Actor, store: CatalogStore<T, F>, fields: F): Promise<T> {
  try {
    return await db.transaction(async (trx) => {
      const record = await store.insert(trx, fields);
      if (!record) throw await nameTaken(trx, store, (fields as { name: string }).name);
      await recordChange(trx, actor, store, "created", record, { changes: diffFields<T>({}, record, store.audited) });
      return record;
    });
  } catch (error) {
    // The insert skips a taken name by itself; another unique field (a web address) breaks its index instead.
    if (isUniqueViolation(error)) throw await clashOf(db, store, fields);
    throw error;
  }
}

/**
 * Saves the fields given (undefined ones stay as they are) if `version` is still the stored one. Saving what is
 * already there moves no version on and writes no event, but a stale version is refused all the same; a name
 * taken meanwhile is a 409 naming the other.
 */
export async function updateRecord<T extends CatalogRecord, F>(
  db: Db,
  actor: Actor,
  store: CatalogStore<T, F>,
  id: number,
  version: number,
  given: Partial<F>,
): Promise<T> {
  const fields = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined)) as Partial<F>;
  try {
    return await db.transaction(async (trx) => {
      const before = await existingRecord(trx, store, id);
      if (unchanged<T>(before, fields as Partial<T>, store.audited)) {
        if (before.version !== version) throw new StaleWriteError(before);
        return before;
      }
      const after = await store.update(trx, id, version, fields);
      if (!after) throw new StaleWriteError(before);
      await recordChange(trx, actor, store, "updated", after, { changes: diffFields<T>(before, after, store.audited) });
      return after;
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw await clashOf(db, store, fields, id);
    throw error;
  }
}

/**
 * Deletes the record if `version` is still the stored one, in one transaction with its audit event, which names
 * who lost access through it and whatever `related` reads before the rows go (members, grants, links).
 */
export async function deleteRecord<T extends CatalogRecord, F>(
  db: Db,
  actor: Actor,
  store: CatalogStore<T, F>,
  id: number,
  version: number,
  related: (trx: Queryable) => Promise<Record<string, unknown>>,
): Promise<{ record: T; lost: AccessLoss[] }> {
  return db.transaction(async (trx) => {
    const before = await existingRecord(trx, store, id);
    const lost = await previewAccessLoss(trx, { kind: store.kind, id });
    const details = await related(trx);
    if (!(await store.delete(trx, id, version))) throw new StaleWriteError(before);
    const usersLosingAccess = [...new Set(lost.map((l) => l.username))];
    await recordChange(trx, actor, store, "deleted", before, { changes: diffFields<T>(before, {}, store.audited), usersLosingAccess, ...details });
    return { record: before, lost };
  });
}

/** What a policy's assertCan is asked for the writes of a catalogue record. */
export type RecordGuard = (actor: Actor, action: "create" | "update" | "delete") => void;

/**
 * The create, update, delete and delete preview of one kind of record, each after its policy said yes. `related`
 * reads what the deletion's audit event lists besides the record (members, links, grants).
 */
export function guardedRecords<T extends CatalogRecord, F>(
  store: CatalogStore<T, F>,
  guard: RecordGuard,
  related: (trx: Queryable, id: number) => Promise<Record<string, unknown>>,
) {
  return {
    async create(db: Db, actor: Actor, fields: F): Promise<T> {
      guard(actor, "create");
      return createRecord(db, actor, store, fields);
    },
    async update(db: Db, actor: Actor, id: number, version: number, fields: Partial<F>): Promise<T> {
      guard(actor, "update");
      return updateRecord(db, actor, store, id, version, fields);
    },
    async remove(db: Db, actor: Actor, id: number, version: number): Promise<{ record: T; lost: AccessLoss[] }> {
      guard(actor, "delete");
      return deleteRecord(db, actor, store, id, version, (trx) => related(trx, id));
    },
    /** Who would lose access if the record went, for the delete confirmation. */
    async previewDeletion(db: Queryable, actor: Actor, id: number): Promise<AccessLoss[]> {
      guard(actor, "delete");
      return previewAccessLoss(db, { kind: store.kind, id });
    },
  };
}
