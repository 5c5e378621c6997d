import ldap from "ldapjs";
import { bind, classifyDirectoryError, connected, DIRECTORY_TIMEOUTS, type DirectoryServer, errorText, newClient, startTls } from "./connection.ts";
import { attributeOf } from "./directory-entry.ts";
import { equals, groupFilter, searchAll } from "./search.ts";

export type CheckStep = "connection" | "tls" | "bind" | "search" | "groups";

export interface CheckResult {
  ok: boolean;
  steps: { step: CheckStep; ok: boolean; message: string }[];
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
