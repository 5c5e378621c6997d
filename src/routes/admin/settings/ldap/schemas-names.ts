import { singleLineField } from "../schemas.ts";

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

export function dnField(label: string, { required, example }: { required: boolean; example: string }) {
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
export function attributeField(label: string, fallback: string) {
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
export const bindDnField = singleLineField("Bind DN", DN_MAX).superRefine((v, ctx) => {
  if (v === "") return;
  const upn = !v.includes("=") && /^[^\s@]+@[^\s@]+$/u.test(v);
  if (!upn && !looksLikeDn(v))
    ctx.addIssue({
      code: "custom",
      message: "Bind DN must be a DN such as cn=gatehouse,ou=services,dc=example,dc=com (or name@domain on Active Directory), or blank to search anonymously.",
    });
});
