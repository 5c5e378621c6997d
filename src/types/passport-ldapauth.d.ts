// passport-ldapauth ships no types; this covers what src/ldap/ uses.
declare module "passport-ldapauth" {
  import type { Request } from "express";

  export interface LdapServerOptions {
    url: string;
    bindDN?: string;
    bindCredentials?: string;
    searchBase: string;
    searchFilter: string;
    searchAttributes?: string[];
    groupSearchBase?: string;
    /** A string template, or (as here) a function from the found entry to an ldapjs filter object. */
    groupSearchFilter?: string | ((user: DirectoryUser) => unknown);
    groupSearchAttributes?: string[];
    starttls?: boolean;
    tlsOptions?: { ca?: string[]; rejectUnauthorized?: boolean };
    connectTimeout?: number;
    timeout?: number;
    timeLimit?: number;
    reconnect?: boolean;
  }

  export interface StrategyOptions {
    server: LdapServerOptions;
    credentialsLookup?: (req: Request) => { username: string; password: string } | null;
    handleErrorsAsFailures?: boolean;
    failureErrorCallback?: (error: unknown) => void;
    missingCredentialsStatus?: number;
  }

  export type DirectoryUser = Record<string, unknown> & { dn: string; _groups?: Record<string, unknown>[] };

  export default class Strategy {
    constructor(options: StrategyOptions);
    name: string;
    authenticate(req: Request, options?: Record<string, string>): void;
    success: (user: DirectoryUser, info?: unknown) => void;
    fail: (info?: unknown, status?: number) => void;
    error: (error: unknown) => void;
  }
}
