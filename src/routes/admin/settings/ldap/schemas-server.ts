import { z } from "zod";
import { checkbox, idParam, versionField } from "../../../../lib/fields.ts";
import type { LdapServerInput } from "../../../../services/ldap-settings.ts";
import { singleLineField } from "../schemas.ts";
import { bindPasswordField, caCertificateField, urlField } from "./schemas-connection.ts";
import { attributeField, bindDnField, dnField } from "./schemas-names.ts";

/**
 * The LDAP settings forms (docs/domain.md, "LDAP"). Every value here ends up in what Gatehouse says to a directory, so the
 * checks are strict and plain: no line breaks or NUL in one-line fields, no control or invisible characters, a
 * URL that is only scheme, host and port, DNs and attribute names of the shapes LDAP defines. The checks walk the
 * text once (no regular expression that can backtrack over typed text), and every message names its field.
 */

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

function toInput({ testUsername: _testUsername, bindPassword, removeBindPassword, ...server }: ServerForm): LdapServerInput {
  return {
    ...server,
    // Blank keeps the stored password; the checkbox removes it.
    bindPassword: removeBindPassword || bindPassword === "" ? undefined : bindPassword,
    removeBindPassword,
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
  .transform(({ version, ...v }) => ({ server: toInput(v), testUsername: v.testUsername, version }));

export const LdapTestSchema = z.strictObject({ testUsername: testUsernameField });

export const MoveSchema = z.strictObject({
  direction: z.enum(["up", "down"], { error: "Choose Move up or Move down." }),
});

export const ServerParams = z.object({ id: idParam });
