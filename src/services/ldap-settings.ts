import type { Db, Queryable } from "../db/index.ts";
import { assertCan as assertCanOnSettings } from "../policies/settings.ts";
import { ConflictError, NotFoundError, ValidationError } from "../errors.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import { nameKey } from "../lib/fields.ts";
import { openSecret, sealSecret } from "../lib/secret-box.ts";
import type { BreakerChange } from "../ldap/circuit-breaker.ts";
import type { DirectoryServer } from "../ldap/connection.ts";
import { type CheckResult, checkServer } from "../ldap/server-check.ts";
import * as ldap from "../repositories/ldap.ts";
import * as settings from "../repositories/settings.ts";
import * as teams from "../repositories/teams.ts";
import type { Actor } from "../types/user.ts";
import { diffFields, recordAudit, SECRET_MASK, SYSTEM_ACTOR } from "./audit.ts";
import { type AuditedSettings, writeAuditedSettings } from "./audited-settings.ts";

const OPTIONS_KEY = "ldap";
const SETTINGS_TARGET = { type: "settings", id: "ldap", label: "LDAP" } as const;
const STALE_SERVER = "Someone else saved this LDAP server after you opened it. Review the current values and save again.";
const STALE_OPTIONS = "Someone else saved the LDAP configuration after you opened it. Review the current values and save again.";

/** A server as the settings page shows it: never the bind password, only whether one is stored. */
export type LdapServerView = Omit<ldap.LdapServerRecord, "sealedBindPassword"> & { hasBindPassword: boolean };

/** The server form: a server's fields, where `bindPassword` undefined keeps the stored one and `removeBindPassword` clears it. */
export type LdapServerInput = Omit<DirectoryServer, "id" | "bindPassword"> & { bindPassword: string | undefined; removeBindPassword: boolean };

function view(record: ldap.LdapServerRecord): LdapServerView {
  const { sealedBindPassword, ...rest } = record;
  return { ...rest, hasBindPassword: sealedBindPassword !== null };
}

function serverLabel(record: { url: string; baseDn: string }): string {
  return `${record.url} (${record.baseDn})`;
}

/** The audited form of a server: the password as a mask, present or not. */
function audited(record: ldap.LdapServerRecord | ldap.LdapServerFields) {
  const { sealedBindPassword, ...rest } = record as ldap.LdapServerRecord;
  return { ...rest, bindPassword: sealedBindPassword ? SECRET_MASK : null } as Record<string, unknown>;
}

export async function listLdapServers(db: Queryable): Promise<LdapServerView[]> {
  return (await ldap.listServers(db)).map(view);
}

/** The stored server, or a 404 when there is none with that id (any more). */
async function storedServer(db: Queryable, id: number): Promise<ldap.LdapServerRecord> {
  const record = await ldap.findServer(db, id);
  if (!record) throw new NotFoundError();
  return record;
}

export async function findLdapServer(db: Queryable, id: number): Promise<LdapServerView> {
  return view(await storedServer(db, id));
}

export async function isLdapConfigured(db: Queryable): Promise<boolean> {
  return (await ldap.countServers(db)) > 0;
}

function opened(keys: SecretKeys, record: ldap.LdapServerRecord): DirectoryServer {
  const { sealedBindPassword, position: _position, version: _version, ...rest } = record;
  return { ...rest, bindPassword: sealedBindPassword ? openSecret(keys.storage, sealedBindPassword) : null };
}

/** The servers sign-in tries, in order, with their bind passwords opened. */
export async function directoryServers(db: Queryable, keys: SecretKeys): Promise<DirectoryServer[]> {
  return (await ldap.listServers(db)).map((record) => opened(keys, record));
}

function fieldsFrom(keys: SecretKeys, input: LdapServerInput, storedSealed: string | null): ldap.LdapServerFields {
  const { bindPassword, removeBindPassword, ...rest } = input;
  let sealedBindPassword = storedSealed;
  if (removeBindPassword) sealedBindPassword = null;
  else if (bindPassword) sealedBindPassword = sealSecret(keys.storage, bindPassword);
  return { ...rest, sealedBindPassword };
}

/**
 * The stored bind password goes only to the server and account it was saved for: a form that points elsewhere
 * (another URL or Bind DN) must carry the password again, or a stolen session could send it to its own server.
 */
function storedPasswordFor(stored: ldap.LdapServerRecord | undefined, input: LdapServerInput): string | null {
  if (!stored || input.bindPassword || input.removeBindPassword) return stored?.sealedBindPassword ?? null;
  return stored.url === input.url && stored.bindDn === input.bindDn ? stored.sealedBindPassword : null;
}

const RETYPE_BIND_PASSWORD = "Type the Bind password again: the URL or Bind DN changed, and the stored password is only ever sent to the server it was saved for.";

/**
 * Two entries with the same URL, Domain and User ID Field look the same people up the same way, so the second
 * could never sign in anyone the first did not: it is the same server added twice (a double-submitted Add, most
 * likely). Refused on the URL field. The table lock makes two adds at the same moment take turns, so the second
 * sees the first (and the positions they take stay distinct).
 */
async function assertNotListedYet(trx: Queryable, input: Pick<LdapServerInput, "url" | "baseDn" | "userIdField">, exceptId?: number): Promise<void> {
  await ldap.lockServersForWriting(trx);
  const servers = await ldap.listServers(trx);
  const index = servers.findIndex(
    (s) =>
      s.id !== exceptId &&
      s.url === input.url &&
      s.baseDn.toLowerCase() === input.baseDn.toLowerCase() &&
      s.userIdField.toLowerCase() === input.userIdField.toLowerCase(),
  );
  if (index < 0) return;
  const message = `This LDAP server is already in the list (number ${index + 1}: ${input.url} with the same Domain and User ID Field). Edit that one instead of adding it again.`;
  throw new ValidationError({ url: message }, message, 409);
}

export async function addLdapServer(db: Db, actor: Actor, keys: SecretKeys, input: LdapServerInput): Promise<LdapServerView> {
  assertCanOnSettings(actor, "change");
  return db.transaction(async (trx) => {
    await assertNotListedYet(trx, input);
    const record = await ldap.insertServer(trx, fieldsFrom(keys, input, null));
    await recordAudit(trx, actor, {
      action: "settings.ldap_server_added",
      target: { type: "ldap_server", id: record.id, label: serverLabel(record) },
      details: { changes: diffFields({}, audited(record), Object.keys(audited(record)).filter((k) => k !== "id" && k !== "version")) },
    });
    return view(record);
  });
}

export async function updateLdapServer(
  db: Db,
  actor: Actor,
  keys: SecretKeys,
  id: number,
  expectedVersion: number,
  input: LdapServerInput,
): Promise<LdapServerView> {
  assertCanOnSettings(actor, "change");
  return db.transaction(async (trx) => {
    const before = await storedServer(trx, id);
    await assertNotListedYet(trx, input, id);
    if (before.sealedBindPassword && input.bindDn && storedPasswordFor(before, input) === null && !input.removeBindPassword)
      throw new ValidationError({ bindPassword: RETYPE_BIND_PASSWORD });
    const fields = fieldsFrom(keys, input, before.sealedBindPassword);
    const after = await ldap.updateServer(trx, id, expectedVersion, fields);
    if (!after) throw new ConflictError(STALE_SERVER);
    const changes = diffFields(audited(before), audited(after), Object.keys(audited(after)).filter((k) => !["id", "version", "position"].includes(k)));
    // A new password looks like the old mask; say that it changed.
    if (input.bindPassword && !input.removeBindPassword) changes.bindPassword = { from: before.sealedBindPassword ? SECRET_MASK : null, to: SECRET_MASK };
    await recordAudit(trx, actor, { action: "settings.ldap_server_changed", target: { type: "ldap_server", id, label: serverLabel(after) }, details: { changes } });
    return view(after);
  });
}

export async function removeLdapServer(db: Db, actor: Actor, id: number): Promise<LdapServerView> {
  assertCanOnSettings(actor, "change");
  return db.transaction(async (trx) => {
    const removed = await ldap.deleteServer(trx, id);
    if (!removed) throw new NotFoundError();
    const rest = await ldap.lockServers(trx);
    for (const [index, server] of rest.entries()) if (server.position !== index + 1) await ldap.setServerPosition(trx, server.id, index + 1);
    await recordAudit(trx, actor, { action: "settings.ldap_server_removed", target: { type: "ldap_server", id, label: serverLabel(removed) } });
    return view(removed);
  });
}

/** Moves a server one place up or down the order sign-in tries them in. */
export async function moveLdapServer(db: Db, actor: Actor, id: number, direction: "up" | "down"): Promise<void> {
  assertCanOnSettings(actor, "change");
  await db.transaction(async (trx) => {
    const servers = await ldap.lockServers(trx);
    const from = servers.findIndex((s) => s.id === id);
    if (from < 0) throw new NotFoundError();
    const to = direction === "up" ? from - 1 : from + 1;
    if (to < 0 || to >= servers.length) return;
    const order = servers.map((s) => s.id);
    [order[from], order[to]] = [order[to] as number, order[from] as number];
    for (const [index, serverId] of order.entries()) await ldap.setServerPosition(trx, serverId, index + 1);
    await recordAudit(trx, actor, {
      action: "settings.ldap_servers_reordered",
      target: SETTINGS_TARGET,
      details: { order: order.map((serverId) => serverLabel(servers.find((s) => s.id === serverId) as ldap.LdapServerRecord)) },
    });
  });
}

/** Test LDAP config for a stored server, or for the values of a form not saved yet. */
export async function testLdapServer(db: Queryable, keys: SecretKeys, target: { id: number } | { input: LdapServerInput; id?: number }, username?: string): Promise<CheckResult> {
  if ("input" in target) {
    const stored = target.id ? await ldap.findServer(db, target.id) : undefined;
    const fields = fieldsFrom(keys, target.input, storedPasswordFor(stored, target.input));
    return checkServer(opened(keys, { ...fields, id: target.id ?? 0, position: 0, version: 0 }), username);
  }
  return checkServer(opened(keys, await storedServer(db, target.id)), username);
}

// Options ----------------------------------------------------------------------------------------------------

export interface LdapOptions {
  /** Off by default: an LDAP sign-in works only for accounts that exist (TrueCommand's "Allow LDAP user creation"). */
  allowUserCreation: boolean;
  /** Off by default: at each LDAP sign-in, take away mapped teams whose groups the directory no longer lists. */
  removeUnmappedTeams: boolean;
}

export const DEFAULT_LDAP_OPTIONS: LdapOptions = { allowUserCreation: false, removeUnmappedTeams: false };

export async function readLdapOptions(db: Queryable): Promise<{ value: LdapOptions; version: number }> {
  const stored = await settings.readSettings<Partial<LdapOptions>>(db, OPTIONS_KEY);
  return { value: { ...DEFAULT_LDAP_OPTIONS, ...(stored?.value ?? {}) }, version: stored?.version ?? 0 };
}

const OPTIONS_DOCUMENT: AuditedSettings<LdapOptions> = {
  key: OPTIONS_KEY,
  label: SETTINGS_TARGET.label,
  action: "settings.ldap_changed",
  fields: ["allowUserCreation", "removeUnmappedTeams"],
  staleMessage: STALE_OPTIONS,
};

export async function saveLdapOptions(db: Db, actor: Actor, expectedVersion: number, value: LdapOptions): Promise<void> {
  assertCanOnSettings(actor, "change");
  await db.transaction(async (trx) => {
    const before = await readLdapOptions(trx);
    await writeAuditedSettings(trx, actor, OPTIONS_DOCUMENT, expectedVersion, before.value, value);
  });
}

// Default teams and group mappings ---------------------------------------------------------------------------

export function listLdapDefaultTeams(db: Queryable): Promise<ldap.DirectoryTeam[]> {
  return ldap.listDefaultTeams(db);
}

export function listLdapGroupMappings(db: Queryable): Promise<ldap.GroupMapping[]> {
  return ldap.listGroupMappings(db);
}

async function requireTeam(db: Queryable, teamId: number, field: string) {
  const team = await teams.selectTeam(db, teamId);
  if (!team) throw new ValidationError({ [field]: "Choose a team from the list; that one no longer exists." });
  return team;
}

export async function addLdapDefaultTeam(db: Db, actor: Actor, teamId: number): Promise<{ added: boolean; teamName: string }> {
  assertCanOnSettings(actor, "change");
  return db.transaction(async (trx) => {
    const team = await requireTeam(trx, teamId, "teamId");
    const added = await ldap.addDefaultTeam(trx, teamId);
    if (added) await recordAudit(trx, actor, { action: "settings.ldap_default_team_added", target: SETTINGS_TARGET, details: { team: { id: team.id, name: team.name } } });
    return { added, teamName: team.name };
  });
}

export async function removeLdapDefaultTeam(db: Db, actor: Actor, teamId: number): Promise<{ removed: boolean }> {
  assertCanOnSettings(actor, "change");
  return db.transaction(async (trx) => {
    const team = await teams.selectTeam(trx, teamId);
    const removed = await ldap.removeDefaultTeam(trx, teamId);
    if (removed)
      await recordAudit(trx, actor, { action: "settings.ldap_default_team_removed", target: SETTINGS_TARGET, details: { team: { id: teamId, name: team?.name ?? null } } });
    return { removed };
  });
}

/** Maps a directory group to one or more teams; mapping a pair twice changes nothing. */
export async function addLdapGroupMapping(db: Db, actor: Actor, groupName: string, teamIds: number[]): Promise<{ added: string[] }> {
  assertCanOnSettings(actor, "change");
  return db.transaction(async (trx) => {
    const added: string[] = [];
    for (const teamId of teamIds) {
      const team = await requireTeam(trx, teamId, "teamIds");
      if (await ldap.addGroupMapping(trx, groupName, nameKey(groupName), teamId)) {
        added.push(team.name);
        await recordAudit(trx, actor, { action: "settings.ldap_group_mapped", target: SETTINGS_TARGET, details: { group: groupName, team: { id: team.id, name: team.name } } });
      }
    }
    return { added };
  });
}

export async function removeLdapGroupMapping(db: Db, actor: Actor, id: number): Promise<ldap.GroupMapping | undefined> {
  assertCanOnSettings(actor, "change");
  return db.transaction(async (trx) => {
    const removed = await ldap.removeGroupMapping(trx, id);
    if (removed)
      await recordAudit(trx, actor, {
        action: "settings.ldap_group_unmapped",
        target: SETTINGS_TARGET,
        details: { group: removed.groupName, team: { id: removed.teamId, name: removed.teamName } },
      });
    return removed;
  });
}

/**
 * One audit event for each LDAP server that went down or came back during a sign-in (src/ldap/circuit-breaker.ts):
 * the installation's, not the person's, since the person only happened to be the one who noticed.
 */
export async function recordDirectoryServerChanges(db: Queryable, changes: readonly BreakerChange[]): Promise<void> {
  for (const change of changes)
    await recordAudit(db, SYSTEM_ACTOR, {
      action: change.to === "down" ? "directory.server_down" : "directory.server_up",
      target: { type: "ldap_server", id: change.serverId, label: change.url },
      details: change.detail ? { detail: change.detail } : {},
    });
}
