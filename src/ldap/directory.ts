import type { Request } from "express";
import ldap from "ldapjs";
import LdapStrategy, { type DirectoryUser, type LdapServerOptions } from "passport-ldapauth";

/**
 * Everything Gatehouse says to an LDAP directory goes through this module (security.md §2.1: one small
 * module, so moving off the archived ldapjs stays a local change). Sign-in uses passport-ldapauth
 * (ldapauth-fork 6.1: search, then bind with the DN the directory returned); "Test LDAP config" walks the
 * same steps one by one with ldapjs to say which one failed. Filters are never built from typed text:
 * the library escapes `{{username}}`, and the test builds filter objects.
 */

/** ldapjs waits forever by default; these bound a dead or silent directory (security.md §2.1). */
export const DIRECTORY_TIMEOUTS = { connectMs: 5_000, operationMs: 8_000, serverTimeLimitSeconds: 5 } as const;
/** A last guard above the library's own timeouts, so no sign-in can hang on a directory. */
const ATTEMPT_DEADLINE_MS = DIRECTORY_TIMEOUTS.connectMs + DIRECTORY_TIMEOUTS.operationMs + 2_000;

/** A server as Gatehouse uses it, with its bind password opened. */
export interface DirectoryServer {
  id: number;
  url: string;
  startTls: boolean;
  caCertificate: string;
  verifyCertificate: boolean;
  baseDn: string;
  groupSearchBase: string;
  userIdField: string;
  groupIdField: string;
  bindDn: string;
  bindPassword: string | null;
  emailAttribute: string;
  fullNameAttribute: string;
}

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

/** Why a server did not sign someone in; the words stay in the log, the person sees one generic message. */
export type RejectReason = "invalid_credentials" | "no_such_user" | "ambiguous" | "account_restricted" | "missing_credentials";

export type ServerOutcome =
  | { status: "ok"; entry: DirectoryEntry }
  | { status: "rejected"; reason: RejectReason }
  | { status: "unavailable"; reason: "connection" | "tls" | "timeout" | "error"; detail: string };

export type DirectorySignIn =
  | { status: "ok"; entry: DirectoryEntry }
  | { status: "rejected"; reasons: { serverId: number; reason: RejectReason }[] }
  | { status: "unavailable"; problems: { serverId: number; reason: string; detail: string }[] };

/** passport-ldapauth's messages, replaced by codes: the person sees one message, the log gets the code. */
const STRATEGY_MESSAGES: Record<string, string> = {
  badRequestMessage: "missing_credentials",
  invalidCredentials: "invalid_credentials",
  userNotFound: "no_such_user",
  noSuchObject: "no_such_user",
  constraintViolation: "account_restricted",
  invalidLogonHours: "account_restricted",
  invalidWorkstation: "account_restricted",
  passwordExpired: "account_restricted",
  accountDisabled: "account_restricted",
  accountExpired: "account_restricted",
  passwordMustChange: "account_restricted",
  accountLockedOut: "account_restricted",
};

const TLS_ERROR = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|EPROTO|SSL|certificate|handshake/i;
const CONNECTION_ERROR = /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|connectRefused/i;

function errorText(error: unknown): string {
  if (typeof error === "string") return error;
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    return [error.name, typeof code === "string" ? code : undefined, error.message].filter(Boolean).join(": ");
  }
  return String(error);
}

/** Sorts a library error into what went wrong, for the log and for Test LDAP config. */
export function classifyDirectoryError(error: unknown): { reason: "connection" | "tls" | "timeout" | "error"; detail: string } {
  const detail = errorText(error);
  if (TLS_ERROR.test(detail)) return { reason: "tls", detail };
  if (/timeout|ETIMEDOUT/i.test(detail)) return { reason: "timeout", detail };
  if (CONNECTION_ERROR.test(detail)) return { reason: "connection", detail };
  return { reason: "error", detail };
}

function tlsOptions(server: DirectoryServer): { ca?: string[]; rejectUnauthorized: boolean } {
  return {
    ...(server.caCertificate.trim() ? { ca: [server.caCertificate] } : {}),
    rejectUnauthorized: server.verifyCertificate,
  };
}

const equals = (attribute: string, value: string) => new ldap.EqualityFilter({ attribute, value });

/**
 * The groups an entry is a member of: groupOfNames (member), groupOfUniqueNames (uniqueMember) and posixGroup
 * (memberUid). Built as filter objects from the values the directory returned: ldapjs sends a filter string's
 * `\xx` escapes as they are, so a DN with escaped characters would match nothing through a string template.
 */
function groupFilter(user: DirectoryUser): ldap.Filter {
  const memberships = [
    new ldap.AndFilter({ filters: [equals("objectClass", "groupOfNames"), equals("member", user.dn)] }),
    new ldap.AndFilter({ filters: [equals("objectClass", "groupOfUniqueNames"), equals("uniqueMember", user.dn)] }),
  ];
  const uid = firstValue(user.uid);
  if (uid) memberships.push(new ldap.AndFilter({ filters: [equals("objectClass", "posixGroup"), equals("memberUid", uid)] }));
  return new ldap.OrFilter({ filters: memberships });
}

function strategyServerOptions(server: DirectoryServer): LdapServerOptions {
  const attributes = new Set(["dn", "uid", server.userIdField, server.emailAttribute, server.fullNameAttribute, "entryUUID", "objectGUID"]);
  return {
    url: server.url,
    ...(server.bindDn ? { bindDN: server.bindDn, bindCredentials: server.bindPassword ?? "" } : {}),
    searchBase: server.baseDn,
    searchFilter: `(${server.userIdField}={{username}})`,
    searchAttributes: [...attributes].filter(Boolean),
    groupSearchBase: server.groupSearchBase || server.baseDn,
    groupSearchFilter: groupFilter,
    groupSearchAttributes: [server.groupIdField],
    starttls: server.startTls,
    tlsOptions: tlsOptions(server),
    connectTimeout: DIRECTORY_TIMEOUTS.connectMs,
    timeout: DIRECTORY_TIMEOUTS.operationMs,
    timeLimit: DIRECTORY_TIMEOUTS.serverTimeLimitSeconds,
    reconnect: false,
  };
}

function firstValue(value: unknown): string | null {
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

function toEntry(server: DirectoryServer, user: DirectoryUser, typedUsername: string): DirectoryEntry {
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

/** One server: search for the person, bind as them, read their groups. Never throws. */
export function signInAtServer(server: DirectoryServer, username: string, password: string): Promise<ServerOutcome> {
  const attempt = server.startTls ? signInWithStartTls(server, username, password) : signInThroughStrategy(server, username, password);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<ServerOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ status: "unavailable", reason: "timeout", detail: `no answer within ${ATTEMPT_DEADLINE_MS} ms` }), ATTEMPT_DEADLINE_MS);
  });
  return Promise.race([attempt, deadline]).finally(() => clearTimeout(timer));
}

/** ldap:// and ldaps:// servers: passport-ldapauth's strategy, called as Passport would. */
function signInThroughStrategy(server: DirectoryServer, username: string, password: string): Promise<ServerOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: ServerOutcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    const strategy = new LdapStrategy({
      server: strategyServerOptions(server),
      // Only these values: the strategy would otherwise read req.body or even req.query (security.md §2.1).
      credentialsLookup: () => ({ username, password }),
      handleErrorsAsFailures: true,
    });
    strategy.success = (user) => {
      try {
        settle({ status: "ok", entry: toEntry(server, user, username) });
      } catch (error) {
        settle({ status: "unavailable", ...classifyDirectoryError(error) });
      }
    };
    strategy.fail = (info, status) => {
      if (status === 500 || info instanceof Error || typeof info === "string") {
        // handleErrorsAsFailures: errors arrive here. Several matches is a directory answer, not an outage.
        if (typeof info === "string" && /unexpected number of matches/.test(info)) return settle({ status: "rejected", reason: "ambiguous" });
        return settle({ status: "unavailable", ...classifyDirectoryError(info) });
      }
      const code = (info as { message?: string } | undefined)?.message ?? "invalid_credentials";
      const reason = (Object.values(STRATEGY_MESSAGES).includes(code) ? code : "invalid_credentials") as RejectReason;
      settle({ status: "rejected", reason });
    };
    strategy.error = (error) => settle({ status: "unavailable", ...classifyDirectoryError(error) });
    try {
      strategy.authenticate({} as Request, STRATEGY_MESSAGES);
    } catch (error) {
      settle({ status: "unavailable", ...classifyDirectoryError(error) });
    }
  });
}

/**
 * Tries the servers in order and stops at the first that signs the person in (TrueCommand's rule). If any server
 * answered "no", that is the answer (passport-ldapauth reports an unknown name and a wrong password alike); only
 * when no server answered at all is the directory unavailable, which is not a wrong password.
 */
export async function signInWithDirectory(servers: DirectoryServer[], username: string, password: string): Promise<DirectorySignIn> {
  // Empty passwords never reach a directory: a DN with an empty password is an anonymous bind that succeeds.
  if (!username || !password) return { status: "rejected", reasons: [] };
  const reasons: { serverId: number; reason: RejectReason }[] = [];
  const problems: { serverId: number; reason: string; detail: string }[] = [];
  for (const server of servers) {
    const outcome = await signInAtServer(server, username, password);
    if (outcome.status === "ok") return outcome;
    if (outcome.status === "rejected") reasons.push({ serverId: server.id, reason: outcome.reason });
    else problems.push({ serverId: server.id, reason: outcome.reason, detail: outcome.detail });
  }
  if (problems.length > 0 && reasons.length === 0) return { status: "unavailable", problems };
  return { status: "rejected", reasons };
}

// Test LDAP config ----------------------------------------------------------------------------------------

export type CheckStep = "connection" | "tls" | "bind" | "search" | "groups";

export interface CheckResult {
  ok: boolean;
  steps: { step: CheckStep; ok: boolean; message: string }[];
}

function once<T>(register: (resolve: (value: T) => void, reject: (error: unknown) => void) => void, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s (timeout)`)), ms);
    register(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

function searchAll(client: ldap.Client, base: string, options: ldap.SearchOptions): Promise<ldap.SearchEntry[]> {
  return once(
    (resolve, reject) => {
      client.search(base, options, (error, result) => {
        if (error) return reject(error);
        const entries: ldap.SearchEntry[] = [];
        result.on("searchEntry", (entry) => entries.push(entry));
        result.on("error", reject);
        result.on("end", () => resolve(entries));
      });
    },
    DIRECTORY_TIMEOUTS.operationMs,
    "search",
  );
}

function newClient(server: DirectoryServer): ldap.Client {
  const client = ldap.createClient({
    url: server.url,
    tlsOptions: tlsOptions(server),
    connectTimeout: DIRECTORY_TIMEOUTS.connectMs,
    timeout: DIRECTORY_TIMEOUTS.operationMs,
    reconnect: false,
  });
  // ldapjs emits 'error' on socket faults; without a listener the process would die.
  client.on("error", () => undefined);
  return client;
}

function connected(client: ldap.Client): Promise<void> {
  return once<void>(
    (resolve, reject) => {
      client.once("connect", () => resolve());
      for (const event of ["connectError", "connectRefused", "connectTimeout", "setupError", "error"]) client.once(event, reject);
    },
    DIRECTORY_TIMEOUTS.connectMs + 1_000,
    "connect",
  );
}

function startTls(client: ldap.Client, server: DirectoryServer): Promise<void> {
  return once<void>((resolve, reject) => client.starttls(tlsOptions(server), [], (error) => (error ? reject(error) : resolve())), DIRECTORY_TIMEOUTS.operationMs, "StartTLS");
}

function bind(client: ldap.Client, dn: string, password: string): Promise<void> {
  return once<void>((resolve, reject) => client.bind(dn, password, (error) => (error ? reject(error) : resolve())), DIRECTORY_TIMEOUTS.operationMs, "bind");
}

function isInvalidCredentials(error: unknown): boolean {
  return error instanceof Error && error.name === "InvalidCredentialsError";
}

/** A search entry in the shape ldapauth-fork gives: one value as a string, several as an array. */
function asDirectoryUser(entry: ldap.SearchEntry): DirectoryUser {
  const object: Record<string, unknown> = {};
  for (const attribute of entry.pojo.attributes) object[attribute.type] = attribute.values.length === 1 ? attribute.values[0] : attribute.values;
  return { ...object, dn: entry.pojo.objectName };
}

/**
 * StartTLS servers: the same search-then-bind, done here, because ldapauth-fork starts TLS and sends its binds
 * at the same time (ldapjs does not hold traffic back during the handshake): the server drops the connection,
 * or worse, a bind goes out before TLS. Here nothing is sent on a connection before its TLS is up.
 */
async function signInWithStartTls(server: DirectoryServer, username: string, password: string): Promise<ServerOutcome> {
  const service = newClient(server);
  const person = newClient(server);
  const unavailable = (error: unknown): ServerOutcome => ({ status: "unavailable", ...classifyDirectoryError(error) });
  try {
    try {
      await Promise.all([connected(service), connected(person)]);
      await Promise.all([startTls(service, server), startTls(person, server)]);
      if (server.bindDn) await bind(service, server.bindDn, server.bindPassword ?? "");
    } catch (error) {
      // A refused service account is Gatehouse's configuration, not the person's password: nothing is counted.
      return unavailable(error);
    }
    let found: ldap.SearchEntry[];
    try {
      found = await searchAll(service, server.baseDn, {
        scope: "sub",
        filter: equals(server.userIdField, username),
        attributes: [...new Set(["uid", server.userIdField, server.emailAttribute, server.fullNameAttribute, "entryUUID", "objectGUID"])],
        sizeLimit: 2,
        timeLimit: DIRECTORY_TIMEOUTS.serverTimeLimitSeconds,
      });
    } catch (error) {
      if (error instanceof Error && error.name === "SizeLimitExceededError") return { status: "rejected", reason: "ambiguous" };
      return unavailable(error);
    }
    if (found.length > 1) return { status: "rejected", reason: "ambiguous" };
    const [entry] = found;
    if (!entry) return { status: "rejected", reason: "invalid_credentials" };
    const user = asDirectoryUser(entry);
    try {
      await bind(person, user.dn, password);
    } catch (error) {
      if (isInvalidCredentials(error)) return { status: "rejected", reason: "invalid_credentials" };
      if (error instanceof Error && /Constraint|Unwilling|InappropriateAuthentication/.test(error.name)) return { status: "rejected", reason: "account_restricted" };
      return unavailable(error);
    }
    try {
      const groups = await searchAll(service, server.groupSearchBase || server.baseDn, {
        scope: "sub",
        filter: groupFilter(user),
        attributes: [server.groupIdField],
        timeLimit: DIRECTORY_TIMEOUTS.serverTimeLimitSeconds,
      });
      user._groups = groups.map(asDirectoryUser);
    } catch (error) {
      return unavailable(error);
    }
    return { status: "ok", entry: toEntry(server, user, username) };
  } finally {
    service.destroy();
    person.destroy();
  }
}

function attributeOf(entry: ldap.SearchEntry, name: string): string[] {
  const attribute = entry.pojo.attributes.find((a) => a.type.toLowerCase() === name.toLowerCase());
  return attribute ? attribute.values.map(String) : [];
}

/**
 * "Test LDAP config": connect, TLS, bind as the service account (or anonymously), and with `username` look
 * that person and their groups up. Each step says in words what happened; the first failure stops it.
 */
export async function checkServer(server: DirectoryServer, username?: string): Promise<CheckResult> {
  const steps: CheckResult["steps"] = [];
  const secure = server.url.toLowerCase().startsWith("ldaps://") || server.startTls;
  const client = newClient(server);
  const fail = (step: CheckStep, error: unknown): CheckResult => {
    const { reason, detail } = classifyDirectoryError(error);
    const where = reason === "tls" ? "tls" : step;
    const prefix: Record<CheckStep, string> = {
      connection: "Could not connect to the server",
      tls: "The TLS connection failed (check the CA certificate and the host name in the URL)",
      bind: "The server refused the bind DN and bind password",
      search: "The search failed",
      groups: "The group search failed",
    };
    steps.push({ step: where, ok: false, message: `${prefix[where]}: ${detail}` });
    return { ok: false, steps };
  };
  try {
    try {
      await connected(client);
    } catch (error) {
      return fail(server.url.toLowerCase().startsWith("ldaps://") ? "tls" : "connection", error);
    }
    steps.push({ step: "connection", ok: true, message: `Connected to ${server.url}.` });
    if (server.startTls) {
      try {
        await startTls(client, server);
      } catch (error) {
        return fail("tls", error);
      }
    }
    steps.push(
      secure
        ? { step: "tls", ok: true, message: server.verifyCertificate ? "TLS is on and the server's certificate was verified." : "TLS is on, but the certificate is NOT verified." }
        : { step: "tls", ok: true, message: "No TLS: passwords cross the network unencrypted." },
    );
    try {
      if (server.bindDn) {
        await bind(client, server.bindDn, server.bindPassword ?? "");
      }
    } catch (error) {
      return fail("bind", error);
    }
    steps.push({ step: "bind", ok: true, message: server.bindDn ? `Bound as ${server.bindDn}.` : "Searching anonymously (no bind DN)." });
    let entries: ldap.SearchEntry[];
    try {
      entries = await searchAll(client, server.baseDn, {
        scope: "sub",
        filter: username ? equals(server.userIdField, username) : new ldap.PresenceFilter({ attribute: "objectClass" }),
        attributes: ["dn", server.userIdField, "uid", server.fullNameAttribute, server.emailAttribute, "entryUUID"],
        sizeLimit: username ? 2 : 1,
        timeLimit: DIRECTORY_TIMEOUTS.serverTimeLimitSeconds,
      });
    } catch (error) {
      if (!username && /SizeLimitExceeded/i.test(errorText(error))) entries = [];
      else return fail("search", error);
    }
    if (!username) {
      steps.push({ step: "search", ok: true, message: `The Domain ${server.baseDn} can be searched.` });
      return { ok: true, steps };
    }
    if (entries.length !== 1) {
      steps.push({
        step: "search",
        ok: false,
        message: entries.length === 0 ? `No entry has ${server.userIdField} = "${username}" under ${server.baseDn}.` : `More than one entry has ${server.userIdField} = "${username}"; sign-in refuses such a name.`,
      });
      return { ok: false, steps };
    }
    const [entry] = entries as [ldap.SearchEntry];
    const dn = entry.pojo.objectName;
    steps.push({ step: "search", ok: true, message: `Found ${dn}.` });
    const uid = attributeOf(entry, "uid")[0];
    let groups: ldap.SearchEntry[];
    try {
      groups = await searchAll(client, server.groupSearchBase || server.baseDn, {
        scope: "sub",
        filter: groupFilter({ dn, uid }),
        attributes: [server.groupIdField],
        timeLimit: DIRECTORY_TIMEOUTS.serverTimeLimitSeconds,
      });
    } catch (error) {
      return fail("groups", error);
    }
    const names = groups.flatMap((group) => attributeOf(group, server.groupIdField));
    steps.push({ step: "groups", ok: true, message: names.length > 0 ? `Member of: ${names.join(", ")}.` : "Member of no groups." });
    return { ok: true, steps };
  } finally {
    client.destroy();
  }
}
