import type { Request } from "express";
import type ldap from "ldapjs";
import LdapStrategy, { type LdapServerOptions } from "passport-ldapauth";
import { bind, classifyDirectoryError, connected, DIRECTORY_TIMEOUTS, type DirectoryServer, newClient, startTls, tlsOptions } from "./connection.ts";
import { type BreakerChange, type DirectoryBreaker, directoryBreaker } from "./circuit-breaker.ts";
import { asDirectoryUser, type DirectoryEntry, toEntry } from "./directory-entry.ts";
import { equals, groupFilter, searchAll } from "./search.ts";

/** A last guard above the library's own timeouts, so no sign-in can hang on a directory. */
const ATTEMPT_DEADLINE_MS = DIRECTORY_TIMEOUTS.connectMs + DIRECTORY_TIMEOUTS.operationMs + 2_000;

/** Why a server did not sign someone in; the words stay in the log, the person sees one generic message. */
export type RejectReason = "invalid_credentials" | "no_such_user" | "ambiguous" | "account_restricted" | "missing_credentials";

export type ServerOutcome =
  | { status: "ok"; entry: DirectoryEntry }
  | { status: "rejected"; reason: RejectReason }
  | { status: "unavailable"; reason: "connection" | "tls" | "timeout" | "error"; detail: string };

export type DirectorySignIn = (
  | { status: "ok"; entry: DirectoryEntry }
  | { status: "rejected"; reasons: { serverId: number; reason: RejectReason }[] }
  | { status: "unavailable"; problems: { serverId: number; reason: string; detail: string }[] }
) & {
  /** Servers that went down or came back during this sign-in (circuit-breaker.ts): each is an audit event. */
  changes: BreakerChange[];
};

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
      // Only these values: the strategy would otherwise read req.body or even req.query (docs/security.md §2.1).
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
 * when no server answered at all is the directory unavailable, which is not a wrong password. A server the
 * breaker has marked down is skipped without a question (circuit-breaker.ts).
 */
export async function signInWithDirectory(
  servers: DirectoryServer[],
  username: string,
  password: string,
  breaker: DirectoryBreaker = directoryBreaker,
): Promise<DirectorySignIn> {
  const changes: BreakerChange[] = [];
  // Empty passwords never reach a directory: a DN with an empty password is an anonymous bind that succeeds.
  if (!username || !password) return { status: "rejected", reasons: [], changes };
  const reasons: { serverId: number; reason: RejectReason }[] = [];
  const problems: { serverId: number; reason: string; detail: string }[] = [];
  for (const server of servers) {
    const admitted = breaker.admit(server);
    if (!admitted.ask) {
      problems.push({ serverId: server.id, reason: "down", detail: `not answering; asked again after ${admitted.downUntil.toISOString()}` });
      continue;
    }
    const outcome = await signInAtServer(server, username, password);
    const change = outcome.status === "unavailable" ? breaker.failed(server, outcome.reason, outcome.detail) : breaker.answered(server);
    if (change) changes.push(change);
    if (outcome.status === "ok") return { ...outcome, changes };
    if (outcome.status === "rejected") reasons.push({ serverId: server.id, reason: outcome.reason });
    else problems.push({ serverId: server.id, reason: outcome.reason, detail: outcome.detail });
  }
  if (problems.length > 0 && reasons.length === 0) return { status: "unavailable", problems, changes };
  return { status: "rejected", reasons, changes };
}

function isInvalidCredentials(error: unknown): boolean {
  return error instanceof Error && error.name === "InvalidCredentialsError";
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
