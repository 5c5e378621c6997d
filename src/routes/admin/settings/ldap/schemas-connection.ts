import { X509Certificate } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import { z } from "zod";
import { codePointLength } from "../../../../lib/fields.ts";
import { breaksHeaders, CONTROL, INVISIBLE_OR_BIDI } from "../schemas.ts";

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

export const urlField = z
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

export const caCertificateField = z
  .string({ error: "CA certificate must be text." })
  .default("")
  .transform((v, ctx) => {
    const checked = checkCaCertificate(v);
    if (checked.ok) return checked.pem;
    ctx.addIssue({ code: "custom", message: checked.message });
    return z.NEVER;
  });

// Bind password ------------------------------------------------------------------------------------------------

/** Bind password as typed: never trimmed, never echoed; blank keeps the stored one. */
export const BIND_PASSWORD_MAX = 1024;
export const bindPasswordField = z
  .string({ error: "Bind password must be text." })
  .default("")
  .superRefine((v, ctx) => {
    if (breaksHeaders(v)) ctx.addIssue({ code: "custom", message: "Bind password cannot contain line breaks or NUL characters." });
    else if (codePointLength(v) > BIND_PASSWORD_MAX) ctx.addIssue({ code: "custom", message: `Bind password must be at most ${BIND_PASSWORD_MAX} characters.` });
  });
