import ldap from "ldapjs";
import type { LdapServerSettings } from "../types/ldap-server.ts";

/**
 * Everything Gatehouse says to an LDAP directory goes through src/ldap/ (docs/security.md §2.1: one small
 * module, so moving off the archived ldapjs stays a local change). Sign-in uses passport-ldapauth
 * (ldapauth-fork 6.1: search, then bind with the DN the directory returned); "Test LDAP config" walks the
 * same steps one by one with ldapjs to say which one failed. Filters are never built from typed text:
 * the library escapes `{{username}}`, and the test builds filter objects.
 */

/** ldapjs waits forever by default; these bound a dead or silent directory (docs/security.md §2.1). */
export const DIRECTORY_TIMEOUTS = { connectMs: 5_000, operationMs: 8_000, serverTimeLimitSeconds: 5 } as const;

/** A server as Gatehouse uses it, with its bind password opened. */
export interface DirectoryServer extends LdapServerSettings {
  id: number;
  bindPassword: string | null;
}

const TLS_ERROR = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|EPROTO|SSL|certificate|handshake/i;
const CONNECTION_ERROR = /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|connectRefused/i;

export function errorText(error: unknown): string {
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

export function tlsOptions(server: DirectoryServer): { ca?: string[]; rejectUnauthorized: boolean } {
  return {
    ...(server.caCertificate.trim() ? { ca: [server.caCertificate] } : {}),
    rejectUnauthorized: server.verifyCertificate,
  };
}

export function once<T>(register: (resolve: (value: T) => void, reject: (error: unknown) => void) => void, ms: number, what: string): Promise<T> {
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

export function newClient(server: DirectoryServer): ldap.Client {
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

export function connected(client: ldap.Client): Promise<void> {
  return once<void>(
    (resolve, reject) => {
      client.once("connect", () => resolve());
      for (const event of ["connectError", "connectRefused", "connectTimeout", "setupError", "error"]) client.once(event, reject);
    },
    DIRECTORY_TIMEOUTS.connectMs + 1_000,
    "connect",
  );
}

export function startTls(client: ldap.Client, server: DirectoryServer): Promise<void> {
  return once<void>((resolve, reject) => client.starttls(tlsOptions(server), [], (error) => (error ? reject(error) : resolve())), DIRECTORY_TIMEOUTS.operationMs, "StartTLS");
}

export function bind(client: ldap.Client, dn: string, password: string): Promise<void> {
  return once<void>((resolve, reject) => client.bind(dn, password, (error) => (error ? reject(error) : resolve())), DIRECTORY_TIMEOUTS.operationMs, "bind");
}
