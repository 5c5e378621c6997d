import { z } from "zod";
import { skeleton } from "./confusables.ts";

/** Code points, not UTF-16 units: "🙂" is one character to a person and to our limits. */
export function codePointLength(value: string): number {
  return [...value].length;
}

const CONTROL_OR_INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\u115F\u1160\u3164\uFFA0\u2800]/u;
const SEPARATOR_OTHER_THAN_SPACE = /[^\S ]|[\u00A0\u2000-\u200A\u202F\u205F\u3000]/u;
const LONE_SURROGATE = /\p{Cs}/u;
const CONTROL = /\p{Cc}/u;
const BIDI_CONTROL = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;

/** The canonical form used to compare names: trimmed, NFKC, lower-case. */
export function nameKey(value: string): string {
  return value.trim().normalize("NFKC").toLowerCase().normalize("NFKC");
}

/**
 * What a name looks like, for telling look-alikes apart (docs/domain.md, "Accounts"): the UTS #39 skeleton of its
 * key, so that case, width and surrounding spaces count for nothing and "аdmin" (Cyrillic а) is "admin".
 */
export function nameSkeleton(value: string): string {
  return skeleton(nameKey(value));
}

export const usernameField = z
  .string({ error: "Enter a username." })
  .transform((v) => v.trim().normalize("NFKC"))
  .superRefine((v, ctx) => {
    const length = codePointLength(v);
    if (length === 0) ctx.addIssue({ code: "custom", message: "Enter a username." });
    else if (length > 64)
      ctx.addIssue({ code: "custom", message: `Username must be at most 64 characters; this one has ${length}.` });
    else if (CONTROL_OR_INVISIBLE.test(v) || SEPARATOR_OTHER_THAN_SPACE.test(v))
      ctx.addIssue({
        code: "custom",
        message: "Username cannot contain control, invisible or direction-changing characters.",
      });
  });

/** Free text such as a full name: limits in code points, no NUL, no lone surrogates, no bidi controls. */
export function textField(label: string, max: number, { multiline = false } = {}) {
  return z
    .string()
    .default("")
    .transform((v) => v.trim())
    .superRefine((v, ctx) => {
      const length = codePointLength(v);
      if (length > max)
        ctx.addIssue({ code: "custom", message: `${label} must be at most ${max} characters; this one has ${length}.` });
      else if (LONE_SURROGATE.test(v) || v.includes("\u0000"))
        ctx.addIssue({ code: "custom", message: `${label} contains a character that cannot be stored.` });
      else if (BIDI_CONTROL.test(v))
        ctx.addIssue({ code: "custom", message: `${label} cannot contain direction-changing characters.` });
      else if (!multiline && CONTROL.test(v))
        ctx.addIssue({ code: "custom", message: `${label} must be on one line.` });
    });
}

const EMAIL_SHAPE = /^[^\s@"<>(),;:\\[\]]+@[^\s@"<>(),;:\\[\]]+\.[^\s@"<>(),;:\\[\]]+$/u;

/** An email field as sent: blank means none. The domain is lower-cased; the local part is kept as typed. */
export const emailField = z
  .string()
  .transform((v) => v.trim())
  .superRefine((v, ctx) => {
    if (v === "") return;
    if (CONTROL_OR_INVISIBLE.test(v) || BIDI_CONTROL.test(v))
      ctx.addIssue({ code: "custom", message: "Email cannot contain control, invisible or direction-changing characters." });
    else if (!EMAIL_SHAPE.test(v))
      ctx.addIssue({ code: "custom", message: "Enter an email address like name@example.com." });
    else if (v.length > 254)
      ctx.addIssue({ code: "custom", message: `Email must be at most 254 characters; this one has ${v.length}.` });
  })
  .transform((v) => {
    if (v === "") return null;
    const at = v.lastIndexOf("@");
    return `${v.slice(0, at)}@${v.slice(at + 1).toLowerCase()}`;
  });

/** Optional email: a missing field is no address (null, as a blank one is: `prefault` runs "" through the field). */
export const optionalEmailField = emailField.prefault("");

/**
 * A password as typed: never trimmed. The upper bound is checked here, before any hashing;
 * the rest of the policy (length, blocklist, username) lives in services/password-policy.ts.
 */
export const passwordField = z
  .string({ error: "Enter a password." })
  .superRefine((v, ctx) => {
    const length = codePointLength(v);
    if (length > 128)
      ctx.addIssue({ code: "custom", message: `Password must be at most 128 characters; this one has ${length}.` });
    else if (v.includes("\u0000") || LONE_SURROGATE.test(v))
      ctx.addIssue({ code: "custom", message: "Password contains a character that cannot be used." });
  });

export const checkbox = z
  .union([z.literal("on"), z.literal("1"), z.literal("true")])
  .optional()
  .transform((v) => v !== undefined);

/** Positive 32-bit id from a URL or form: anything else is a 404 at the route. */
export const idParam = z.string().regex(/^[1-9][0-9]{0,9}$/).transform(Number).refine((n) => n <= 2_147_483_647);

const VERSION_PROBLEM = "The form's version field is missing or invalid; reload the page and try again.";

/** The optimistic-locking version a form was rendered with (a hidden field). */
export const versionField = z.coerce
  .number({ error: VERSION_PROBLEM })
  .int({ error: VERSION_PROBLEM })
  .min(1, { error: VERSION_PROBLEM })
  .max(2_147_483_647, { error: VERSION_PROBLEM });

/** The body of a form that sends nothing but its button (and the CSRF token, taken off before): any field is refused. */
export const EmptySchema = z.strictObject({});
