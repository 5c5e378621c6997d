/**
 * Only a local path is followed after sign-in: exactly one leading "/", no backslash, no scheme,
 * no control characters. Anything else sends the user home.
 */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== "string" || value.length > 2000) return "/";
  if (!value.startsWith("/") || value.startsWith("//")) return "/";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters in a redirect target are refused
  if (/[\\\u0000-\u001f\u007f]/.test(value)) return "/";
  if (value === "/login" || value.startsWith("/login?") || value.startsWith("/logout")) return "/";
  return value;
}
