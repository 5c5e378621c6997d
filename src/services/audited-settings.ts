import type { Queryable } from "../db/index.ts";
import { ConflictError } from "../errors.ts";
import * as settings from "../repositories/settings.ts";
import type { Actor } from "../types/user.ts";
import { diffFields, recordAudit } from "./audit.ts";

/** A settings document as its page saves it: where it is stored, and how the audit log names and compares it. */
export interface AuditedSettings<T extends object> {
  /** The settings row, which is also the audit target's id. */
  key: string;
  label: string;
  action: string;
  fields: readonly (keyof T & string)[];
  /** Said when someone else saved after the form was opened. */
  staleMessage: string;
}

/** Writes `value` if nobody saved since `expectedVersion`, and audits the fields that changed from `before`. */
export async function writeAuditedSettings<T extends object>(
  trx: Queryable,
  actor: Actor,
  document: AuditedSettings<T>,
  expectedVersion: number,
  before: T,
  value: T,
): Promise<void> {
  const saved = await settings.writeSettings(trx, document.key, expectedVersion, value);
  if (!saved) throw new ConflictError(document.staleMessage);
  await recordAudit(trx, actor, {
    action: document.action,
    target: { type: "settings", id: document.key, label: document.label },
    details: { changes: diffFields<T>(before, value, document.fields) },
  });
}
