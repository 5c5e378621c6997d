import type { Request } from "express";
import type { CheckResult, CheckStep } from "../../../../ldap/server-check.ts";
import type { LdapServerView } from "../../../../services/ldap-settings.ts";
import { typedValues } from "../../../form-values.ts";
import { CA_MAX_BYTES } from "./schemas-connection.ts";
import { LDAP_DEFAULTS } from "./schemas-server.ts";

/** Text cut after each ".", "," and "/", so that a table cell may wrap a long URL or DN there (<wbr> in the view). */
function breakable(text: string): string[] {
  return text.split(/(?<=[.,/])/);
}

/** How a server's connection is protected, in words; `warning` marks the ones to look at. */
export function presentServer(server: LdapServerView, index: number, count: number) {
  const ldaps = server.url.toLowerCase().startsWith("ldaps://");
  const tls = ldaps ? "LDAPS" : server.startTls ? "StartTLS" : "None — passwords in clear";
  return {
    id: server.id,
    url: server.url,
    baseDn: server.baseDn,
    urlParts: breakable(server.url),
    baseDnParts: breakable(server.baseDn),
    position: index + 1,
    first: index === 0,
    last: index === count - 1,
    tls,
    tlsWarning: !ldaps && !server.startTls,
    verification: !ldaps && !server.startTls ? "Not used (no TLS)" : server.verifyCertificate ? "On" : "Off — not verified",
    verificationWarning: (ldaps || server.startTls) && !server.verifyCertificate,
  };
}

const STEP_ORDER: CheckStep[] = ["connection", "tls", "bind", "search", "groups"];
const STEP_LABELS: Record<CheckStep, string> = {
  connection: "Connection",
  tls: "TLS",
  bind: "Bind",
  search: "Search",
  groups: "Groups",
};

/**
 * A test result as the page shows it: every step the test reached with "Passed" or "Failed" in words, and the
 * steps after a failure (or after a test without a username) as "Not tried", with the reason.
 */
export function presentCheck(result: CheckResult, username: string) {
  const reached = new Set(result.steps.map((s) => s.step));
  const last = Math.max(...result.steps.map((s) => STEP_ORDER.indexOf(s.step)), -1);
  const failed = result.steps.find((s) => !s.ok);
  const steps = result.steps.map((s) => ({ label: STEP_LABELS[s.step], state: s.ok ? "passed" : "failed", status: s.ok ? "Passed" : "Failed", message: s.message }));
  for (const step of STEP_ORDER.slice(last + 1)) {
    if (reached.has(step)) continue;
    const why = failed ? `The ${STEP_LABELS[failed.step]} step failed first.` : "Give a Test username to look a person and their groups up.";
    steps.push({ label: STEP_LABELS[step], state: "skipped", status: "Not tried", message: why });
  }
  return {
    ok: result.ok,
    username,
    summary: result.ok
      ? username
        ? `Test LDAP config passed: ${username} was found and their groups were read.`
        : "Test LDAP config passed: Gatehouse can connect, bind and search the Domain."
      : `Test LDAP config failed at the ${failed ? STEP_LABELS[failed.step] : "last"} step.`,
    steps,
  };
}

/** The form's fields for a stored server; checkboxes "on" or absent, as a browser sends them. */
export function serverValues(server: LdapServerView | undefined): Record<string, string> {
  if (!server) {
    return { url: "", caCertificate: "", verifyCertificate: "on", baseDn: "", groupSearchBase: "", bindDn: "", testUsername: "", ...LDAP_DEFAULTS };
  }
  const values: Record<string, string> = {
    url: server.url,
    caCertificate: server.caCertificate,
    baseDn: server.baseDn,
    groupSearchBase: server.groupSearchBase,
    userIdField: server.userIdField,
    groupIdField: server.groupIdField,
    bindDn: server.bindDn,
    emailAttribute: server.emailAttribute,
    fullNameAttribute: server.fullNameAttribute,
    testUsername: "",
    version: String(server.version),
  };
  if (server.startTls) values.startTls = "on";
  if (server.verifyCertificate) values.verifyCertificate = "on";
  return values;
}

export type CheckView = ReturnType<typeof presentCheck>;

/** What a form re-shows: the typed values (never a password), and whether "Remove the stored bind password" was ticked. */
export function typedServerValues(req: Request): Record<string, string> {
  const values = typedValues(req);
  const body = (req.body ?? {}) as Record<string, unknown>;
  if (typeof body.removeBindPassword === "string") values.removeBindPassword = body.removeBindPassword;
  // A CA bundle may be longer than what typedValues keeps; cut short, it would no longer be a certificate.
  if (typeof body.caCertificate === "string" && body.caCertificate.length <= CA_MAX_BYTES) values.caCertificate = body.caCertificate;
  return values;
}

export function typedBindPassword(req: Request): boolean {
  const body = (req.body ?? {}) as Record<string, unknown>;
  return typeof body.bindPassword === "string" && body.bindPassword !== "";
}

export function ordinal(n: number): string {
  const words = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"];
  return words[n - 1] ?? `number ${n}`;
}
