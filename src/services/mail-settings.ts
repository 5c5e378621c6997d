import type { Db, Queryable } from "../db/index.ts";
import { assertCan as assertCanOnSettings } from "../policies/settings.ts";
import { ConflictError, ValidationError } from "../errors.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import { openSecret, sealSecret } from "../lib/secret-box.ts";
import type { SmtpConnection, SmtpSecurity } from "../mail/transport.ts";
import * as settings from "../repositories/settings.ts";
import type { Actor } from "../types/user.ts";
import { diffFields, recordAudit, SECRET_MASK } from "./audit.ts";

const SMTP_KEY = "smtp";

const STALE_SETTINGS = "Someone else saved these settings after you opened them. Review the current values and save again.";

export const EMAIL_NOT_CONFIGURED =
  "Email is not configured, so no code can be sent. An administrator must set up the mail server under Settings › Alert Services first.";

/** What the settings row holds: the password only sealed. */
interface StoredSmtp {
  host: string;
  port: number;
  security: SmtpSecurity;
  authUser: string;
  authPassSealed: string | null;
  fromName: string;
  fromAddress: string;
}

export interface SmtpSettingsView {
  host: string;
  port: number;
  security: SmtpSecurity;
  authUser: string;
  hasAuthPass: boolean;
  from: string;
  version: number;
}

export interface SmtpSettingsInput {
  host: string;
  port: number;
  security: SmtpSecurity;
  authUser: string;
  /** undefined keeps the stored password; "" removes it. */
  authPass: string | undefined;
  from: { name: string; address: string };
}

export function formatFrom(from: { name: string; address: string }): string {
  return from.name ? `${from.name} <${from.address}>` : from.address;
}

/** Where and as whom the stored settings send: what the page shows, the outbox uses and the audit compares. */
function serverOf(v: StoredSmtp): Pick<SmtpConnection, "host" | "port" | "security" | "authUser"> {
  return { host: v.host, port: v.port, security: v.security, authUser: v.authUser };
}

function fromOf(v: StoredSmtp): { name: string; address: string } {
  return { name: v.fromName, address: v.fromAddress };
}

function view(stored: settings.StoredSettings<StoredSmtp>): SmtpSettingsView {
  const v = stored.value;
  return {
    ...serverOf(v),
    hasAuthPass: v.authPassSealed !== null,
    from: formatFrom(fromOf(v)),
    version: stored.version,
  };
}

export async function readSmtpSettings(db: Queryable): Promise<SmtpSettingsView | undefined> {
  const stored = await settings.readSettings<StoredSmtp>(db, SMTP_KEY);
  return stored ? view(stored) : undefined;
}

export async function isMailConfigured(db: Queryable): Promise<boolean> {
  return (await settings.readSettings<StoredSmtp>(db, SMTP_KEY)) !== undefined;
}

/** Throws the "Email is not configured" error against `field` when no mail server is set up. */
export async function assertMailConfigured(db: Queryable, field: string): Promise<void> {
  if (!(await isMailConfigured(db))) throw new ValidationError({ [field]: EMAIL_NOT_CONFIGURED }, EMAIL_NOT_CONFIGURED);
}

/** The connection to send with, password decrypted; undefined when mail is not configured. */
export async function smtpConnection(db: Queryable, keys: SecretKeys): Promise<SmtpConnection | undefined> {
  const stored = await settings.readSettings<StoredSmtp>(db, SMTP_KEY);
  if (!stored) return undefined;
  const v = stored.value;
  return {
    ...serverOf(v),
    authPass: v.authPassSealed ? openSecret(keys.storage, v.authPassSealed) : "",
    from: fromOf(v),
  };
}

/** The form's values as a connection, for "Send test email" before (or without) saving; a blank password keeps the stored one. */
export async function connectionFromInput(db: Queryable, keys: SecretKeys, input: SmtpSettingsInput): Promise<SmtpConnection> {
  let authPass = input.authPass ?? "";
  if (input.authPass === undefined && input.authUser) authPass = (await smtpConnection(db, keys))?.authPass ?? "";
  return { host: input.host, port: input.port, security: input.security, authUser: input.authUser, authPass, from: input.from };
}

export async function saveSmtpSettings(
  db: Db,
  actor: Actor,
  keys: SecretKeys,
  expectedVersion: number,
  input: SmtpSettingsInput,
): Promise<SmtpSettingsView> {
  assertCanOnSettings(actor, "change");
  return db.transaction(async (trx) => {
    const before = await settings.readSettings<StoredSmtp>(trx, SMTP_KEY);
    if ((before?.version ?? 0) !== expectedVersion) {
      throw new ConflictError(STALE_SETTINGS);
    }
    let authPassSealed: string | null;
    if (!input.authUser || input.authPass === "") authPassSealed = null;
    else if (input.authPass === undefined) authPassSealed = before?.value.authPassSealed ?? null;
    else authPassSealed = sealSecret(keys.storage, input.authPass);
    const value: StoredSmtp = {
      host: input.host,
      port: input.port,
      security: input.security,
      authUser: input.authUser,
      authPassSealed,
      fromName: input.from.name,
      fromAddress: input.from.address,
    };
    const saved = await settings.writeSettings(trx, SMTP_KEY, expectedVersion, value);
    if (!saved) throw new ConflictError(STALE_SETTINGS);
    const shown = (v: StoredSmtp | undefined) => (v ? { ...serverOf(v), from: formatFrom(fromOf(v)) } : {});
    const changes: Record<string, unknown> = diffFields(shown(before?.value), shown(value), ["host", "port", "security", "authUser", "from"]);
    if (input.authPass !== undefined && (input.authPass !== "" || before?.value.authPassSealed))
      changes.authPass = { from: before?.value.authPassSealed ? SECRET_MASK : null, to: authPassSealed ? SECRET_MASK : null };
    await recordAudit(trx, actor, { action: "settings.smtp_updated", target: { type: "settings", id: "smtp", label: "Alert Services" }, details: { changes } });
    return view(saved);
  });
}

export async function clearSmtpSettings(db: Db, actor: Actor): Promise<void> {
  assertCanOnSettings(actor, "change");
  await db.transaction(async (trx) => {
    const removed = await settings.deleteSettings(trx, SMTP_KEY);
    if (removed)
      await recordAudit(trx, actor, { action: "settings.smtp_cleared", target: { type: "settings", id: "smtp", label: "Alert Services" } });
  });
}
