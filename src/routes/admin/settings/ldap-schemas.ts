import { X509Certificate } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import { z } from "zod";
import { checkbox, codePointLength, idParam, versionField } from "../../../lib/fields.ts";
import type { LdapOptions, LdapServerInput } from "../../../services/ldap-settings.ts";
import { breaksHeaders, CONTROL, INVISIBLE_OR_BIDI, settingsVersionField, singleLineField } from "./schemas.ts";

/**
 * The LDAP settings forms (DESIGN §3.4). Every value here ends up in what Gatehouse says to a directory, so the
 * checks are strict and plain: no line breaks or NUL in one-line fields, no control or invisible characters, a
 * URL that is only scheme, host and port, DNs and attribute names of the shapes LDAP defines. The checks walk the
 * text once (no regular expression that can backtrack over typed text), and every message names its field.
 */

// URL ----------------------------------------------------------------------------------------------------------

export const URL_MAX = 300;
const URL_SHAPE = "like ldap://ldap.example.com:389 or ldaps://ldap.example.com:636";
const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function validHostName(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  const labels = (host.endsWith(".") ? host.slice(0, -1) : host).split(".");
  return labels.every((label) => HOST_LABEL.test(label));
}

/** Why a URL is not `ldap[s]://host[:port]`, or the URL in its one accepted spelling. */
export function checkLdapUrl(raw: string): { ok: true; url: string; secure: boolean } | { ok: false; message: string } {
  const text = raw.trim();
  if (text === "") return { ok: false, message: `Enter the URL of the LDAP server, ${URL_SHAPE}.` };
  const schemeEnd = text.indexOf("://");
  const scheme = schemeEnd < 0 ? "" : text.slice(0, schemeEnd).toLowerCase();
  if (scheme !== "ldap" && scheme !== "ldaps") {
    return { ok: false, message: `URL must start with ldap:// or ldaps://, ${URL_SHAPE}.` };
  }
  let rest = text.slice(schemeEnd + 3);
  // One slash at the end is what many tools write; anything after it would be a DN or options, which have their own fields.
  if (rest.endsWith("/")) rest = rest.slice(0, -1);
  if (rest.includes("@")) return { ok: false, message: "URL cannot contain a user name or password; put them in Bind DN and Bind password." };
  if (/[/?#]/.test(rest)) {
    return { ok: false, message: `URL cannot contain a path, query or fragment: give only the scheme, host and port (${URL_SHAPE}); the Base DN goes in Domain.` };
  }
  if (/\s/u.test(rest) || CONTROL.test(rest) || INVISIBLE_OR_BIDI.test(rest)) return { ok: false, message: "URL cannot contain spaces or control characters." };
  let host: string;
  let port: string | undefined;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) return { ok: false, message: `URL has an IPv6 address without its closing "]", ${URL_SHAPE}.` };
    host = rest.slice(0, close + 1);
    const after = rest.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) return { ok: false, message: `URL has text after the IPv6 address that is not a :port, ${URL_SHAPE}.` };
    port = after === "" ? undefined : after.slice(1);
    if (!isIPv6(host.slice(1, -1))) return { ok: false, message: `URL has "${host}", which is not an IPv6 address.` };
  } else {
    const colon = rest.indexOf(":");
    host = colon < 0 ? rest : rest.slice(0, colon);
    port = colon < 0 ? undefined : rest.slice(colon + 1);
    if (host === "") return { ok: false, message: `URL needs a host name or an IP address, ${URL_SHAPE}.` };
    if (!isIPv4(host) && !validHostName(host)) {
      return { ok: false, message: `URL's host "${host.slice(0, 60)}" is not a valid host name or IP address (letters, digits, hyphens and dots).` };
    }
    host = host.toLowerCase();
  }
  if (port !== undefined) {
    if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      return { ok: false, message: `URL's port must be a whole number from 1 to 65535; "${port.slice(0, 20)}" is not.` };
    }
    port = String(Number(port));
  }
  return { ok: true, url: `${scheme}://${host}${port ? `:${port}` : ""}`, secure: scheme === "ldaps" };
}

const urlField = z
  .string({ error: `Enter the URL of the LDAP server, ${URL_SHAPE}.` })
  .superRefine((v, ctx) => {
    if (breaksHeaders(v)) ctx.addIssue({ code: "custom", message: "URL cannot contain line breaks or NUL characters." });
    else if (codePointLength(v.trim()) > URL_MAX)
      ctx.addIssue({ code: "custom", message: `URL must be at most ${URL_MAX} characters; this one has ${codePointLength(v.trim())}.` });
  })
  .transform((v, ctx) => {
    const checked = checkLdapUrl(v);
    if (checked.ok) return checked.url;
    ctx.addIssue({ code: "custom", message: checked.message });
    return z.NEVER;
  });

// DNs and attribute names ----------------------------------------------------------------------------------------

const ATTRIBUTE_NAME = /^[A-Za-z][A-Za-z0-9-]*$/;
const OID = /^[0-9]+(?:\.[0-9]+)*$/;

export function isAttributeName(value: string): boolean {
  return ATTRIBUTE_NAME.test(value) || OID.test(value);
}

/**
 * Whether `value` reads as a DN: attribute=value pairs separated by commas (a multi-valued RDN joins pairs with "+"),
 * where a backslash escapes the next character. One pass over the text; values are not otherwise interpreted.
 */
export function looksLikeDn(value: string): boolean {
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < value.length; i += 1) {
    const ch = value[i] as string;
    if (ch === "\\") {
      if (i + 1 >= value.length) return false;
      current += ch + (value[i + 1] as string);
      i += 1;
    } else if (ch === "," || ch === "+") {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  parts.push(current);
  return parts.every((part) => {
    const equals = part.indexOf("=");
    if (equals < 0) return false;
    const attribute = part.slice(0, equals).trim();
    const attributeValue = part.slice(equals + 1).trim();
    return isAttributeName(attribute) && attributeValue !== "";
  });
}

const DN_MAX = 1024;

function dnField(label: string, { required, example }: { required: boolean; example: string }) {
  return singleLineField(label, DN_MAX).superRefine((v, ctx) => {
    if (v === "") {
      if (required) ctx.addIssue({ code: "custom", message: `Enter the ${label}: the base DN of the directory, such as ${example}.` });
    } else if (!looksLikeDn(v)) {
      ctx.addIssue({ code: "custom", message: `${label} must be a DN such as ${example}: attribute=value pairs separated by commas.` });
    }
  });
}

const ATTRIBUTE_MAX = 128;

/** An attribute name or OID; blank means the default the form shows. */
function attributeField(label: string, fallback: string) {
  return singleLineField(label, ATTRIBUTE_MAX)
    .superRefine((v, ctx) => {
      if (v !== "" && !isAttributeName(v))
        ctx.addIssue({
          code: "custom",
          message: `${label} must be an attribute name such as ${fallback}: a letter, then letters, digits or hyphens (or an OID such as 2.5.4.3).`,
        });
    })
    .transform((v) => (v === "" ? fallback : v));
}

/** Bind DN: a DN, or (Active Directory) a user@domain name; blank for an anonymous search. */
const bindDnField = singleLineField("Bind DN", DN_MAX).superRefine((v, ctx) => {
  if (v === "") return;
  const upn = !v.includes("=") && /^[^\s@]+@[^\s@]+$/u.test(v);
  if (!upn && !looksLikeDn(v))
    ctx.addIssue({
      code: "custom",
      message: "Bind DN must be a DN such as cn=gatehouse,ou=services,dc=example,dc=com (or name@domain on Active Directory), or blank to search anonymously.",
    });
});

/** Bind password as typed: never trimmed, never echoed; blank keeps the stored one. */
export const BIND_PASSWORD_MAX = 1024;
const bindPasswordField = z
  .string({ error: "Bind password must be text." })
  .default("")
  .superRefine((v, ctx) => {
    if (breaksHeaders(v)) ctx.addIssue({ code: "custom", message: "Bind password cannot contain line breaks or NUL characters." });
    else if (codePointLength(v) > BIND_PASSWORD_MAX) ctx.addIssue({ code: "custom", message: `Bind password must be at most ${BIND_PASSWORD_MAX} characters.` });
  });

// CA certificate -----------------------------------------------------------------------------------------------

export const CA_MAX_BYTES = 64 * 1024;
const PEM_SHAPE = "paste one or more PEM blocks that start with -----BEGIN CERTIFICATE----- and end with -----END CERTIFICATE-----";
const BASE64_LINE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Why the text is not one or more PEM certificates, or the certificates with tidy line ends. */
export function checkCaCertificate(raw: string): { ok: true; pem: string } | { ok: false; message: string } {
  if (Buffer.byteLength(raw, "utf8") > CA_MAX_BYTES) {
    return { ok: false, message: `CA certificate must be at most 64 KB; this one has ${Math.ceil(Buffer.byteLength(raw, "utf8") / 1024)} KB.` };
  }
  if (raw.includes("\u0000")) return { ok: false, message: "CA certificate cannot contain NUL characters." };
  const lines = raw.replace(/\r\n?/g, "\n").split("\n").map((line) => line.trim());
  if (lines.every((line) => line === "")) return { ok: true, pem: "" };
  if (lines.some((line) => /^-----BEGIN .*PRIVATE KEY-----$/.test(line))) {
    return { ok: false, message: "CA certificate holds a private key. Paste only the certificate of the authority that signed the server's certificate, and keep the key secret." };
  }
  const blocks: string[] = [];
  let body: string[] | undefined;
  for (const line of lines) {
    if (body === undefined) {
      if (line === "") continue;
      if (line !== "-----BEGIN CERTIFICATE-----") return { ok: false, message: `CA certificate is not in PEM form: ${PEM_SHAPE}.` };
      body = [];
    } else if (line === "-----END CERTIFICATE-----") {
      if (body.length === 0) return { ok: false, message: "CA certificate has an empty PEM block." };
      blocks.push(["-----BEGIN CERTIFICATE-----", ...body, "-----END CERTIFICATE-----"].join("\n"));
      body = undefined;
    } else if (line !== "" && BASE64_LINE.test(line)) body.push(line);
    else if (line !== "") return { ok: false, message: `CA certificate has a line inside a PEM block that is not base64; ${PEM_SHAPE}.` };
  }
  if (body !== undefined) return { ok: false, message: "CA certificate ends before -----END CERTIFICATE-----; paste the whole block." };
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      const which = blocks.length === 1 ? "The PEM block" : `PEM block ${index + 1}`;
      return { ok: false, message: `CA certificate: ${which} could not be read as an X.509 certificate.` };
    }
  }
  return { ok: true, pem: `${blocks.join("\n")}\n` };
}

const caCertificateField = z
  .string({ error: "CA certificate must be text." })
  .default("")
  .transform((v, ctx) => {
    const checked = checkCaCertificate(v);
    if (checked.ok) return checked.pem;
    ctx.addIssue({ code: "custom", message: checked.message });
    return z.NEVER;
  });

// The server form ----------------------------------------------------------------------------------------------

export const LDAP_DEFAULTS = { userIdField: "uid", groupIdField: "cn", emailAttribute: "mail", fullNameAttribute: "cn" } as const;

export const testUsernameField = singleLineField("Test username", 255);

const serverFields = {
  url: urlField,
  startTls: checkbox,
  caCertificate: caCertificateField,
  verifyCertificate: checkbox,
  baseDn: dnField("Domain", { required: true, example: "dc=example,dc=com" }),
  groupSearchBase: dnField("Group Search Domain", { required: false, example: "ou=groups,dc=example,dc=com" }),
  userIdField: attributeField("User ID Field", LDAP_DEFAULTS.userIdField),
  groupIdField: attributeField("Group ID Field", LDAP_DEFAULTS.groupIdField),
  bindDn: bindDnField,
  bindPassword: bindPasswordField,
  removeBindPassword: checkbox,
  emailAttribute: attributeField("Email attribute", LDAP_DEFAULTS.emailAttribute),
  fullNameAttribute: attributeField("Full name attribute", LDAP_DEFAULTS.fullNameAttribute),
  // The same form carries "Test LDAP config"; saving ignores it.
  testUsername: testUsernameField,
};

type ServerForm = { [K in keyof typeof serverFields]: z.output<(typeof serverFields)[K]> };

function crossCheck(v: ServerForm, ctx: z.RefinementCtx) {
  if (v.startTls && v.url.startsWith("ldaps://"))
    ctx.addIssue({
      code: "custom",
      path: ["startTls"],
      message: "StartTLS cannot be used with an ldaps:// URL: that connection is already encrypted. Untick StartTLS, or use an ldap:// URL with StartTLS.",
    });
  if (v.bindPassword !== "" && v.removeBindPassword)
    ctx.addIssue({ code: "custom", path: ["removeBindPassword"], message: "Either type a new Bind password or tick Remove the stored bind password, not both." });
  else if (v.bindPassword !== "" && v.bindDn === "")
    ctx.addIssue({ code: "custom", path: ["bindDn"], message: "Enter the Bind DN that goes with the Bind password, or leave both blank to search anonymously." });
}

function toInput(v: ServerForm): LdapServerInput {
  return {
    url: v.url,
    startTls: v.startTls,
    caCertificate: v.caCertificate,
    verifyCertificate: v.verifyCertificate,
    baseDn: v.baseDn,
    groupSearchBase: v.groupSearchBase,
    userIdField: v.userIdField,
    groupIdField: v.groupIdField,
    bindDn: v.bindDn,
    // Blank keeps the stored password; the checkbox removes it.
    bindPassword: v.removeBindPassword || v.bindPassword === "" ? undefined : v.bindPassword,
    removeBindPassword: v.removeBindPassword,
    emailAttribute: v.emailAttribute,
    fullNameAttribute: v.fullNameAttribute,
  };
}

/** "Add LDAP server" (and "Test LDAP config" on the new form). */
export const LdapServerSchema = z
  .strictObject(serverFields)
  .superRefine(crossCheck)
  .transform((v) => ({ server: toInput(v), testUsername: v.testUsername }));

/** "Save changes" on a stored server (and "Test LDAP config" on its form): the version it was loaded at. */
export const LdapServerUpdateSchema = z
  .strictObject({ ...serverFields, version: versionField })
  .superRefine(crossCheck)
  .transform((v) => ({ server: toInput(v), testUsername: v.testUsername, version: v.version }));

export const LdapTestSchema = z.strictObject({ testUsername: testUsernameField });

// Configuration, default teams, group mappings -------------------------------------------------------------------

const optionFields = {
  allowUserCreation: checkbox,
  removeUnmappedTeams: checkbox,
} satisfies { [K in keyof LdapOptions]: z.ZodType<LdapOptions[K]> };

export const LdapOptionsSchema = z
  .strictObject({ ...optionFields, version: settingsVersionField })
  .transform(({ version, ...value }): { version: number; value: LdapOptions } => ({ version, value }));

export const MoveSchema = z.strictObject({
  direction: z.enum(["up", "down"], { error: "Choose Move up or Move down." }),
});

const CHOOSE_TEAM = "Choose a team from the list.";

export const DefaultTeamSchema = z.strictObject({
  teamId: z
    .string({ error: CHOOSE_TEAM })
    .regex(/^[1-9][0-9]{0,9}$/, { error: CHOOSE_TEAM })
    .transform(Number)
    .refine((n) => n <= 2_147_483_647, { error: CHOOSE_TEAM }),
});

export const GROUP_NAME_MAX = 255;
const CHOOSE_TEAMS = "Choose one or more Teams for the directory group.";

/** A multi-select sends nothing, one value or several; each must be a team id. */
const teamIdsField = z
  .union([z.string(), z.array(z.string()).max(1000)], { error: CHOOSE_TEAMS })
  .optional()
  .transform((v, ctx) => {
    const list = v === undefined ? [] : Array.isArray(v) ? v : [v];
    if (list.length === 0) {
      ctx.addIssue({ code: "custom", message: CHOOSE_TEAMS });
      return z.NEVER;
    }
    const ids: number[] = [];
    for (const raw of list) {
      const parsed = idParam.safeParse(raw);
      if (!parsed.success) {
        ctx.addIssue({ code: "custom", message: "Teams: choose teams from the list; one of the chosen values is not a team." });
        return z.NEVER;
      }
      if (!ids.includes(parsed.data)) ids.push(parsed.data);
    }
    return ids;
  });

export const GroupMappingSchema = z.strictObject({
  groupName: singleLineField("Directory group", GROUP_NAME_MAX).refine((v) => v !== "", "Enter the Directory group: the name of a group in the directory, such as operators."),
  teamIds: teamIdsField,
});

export const EmptySchema = z.strictObject({});
export const ServerParams = z.object({ id: idParam });
export const TeamParams = z.object({ teamId: idParam });
export const MappingParams = z.object({ id: idParam });
