/**
 * A short, readable name for a User-Agent header ("Firefox on Linux", "Safari on iOS"), for the list of one's
 * sessions. Deliberately small: it names the common browsers and systems and says "Unknown browser" for the
 * rest. Only plain substring tests and anchored, non-nested patterns, so no header can make it backtrack.
 */

const MAX_LENGTH = 500;

/** Browsers, most specific first: Edge, Opera and Samsung Internet also say "Chrome", Chrome also says "Safari". */
const BROWSERS: readonly { name: string; marks: readonly string[] }[] = [
  { name: "Edge", marks: ["Edg/", "EdgA/", "EdgiOS/", "Edge/"] },
  { name: "Opera", marks: ["OPR/", "OPiOS/", "Opera"] },
  { name: "Samsung Internet", marks: ["SamsungBrowser/"] },
  { name: "Vivaldi", marks: ["Vivaldi/"] },
  { name: "Firefox", marks: ["Firefox/", "FxiOS/"] },
  { name: "Chrome (headless)", marks: ["HeadlessChrome/"] },
  { name: "Chrome", marks: ["CriOS/", "Chrome/"] },
  { name: "Chromium", marks: ["Chromium/"] },
  { name: "Internet Explorer", marks: ["Trident/", "MSIE "] },
  { name: "Safari", marks: ["Safari/"] },
];

/** Systems, most specific first: iOS and Android also say "Mac OS X" and "Linux". */
const SYSTEMS: readonly { name: string; marks: readonly string[] }[] = [
  { name: "iOS", marks: ["iPhone", "iPad", "iPod"] },
  { name: "Android", marks: ["Android"] },
  { name: "ChromeOS", marks: ["CrOS"] },
  { name: "Windows", marks: ["Windows"] },
  { name: "macOS", marks: ["Macintosh", "Mac OS X"] },
  { name: "FreeBSD", marks: ["FreeBSD"] },
  { name: "Linux", marks: ["Linux", "X11"] },
];

/** Command-line and library clients, named by the product at the start of the header ("curl/8.5.0"). */
const TOOLS: Record<string, string> = {
  curl: "curl",
  wget: "Wget",
  "python-requests": "Python requests",
  "python-urllib": "Python urllib",
  "go-http-client": "Go HTTP client",
  "node-fetch": "Node.js fetch",
  node: "Node.js",
  undici: "Node.js fetch",
  "node-superagent": "Node.js superagent",
  postmanruntime: "Postman",
  "apache-httpclient": "Apache HttpClient",
  okhttp: "OkHttp",
};

function firstMatch(ua: string, table: readonly { name: string; marks: readonly string[] }[]): string | undefined {
  return table.find((entry) => entry.marks.some((mark) => ua.includes(mark)))?.name;
}

export function describeUserAgent(header: string | null | undefined): string {
  const ua = (header ?? "").slice(0, MAX_LENGTH).trim();
  if (!ua) return "Unknown browser";
  // A browser says "Mozilla/5.0 (…)"; anything else is named by its leading product token.
  if (!ua.startsWith("Mozilla/") && !ua.startsWith("Opera")) {
    const product = /^[A-Za-z][A-Za-z0-9._-]{0,40}/.exec(ua)?.[0]?.toLowerCase();
    const tool = product ? TOOLS[product] : undefined;
    if (tool) return tool;
  }
  const browser = firstMatch(ua, BROWSERS);
  const system = firstMatch(ua, SYSTEMS);
  if (browser && system) return `${browser} on ${system}`;
  if (browser) return browser;
  if (system) return `Unknown browser on ${system}`;
  return "Unknown browser";
}
