import { isIPv6 } from "node:net";
import { z } from "zod";
import { checkbox, codePointLength, optionalEmailField } from "../../../lib/fields.ts";
import type { SmtpSecurity } from "../../../mail/transport.ts";
import { GENERAL_NUMBER_FIELDS, type GeneralSettings } from "../../../services/general-settings.ts";
import type { SmtpSettingsInput } from "../../../services/mail-settings.ts";

/**
 * Line breaks and NUL would let a value spill into the next SMTP header or command (docs/security.md E6). They are
 * refused in the raw value, before any trimming, so "user\r\n" is an error rather than quietly cleaned up.
 */
export function breaksHeaders(value: string): boolean {
  return value.includes("\r") || value.includes("\n") || value.includes("\u0000");
}
export const CONTROL = /\p{Cc}/u;
export const INVISIBLE_OR_BIDI = /[\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]/u;

function noLineBreaks(label: string) {
  return `${label} cannot contain line breaks or NUL characters.`;
}

/** A one-line text of at most `max` characters: no control, invisible or direction-changing characters. */
export function singleLineField(label: string, max: number) {
  return z
    .string({ error: `${label} must be text.` })
    .default("")
    .superRefine((v, ctx) => {
      if (breaksHeaders(v)) ctx.addIssue({ code: "custom", message: noLineBreaks(label) });
    })
    .transform((v) => v.trim())
    .superRefine((v, ctx) => {
      const length = codePointLength(v);
      if (length > max) ctx.addIssue({ code: "custom", message: `${label} must be at most ${max} characters; this one has ${length}.` });
      else if (CONTROL.test(v) || INVISIBLE_OR_BIDI.test(v))
        ctx.addIssue({ code: "custom", message: `${label} cannot contain control, invisible or direction-changing characters.` });
    });
}

/** The hidden optimistic-locking version of a settings page: 0 while nothing is saved yet. */
const VERSION_PROBLEM = "The form's version field is missing or invalid; reload the page and try again.";
export const settingsVersionField = z
  .string({ error: VERSION_PROBLEM })
  .regex(/^(0|[1-9][0-9]{0,9})$/, { error: VERSION_PROBLEM })
  .transform(Number)
  .refine((n) => n <= 2_147_483_647, { error: VERSION_PROBLEM });

/** Mailserver: a host name or an IP address, without a port or a scheme (those have their own fields). */
export const mailserverField = z
  .string({ error: "Enter the Mailserver." })
  .superRefine((v, ctx) => {
    if (breaksHeaders(v)) ctx.addIssue({ code: "custom", message: noLineBreaks("Mailserver") });
  })
  .transform((v) => v.trim())
  .superRefine((v, ctx) => {
    if (v === "") ctx.addIssue({ code: "custom", message: "Enter the Mailserver: a host name such as smtp.example.com, or an IP address." });
    else if (v.length > 253) ctx.addIssue({ code: "custom", message: `Mailserver must be at most 253 characters; this one has ${v.length}.` });
    else if (/\s/u.test(v) || CONTROL.test(v) || INVISIBLE_OR_BIDI.test(v))
      ctx.addIssue({ code: "custom", message: "Mailserver cannot contain spaces or control characters." });
    else if (v.includes(":") && !isIPv6(v.replace(/^\[(.*)\]$/, "$1")))
      ctx.addIssue({
        code: "custom",
        message: "Enter only the host name in Mailserver (smtp.example.com), without smtp:// or a :port; the port goes in Mailserver port.",
      });
  })
  .transform((v) => v.replace(/^\[(.*)\]$/, "$1"));

export const DEFAULT_SMTP_PORT = 587;

export const mailserverPortField = z
  .string()
  .default(String(DEFAULT_SMTP_PORT))
  .superRefine((v, ctx) => {
    if (breaksHeaders(v)) ctx.addIssue({ code: "custom", message: noLineBreaks("Mailserver port") });
  })
  .transform((v) => v.trim())
  .superRefine((v, ctx) => {
    if (v === "") ctx.addIssue({ code: "custom", message: "Enter the Mailserver port: usually 587 (STARTTLS), 465 (TLS) or 25 (None)." });
    else if (!/^[0-9]{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 65535)
      ctx.addIssue({ code: "custom", message: `Mailserver port must be a whole number from 1 to 65535; "${v.slice(0, 20)}" is not.` });
  })
  .transform(Number);

export const SECURITY_OPTIONS: readonly { value: SmtpSecurity; label: string }[] = [
  { value: "none", label: "None" },
  { value: "starttls", label: "STARTTLS" },
  { value: "tls", label: "TLS" },
];

export const securityField = z.enum(["none", "starttls", "tls"], { error: "Choose the Security: None, STARTTLS or TLS." });

/** Auth pass as typed: never trimmed, never echoed. */
const authPassField = z
  .string()
  .default("")
  .superRefine((v, ctx) => {
    if (breaksHeaders(v)) ctx.addIssue({ code: "custom", message: noLineBreaks("Auth pass") });
    else if (codePointLength(v) > 1000) ctx.addIssue({ code: "custom", message: "Auth pass must be at most 1000 characters." });
  });

const FROM_SHAPE = 'Enter From as an address (name@example.com) or a name and an address (Display Name <name@example.com>).';
const DISPLAY_NAME_MAX = 100;

/**
 * From: `name@example.com` or `Display Name <name@example.com>` (the name may be in double quotes), parsed into
 * { name, address }. nodemailer encodes the name itself, so it only has to be one clean line.
 */
export const fromField = z
  .string({ error: FROM_SHAPE })
  .superRefine((v, ctx) => {
    if (breaksHeaders(v)) ctx.addIssue({ code: "custom", message: "From cannot contain line breaks or NUL characters, in the name or the address." });
  })
  .transform((v, ctx) => {
    const text = v.trim();
    if (text === "") {
      ctx.addIssue({ code: "custom", message: `From is required. ${FROM_SHAPE}` });
      return z.NEVER;
    }
    if (codePointLength(text) > 320) {
      ctx.addIssue({ code: "custom", message: `From must be at most 320 characters; this one has ${codePointLength(text)}.` });
      return z.NEVER;
    }
    const named = /^(.*?)\s*<([^<>]*)>$/su.exec(text);
    let name = named ? (named[1] ?? "").trim() : "";
    const rawAddress = named ? (named[2] ?? "").trim() : text;
    if (named && name.length >= 2 && name.startsWith('"') && name.endsWith('"')) name = name.slice(1, -1).trim();
    if (codePointLength(name) > DISPLAY_NAME_MAX) {
      ctx.addIssue({ code: "custom", message: `From's display name must be at most ${DISPLAY_NAME_MAX} characters; this one has ${codePointLength(name)}.` });
      return z.NEVER;
    }
    if (CONTROL.test(name) || INVISIBLE_OR_BIDI.test(name)) {
      ctx.addIssue({ code: "custom", message: "From's display name cannot contain control, invisible or direction-changing characters." });
      return z.NEVER;
    }
    if (/[<>"]/.test(name)) {
      ctx.addIssue({ code: "custom", message: `From's display name cannot contain <, > or ". ${FROM_SHAPE}` });
      return z.NEVER;
    }
    const address = optionalEmailField.safeParse(rawAddress);
    if (!address.success || !address.data) {
      ctx.addIssue({ code: "custom", message: `From has no valid email address. ${FROM_SHAPE}` });
      return z.NEVER;
    }
    return { name, address: address.data };
  });

/** The Alert Services form, as the service takes it. */
export const SmtpSettingsSchema = z
  .strictObject({
    host: mailserverField,
    port: mailserverPortField,
    security: securityField,
    authUser: singleLineField("Auth user", 255),
    authPass: authPassField,
    removeAuthPass: checkbox,
    from: fromField,
    version: settingsVersionField,
  })
  .superRefine((v, ctx) => {
    if (v.authPass !== "" && v.removeAuthPass)
      ctx.addIssue({
        code: "custom",
        path: ["removeAuthPass"],
        message: "Either type a new Auth pass or tick Remove the stored password, not both.",
      });
    else if (v.authPass !== "" && v.authUser === "")
      ctx.addIssue({
        code: "custom",
        path: ["authUser"],
        message: "Enter the Auth user that goes with Auth pass, or leave both blank to send without authentication.",
      });
  })
  .transform((v): { version: number; settings: SmtpSettingsInput } => ({
    version: v.version,
    settings: {
      host: v.host,
      port: v.port,
      security: v.security,
      authUser: v.authUser,
      // Blank keeps the stored password; "Remove the stored password" removes it.
      authPass: v.removeAuthPass ? "" : v.authPass === "" ? undefined : v.authPass,
      from: v.from,
    },
  }));

const TEST_TO_SHAPE = "Enter the address to send the test email to in Send test to, like name@example.com.";

export const TestEmailSchema = z.strictObject({
  testTo: z
    .string({ error: TEST_TO_SHAPE })
    .superRefine((v, ctx) => {
      if (breaksHeaders(v)) ctx.addIssue({ code: "custom", message: noLineBreaks("Send test to") });
    })
    .transform((v, ctx) => {
      const address = optionalEmailField.safeParse(v);
      if (address.success && address.data) return address.data;
      ctx.addIssue({ code: "custom", message: TEST_TO_SHAPE });
      return z.NEVER;
    }),
});


/** What each number of the General form means at its ends, added to its messages. */
const NUMBER_NOTES: Record<keyof typeof GENERAL_NUMBER_FIELDS, string> = {
  idleMinutes: " (0 turns automatic sign-out off)",
  absoluteHours: "",
  lockoutDelayFrom: "",
  lockoutLockAt: " (100 at most, NIST's ceiling)",
};

/**
 * A whole number of the General form, within its range. A browser always sends the field (blank when cleared:
 * an error); a field left out altogether keeps the saved value.
 */
function generalNumberField(key: keyof typeof GENERAL_NUMBER_FIELDS) {
  const { label, min, max } = GENERAL_NUMBER_FIELDS[key];
  const range = `a whole number from ${min} to ${max}${NUMBER_NOTES[key]}`;
  return z
    .string({ error: `Enter ${label}: ${range}.` })
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return undefined;
      const v = raw.trim();
      if (v === "") {
        ctx.addIssue({ code: "custom", message: `Enter ${label}: ${range}.` });
        return z.NEVER;
      }
      if (!/^[0-9]{1,6}$/.test(v) || Number(v) < min || Number(v) > max) {
        ctx.addIssue({ code: "custom", message: `${label} must be ${range}; "${v.slice(0, 20)}" is not.` });
        return z.NEVER;
      }
      return Number(v);
    });
}

/**
 * General settings: one entry per setting of GeneralSettings (the `satisfies` makes a new setting there fail to
 * compile until its form field is added here), plus the hidden version. What comes out is the settings to change.
 */
const generalFields = {
  requireAdminTwoFactor: checkbox,
  idleMinutes: generalNumberField("idleMinutes"),
  absoluteHours: generalNumberField("absoluteHours"),
  lockoutDelayFrom: generalNumberField("lockoutDelayFrom"),
  lockoutLockAt: generalNumberField("lockoutLockAt"),
} satisfies { [K in keyof GeneralSettings]: z.ZodType<GeneralSettings[K] | undefined> };

export const GeneralSettingsSchema = z
  .strictObject({ ...generalFields, version: settingsVersionField })
  .superRefine((v, ctx) => {
    if (v.lockoutDelayFrom !== undefined && v.lockoutLockAt !== undefined && v.lockoutLockAt <= v.lockoutDelayFrom)
      ctx.addIssue({
        code: "custom",
        path: ["lockoutLockAt"],
        message: `Lock after failed sign-ins must be greater than Wait after failed sign-ins (${v.lockoutDelayFrom}).`,
      });
  })
  .transform(({ version, ...value }): { version: number; value: Partial<GeneralSettings> } => ({ version, value }));
