import { z } from "zod";
import { emailField, idParam, passwordField, textField, usernameField } from "../../lib/fields.ts";
import { hostField } from "../../lib/host.ts";
import { backchannelLogoutUriField, MAX_REDIRECT_URIS, redirectUrisListField } from "../../lib/redirect-uris.ts";
import { GATE_MODES, gateModeField, webAddressField } from "../../lib/web-address.ts";
import { nameField } from "../admin/catalog-schemas.ts";
import { pagingFields, wholeNumberParam } from "./operation.ts";

/**
 * The REST API's request and response shapes. Request fields reuse the console's own field rules
 * (src/lib/fields.ts, catalog-schemas.ts), so a name the web form refuses the API refuses with the same words.
 */

const VERSION_PROBLEM = "version must be the record's current version, a whole number from 1 (read it from the record first).";
export const versionValue = z
  .number({ error: VERSION_PROBLEM })
  .int({ error: VERSION_PROBLEM })
  .min(1, { error: VERSION_PROBLEM })
  .max(2_147_483_647, { error: VERSION_PROBLEM })
  .meta({ description: "The version you read; the change is refused with 409 when someone else saved since." });

/**
 * A field a PATCH may leave out. The console's text fields turn a missing value into "" (a form always sends
 * them); here absent must stay absent, or a change of one field would blank the others.
 */
function absentOr<T extends z.ZodType>(field: T) {
  return z.union([z.undefined(), field]).optional();
}

const PERMISSION_PROBLEM = 'permission must be "read" or "read/write".';
export const permissionValue = z.enum(["read", "read/write"], { error: PERMISSION_PROBLEM });

const searchQuery = z
  .string()
  .max(200, "q must be at most 200 characters.")
  .transform((v) => v.replace(/[\p{Cc}\p{Cs}]/gu, "").trim())
  .optional()
  .transform((v) => v ?? "")
  .meta({ description: "Only items whose name (for users also full name or email) contains this text, without regard to case." });

export const IdPath = z.object({ id: idParam.meta({ description: "The record's id." }) });
export const TeamMemberPath = z.object({ id: idParam.meta({ description: "The team's id." }), userId: idParam.meta({ description: "The user's id." }) });
export const GroupSystemPath = z.object({ id: idParam.meta({ description: "The group's id." }), systemId: idParam.meta({ description: "The system's id." }) });
export const GrantPath = z.object({
  id: idParam.meta({ description: "The user's or team's id." }),
  targetId: idParam.meta({ description: "The system's or group's id." }),
});

export const ListQuery = z.strictObject({ q: searchQuery, ...pagingFields });

const USER_SORTS = ["username", "name", "email", "role", "lastLogin", "created"] as const;
export const UserListQuery = z.strictObject({
  q: searchQuery,
  sort: z.enum(USER_SORTS, { error: `sort must be one of ${USER_SORTS.join(", ")}.` }).optional().transform((v) => v ?? "username"),
  dir: z.enum(["asc", "desc"], { error: 'dir must be "asc" or "desc".' }).optional().transform((v) => v ?? "asc"),
  ...pagingFields,
});

const AccessIdQuery = (what: "user" | "system") =>
  z
    .string({ error: `${what} is required: the ${what}'s id.` })
    .regex(/^[1-9][0-9]{0,9}$/, `${what} must be a ${what}'s id, a whole number from 1.`)
    .transform(Number)
    .refine((n) => n <= 2_147_483_647, `${what} must be a ${what}'s id, a whole number from 1.`);
export const AccessQuery = z.strictObject({
  user: AccessIdQuery("user").meta({ description: "The user's id (an account that is not an administrator may ask only about itself)." }),
  system: AccessIdQuery("system").meta({ description: "The system's id." }),
});

// Requests ---------------------------------------------------------------------------------------------------------

const userDetailFields = {
  fullName: textField("Full name", 128).meta({ description: "At most 128 characters." }),
  title: textField("Title", 128).meta({ description: "At most 128 characters." }),
  email: z
    .union([z.null(), emailField], { error: "email must be an email address like name@example.com, or null." })
    .optional()
    .meta({
      description:
        "Saved unverified (emailVerified false), with or without a mail server. When Alert Services (SMTP) is configured the address gets a confirmation code; the user enters it on their Profile.",
    }),
  phone: textField("Phone", 64).meta({ description: "At most 64 characters." }),
  isAdmin: z.boolean({ error: "isAdmin must be true or false." }),
  authSource: z.enum(["local", "ldap"], { error: 'authSource must be "local" or "ldap".' }),
};

export const UserCreateBody = z.strictObject({
  username: usernameField.meta({ description: "1 to 64 characters; unique without regard to case or width." }),
  ...userDetailFields,
  isAdmin: userDetailFields.isAdmin.default(false),
  authSource: userDetailFields.authSource.default("local"),
  password: passwordField.optional().meta({ description: "Required for a local account; never for LDAP. 12 to 128 characters." }),
});

export const UserUpdateBody = z.strictObject({
  version: versionValue,
  username: absentOr(usernameField),
  fullName: absentOr(userDetailFields.fullName),
  title: absentOr(userDetailFields.title),
  email: userDetailFields.email,
  phone: absentOr(userDetailFields.phone),
  isAdmin: absentOr(userDetailFields.isAdmin),
  authSource: absentOr(userDetailFields.authSource),
  password: passwordField.optional().meta({ description: "A new password (local accounts); ends the account's sessions." }),
  disabled: z
    .boolean({ error: "disabled must be true or false." })
    .optional()
    .meta({ description: "Disable (ends the account's sessions and tokens' use) or enable the account. Send it on its own, with version." }),
});

export const NamedBody = z.strictObject({
  name: nameField.meta({ description: "1 to 100 characters; unique without regard to case, width or surrounding spaces." }),
  description: textField("Description", 1000, { multiline: true }).meta({ description: "At most 1000 characters." }),
});
export const NamedUpdateBody = z.strictObject({
  version: versionValue,
  name: absentOr(NamedBody.shape.name),
  description: absentOr(NamedBody.shape.description),
});

const WEB_ADDRESS_DESCRIPTION =
  "Where the system's own web interface answers: http(s)://host[:port], nothing after it; null or empty for none. Stored as its origin (lower-case host, no default port) and unique by host and port.";
const GATE_MODE_DESCRIPTION =
  "How the gate reads a request to the web address: `by-method` (GET, HEAD and OPTIONS need read, anything else read/write) or `read-write-only` (every request needs read/write). Default `by-method`.";

export const SystemCreateBody = z.strictObject({
  name: NamedBody.shape.name,
  host: hostField.meta({ description: "A DNS name, an IPv4 address or an IPv6 address in brackets, with an optional :port." }),
  webAddress: webAddressField
    .nullable()
    .transform((v) => v ?? null)
    .meta({ description: WEB_ADDRESS_DESCRIPTION }),
  gateMode: gateModeField.meta({ description: GATE_MODE_DESCRIPTION }),
  description: NamedBody.shape.description,
  notes: textField("Notes", 10_000, { multiline: true }).meta({ description: "At most 10000 characters." }),
});
export const SystemUpdateBody = z.strictObject({
  version: versionValue,
  name: absentOr(SystemCreateBody.shape.name).meta({ description: "Administrators only." }),
  host: absentOr(SystemCreateBody.shape.host).meta({ description: "Administrators only." }),
  webAddress: absentOr(SystemCreateBody.shape.webAddress).meta({ description: `Administrators only. ${WEB_ADDRESS_DESCRIPTION}` }),
  gateMode: absentOr(z.enum(GATE_MODES)).meta({ description: `Administrators only. ${GATE_MODE_DESCRIPTION}` }),
  description: absentOr(SystemCreateBody.shape.description),
  notes: absentOr(SystemCreateBody.shape.notes),
});

export const GrantBody = z.strictObject({ permission: permissionValue });

export const OidcClientBody = z.strictObject({
  redirectUris: redirectUrisListField.meta({
    description: `Where the system receives people back after they sign in, matched exactly: 1 to ${MAX_REDIRECT_URIS} absolute https:// URLs (http:// only to localhost, 127.0.0.0/8 or [::1]), each at most 2000 characters, without a fragment or a user name. Each is trimmed; duplicates count once.`,
  }),
  backchannelLogoutUri: backchannelLogoutUriField.optional().meta({
    description:
      "Where Gatehouse posts a signed logout token (OpenID Connect Back-Channel Logout 1.0) when a person's sign-in to the system ends; the same rules as a redirect URI. null or an empty string: none. Left out: what is stored stays (none for a new client).",
  }),
});

export const DeleteQuery = z.strictObject({
  version: wholeNumberParam(2_147_483_647, VERSION_PROBLEM)
    .optional()
    .meta({ description: "When given, the deletion is refused with 409 if someone saved the record since that version." }),
});

// Responses --------------------------------------------------------------------------------------------------------

const isoTime = z.string().meta({ description: "ISO 8601 time, UTC." });

export const UserView = z.object({
  id: z.number().int(),
  username: z.string(),
  fullName: z.string(),
  title: z.string(),
  email: z.string().nullable(),
  emailVerified: z.boolean().meta({
    description:
      "Whether the address was confirmed with a code. An address set by an administrator starts unverified; password reset mails and two-factor codes by email need a verified one.",
  }),
  phone: z.string(),
  isAdmin: z.boolean(),
  authSource: z.enum(["local", "ldap"]),
  disabled: z.boolean(),
  twoFactorMethod: z.enum(["email", "totp"]).nullable(),
  lastLoginAt: isoTime.nullable(),
  createdAt: isoTime,
  updatedAt: isoTime,
  version: z.number().int(),
});

export const TeamRef = z.object({ id: z.number().int(), name: z.string() });
export const MeView = UserView.extend({ teams: z.array(TeamRef) });

export const TeamView = z.object({ id: z.number().int(), name: z.string(), description: z.string(), memberCount: z.number().int(), version: z.number().int() });
export const GroupView = z.object({ id: z.number().int(), name: z.string(), description: z.string(), systemCount: z.number().int(), version: z.number().int() });
export const MemberView = z.object({ id: z.number().int(), username: z.string(), fullName: z.string() });

const permissionView = z.enum(["none", "read", "read/write"]);
export const SystemSummaryView = z.object({
  id: z.number().int(),
  name: z.string(),
  host: z.string(),
  webAddress: z.string().nullable().meta({ description: WEB_ADDRESS_DESCRIPTION }),
  description: z.string(),
  permission: permissionView.meta({ description: "The calling account's effective permission on the system." }),
});
export const SystemView = SystemSummaryView.extend({
  gateMode: z.enum(GATE_MODES).meta({ description: GATE_MODE_DESCRIPTION }),
  notes: z.string(),
  version: z.number().int(),
  groups: z.array(TeamRef).optional().meta({ description: "The system groups containing it: for administrators only." }),
});
export const GroupSystemView = z.object({ id: z.number().int(), name: z.string(), host: z.string() });

const GrantTarget = z.object({ kind: z.enum(["system", "group"]), id: z.number().int(), name: z.string() });
export const GrantView = z.object({ target: GrantTarget, permission: permissionValue });
export const GrantChangeView = z.object({
  target: GrantTarget,
  permission: permissionValue,
  created: z.boolean(),
  changed: z.boolean(),
});
export const MembershipView = z.object({ team: TeamRef, user: z.object({ id: z.number().int(), username: z.string() }), added: z.boolean() });
export const GroupLinkView = z.object({ group: TeamRef, system: TeamRef, added: z.boolean() });

export const AccessView = z.object({
  user: z.object({ id: z.number().int(), username: z.string() }),
  system: TeamRef,
  permission: permissionView,
  basis: z.enum(["administrator", "disabled", "grants", "no-grants"]).meta({ description: "Why: an administrator, a disabled account, grants, or no grant at all." }),
  summary: z.string(),
  grants: z.array(
    z.object({
      source: z.enum(["A", "B", "C", "D"]).meta({ description: "A: the user directly; B: the user through a group; C: a team; D: a team through a group." }),
      explanation: z.string(),
      permission: permissionValue,
      team: TeamRef.nullable(),
      group: TeamRef.nullable(),
      decides: z.boolean().meta({ description: "The grant that sets the effective permission." }),
    }),
  ),
});

export const OidcClientView = z.object({
  clientId: z.string().meta({ description: "The client id the system presents: `gh-` and 22 characters." }),
  redirectUris: z.array(z.string()),
  backchannelLogoutUri: z.string().nullable().meta({ description: "Where logout tokens are posted; null for none." }),
  issuer: z.string().meta({ description: "The issuer the system must trust; its settings are at `<issuer>/.well-known/openid-configuration`." }),
  createdAt: isoTime,
  secretRotatedAt: isoTime.nullable().meta({ description: "When the secret was last rotated; null if never." }),
});
export const OidcClientWithSecretView = OidcClientView.extend({
  clientSecret: z.string().meta({ description: "The client secret: returned this once, stored only as a digest. Put it in the system's settings now." }),
});

export const ErrorView = z.object({
  error: z.object({
    code: z.string().meta({
      description:
        "validation_failed, bad_request, unauthorized, forbidden, two_factor_required, not_found, method_not_allowed, conflict, stale_write, retry, too_large, unsupported_media_type, too_many_requests, unavailable, internal.",
    }),
    message: z.string(),
    fields: z.record(z.string(), z.string()).optional().meta({ description: "Each bad field with what is wrong with it." }),
  }),
});

// The access report ---------------------------------------------------------------------------------------------------

const reportIdFilter = (what: "user" | "team" | "system" | "group", description: string) =>
  z
    .string()
    .regex(/^[1-9][0-9]{0,9}$/, `${what} must be a ${what}'s id, a whole number from 1.`)
    .transform(Number)
    .refine((n) => n <= 2_147_483_647, `${what} must be a ${what}'s id, a whole number from 1.`)
    .optional()
    .meta({ description });

export const AccessReportQuery = z.strictObject({
  user: reportIdFilter("user", "Only this user's rows (the user's id)."),
  team: reportIdFilter("team", "Only rows with a contributing grant held by this team (the team's id)."),
  system: reportIdFilter("system", "Only this system's rows (the system's id)."),
  group: reportIdFilter("group", "Only rows with a contributing grant on this system group (the group's id)."),
  ...pagingFields,
});

export const AccessReportRowView = AccessView.extend({
  decidedBy: z.string().meta({
    description: 'The deciding source in the console\'s words ("directly", "through group G", "team T", "team T, through group G"), or "administrator".',
  }),
});
