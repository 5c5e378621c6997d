import type ldap from "ldapjs";
import type { DirectoryUser } from "passport-ldapauth";
import type { DirectoryServer } from "./connection.ts";

/** What a successful directory sign-in tells Gatehouse about the person. */
export interface DirectoryEntry {
  serverId: number;
  dn: string;
  /** The directory's stable id (entryUUID; objectGUID on Active Directory; the DN as a last resort). */
  externalId: string;
  /** The entry's own spelling of the login name (the User ID Field). */
  username: string;
  fullName: string;
  email: string | null;
  /** Names (Group ID Field) of the groups the entry is a member of. */
  groups: string[];
}

export function firstValue(value: unknown): string | null {
  if (Array.isArray(value)) return firstValue(value[0]);
  if (typeof value === "string") return value;
  if (Buffer.isBuffer(value)) return value.toString("hex");
  return null;
}

function allValues(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(allValues);
  const one = firstValue(value);
  return one === null ? [] : [one];
}

export function toEntry(server: DirectoryServer, user: DirectoryUser, typedUsername: string): DirectoryEntry {
  const names = allValues(user[server.userIdField]);
  const username = names.find((name) => name.toLowerCase() === typedUsername.toLowerCase()) ?? names[0] ?? typedUsername;
  const externalId = firstValue(user.entryUUID) ?? firstValue(user.objectGUID) ?? user.dn.toLowerCase();
  const groups = (user._groups ?? []).flatMap((group) => allValues(group[server.groupIdField]));
  return {
    serverId: server.id,
    dn: user.dn,
    externalId,
    username,
    fullName: firstValue(user[server.fullNameAttribute]) ?? "",
    email: firstValue(user[server.emailAttribute]),
    groups: [...new Set(groups)],
  };
}

/** A search entry in the shape ldapauth-fork gives: one value as a string, several as an array. */
export function asDirectoryUser(entry: ldap.SearchEntry): DirectoryUser {
  const object: Record<string, unknown> = {};
  for (const attribute of entry.pojo.attributes) object[attribute.type] = attribute.values.length === 1 ? attribute.values[0] : attribute.values;
  return { ...object, dn: entry.pojo.objectName };
}

export function attributeOf(entry: ldap.SearchEntry, name: string): string[] {
  const attribute = entry.pojo.attributes.find((a) => a.type.toLowerCase() === name.toLowerCase());
  return attribute ? attribute.values.map(String) : [];
}
