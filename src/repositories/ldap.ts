import type { Queryable } from "../db/index.ts";
import type { LdapServerSettings } from "../types/ldap-server.ts";

/** A directory server as stored: the bind password still sealed. */
export interface LdapServerRecord extends LdapServerSettings {
  id: number;
  position: number;
  sealedBindPassword: string | null;
  version: number;
}

export type LdapServerFields = Omit<LdapServerRecord, "id" | "position" | "version">;

interface ServerRow {
  id: string | number;
  position: number;
  url: string;
  start_tls: boolean;
  ca_certificate: string;
  verify_certificate: boolean;
  base_dn: string;
  group_search_base: string;
  user_id_field: string;
  group_id_field: string;
  bind_dn: string;
  bind_password: string | null;
  email_attribute: string;
  full_name_attribute: string;
  version: number;
}

const SERVER_COLUMNS = [
  "id",
  "position",
  "url",
  "start_tls",
  "ca_certificate",
  "verify_certificate",
  "base_dn",
  "group_search_base",
  "user_id_field",
  "group_id_field",
  "bind_dn",
  "bind_password",
  "email_attribute",
  "full_name_attribute",
  "version",
] as const;

function toServer(row: ServerRow): LdapServerRecord {
  return {
    id: Number(row.id),
    position: row.position,
    url: row.url,
    startTls: row.start_tls,
    caCertificate: row.ca_certificate,
    verifyCertificate: row.verify_certificate,
    baseDn: row.base_dn,
    groupSearchBase: row.group_search_base,
    userIdField: row.user_id_field,
    groupIdField: row.group_id_field,
    bindDn: row.bind_dn,
    sealedBindPassword: row.bind_password,
    emailAttribute: row.email_attribute,
    fullNameAttribute: row.full_name_attribute,
    version: row.version,
  };
}

function toRow(fields: LdapServerFields) {
  return {
    url: fields.url,
    start_tls: fields.startTls,
    ca_certificate: fields.caCertificate,
    verify_certificate: fields.verifyCertificate,
    base_dn: fields.baseDn,
    group_search_base: fields.groupSearchBase,
    user_id_field: fields.userIdField,
    group_id_field: fields.groupIdField,
    bind_dn: fields.bindDn,
    bind_password: fields.sealedBindPassword,
    email_attribute: fields.emailAttribute,
    full_name_attribute: fields.fullNameAttribute,
  };
}

/** The servers in the order sign-in tries them. */
export async function listServers(db: Queryable): Promise<LdapServerRecord[]> {
  const rows = await db("ldap_servers").select(SERVER_COLUMNS).orderBy([{ column: "position" }, { column: "id" }]);
  return (rows as ServerRow[]).map(toServer);
}

export async function countServers(db: Queryable): Promise<number> {
  const rows = await db("ldap_servers").count<{ count: string | number }[]>({ count: "*" });
  return Number(rows[0]?.count ?? 0);
}

export async function findServer(db: Queryable, id: number): Promise<LdapServerRecord | undefined> {
  const row = await db("ldap_servers").select(SERVER_COLUMNS).where({ id }).first<ServerRow | undefined>();
  return row ? toServer(row) : undefined;
}

/** Adds a server at the end of the list. */
export async function insertServer(db: Queryable, fields: LdapServerFields): Promise<LdapServerRecord> {
  const rows = await db("ldap_servers")
    .insert({ ...toRow(fields), position: db.raw("(SELECT coalesce(max(position), 0) + 1 FROM ldap_servers)") })
    .returning<ServerRow[]>(SERVER_COLUMNS);
  return toServer(rows[0] as ServerRow);
}

/** Saves the form only if nobody saved since `expectedVersion`; undefined means the write lost the race (or the server is gone). */
export async function updateServer(db: Queryable, id: number, expectedVersion: number, fields: LdapServerFields): Promise<LdapServerRecord | undefined> {
  const rows = await db("ldap_servers")
    .where({ id, version: expectedVersion })
    .update({ ...toRow(fields), version: db.raw("version + 1"), updated_at: db.fn.now() })
    .returning<ServerRow[]>(SERVER_COLUMNS);
  return rows[0] ? toServer(rows[0]) : undefined;
}

export async function deleteServer(db: Queryable, id: number): Promise<LdapServerRecord | undefined> {
  const rows = await db("ldap_servers").where({ id }).delete().returning<ServerRow[]>(SERVER_COLUMNS);
  return rows[0] ? toServer(rows[0]) : undefined;
}

/** Locks every server row (in order) so a reorder sees and writes one consistent list. */
export async function lockServers(db: Queryable): Promise<LdapServerRecord[]> {
  const rows = await db("ldap_servers").select(SERVER_COLUMNS).orderBy([{ column: "position" }, { column: "id" }]).forUpdate();
  return (rows as ServerRow[]).map(toServer);
}

export async function setServerPosition(db: Queryable, id: number, position: number): Promise<void> {
  await db("ldap_servers").where({ id }).update({ position });
}

// Default teams -----------------------------------------------------------------------------------------------

export interface DirectoryTeam {
  id: number;
  name: string;
}

export async function listDefaultTeams(db: Queryable): Promise<DirectoryTeam[]> {
  const rows = await db("ldap_default_teams as d").join("teams as t", "t.id", "d.team_id").select("t.id", "t.name").orderBy("t.name_key");
  return (rows as { id: string | number; name: string }[]).map((r) => ({ id: Number(r.id), name: r.name }));
}

export async function addDefaultTeam(db: Queryable, teamId: number): Promise<boolean> {
  const rows = await db("ldap_default_teams").insert({ team_id: teamId }).onConflict("team_id").ignore().returning("team_id");
  return rows.length > 0;
}

export async function removeDefaultTeam(db: Queryable, teamId: number): Promise<boolean> {
  const rows = await db("ldap_default_teams").where({ team_id: teamId }).delete().returning("team_id");
  return rows.length > 0;
}

// Group mappings ----------------------------------------------------------------------------------------------

export interface GroupMapping {
  id: number;
  groupName: string;
  teamId: number;
  teamName: string;
}

export async function listGroupMappings(db: Queryable): Promise<GroupMapping[]> {
  const rows = await db("ldap_group_mappings as m")
    .join("teams as t", "t.id", "m.team_id")
    .select("m.id", "m.group_name", "m.team_id", "t.name as team_name")
    .orderBy([{ column: "m.group_key" }, { column: "t.name_key" }]);
  return (rows as { id: string | number; group_name: string; team_id: string | number; team_name: string }[]).map((r) => ({
    id: Number(r.id),
    groupName: r.group_name,
    teamId: Number(r.team_id),
    teamName: r.team_name,
  }));
}

export async function addGroupMapping(db: Queryable, groupName: string, groupKey: string, teamId: number): Promise<boolean> {
  const rows = await db("ldap_group_mappings")
    .insert({ group_name: groupName, group_key: groupKey, team_id: teamId })
    .onConflict(["group_key", "team_id"])
    .ignore()
    .returning("id");
  return rows.length > 0;
}

export async function removeGroupMapping(db: Queryable, id: number): Promise<GroupMapping | undefined> {
  const [mapping] = (await listGroupMappings(db)).filter((m) => m.id === id);
  if (!mapping) return undefined;
  const rows = await db("ldap_group_mappings").where({ id }).delete().returning("id");
  return rows.length > 0 ? mapping : undefined;
}

/** The teams that the given directory groups (by key) map to. */
export async function teamIdsForGroups(db: Queryable, groupKeys: string[]): Promise<number[]> {
  if (groupKeys.length === 0) return [];
  const rows = await db("ldap_group_mappings").distinct("team_id").whereIn("group_key", groupKeys);
  return (rows as { team_id: string | number }[]).map((r) => Number(r.team_id));
}

/** Makes concurrent adds and edits of directory servers take turns until the transaction ends; reads go on. */
export async function lockServersForWriting(trx: Queryable): Promise<void> {
  await trx.raw("LOCK TABLE ldap_servers IN SHARE ROW EXCLUSIVE MODE");
}
