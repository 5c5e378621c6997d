/**
 * Small readers for the server-rendered pages: enough to find a form field by its name, its label,
 * its error and the error summary, without a DOM library.
 */

export function decodeEntities(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_m, code: string) => String.fromCodePoint(Number(code)))
    .replace(/&#x([0-9a-f]+);/gi, (_m, code: string) => String.fromCodePoint(Number.parseInt(code, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The opening tag of the input or select named `name` (the first one, or the one with that id). */
export function inputTag(html: string, name: string, id?: string): string | undefined {
  const tags = html.match(/<(?:input|select|textarea)\b[^>]*>/g) ?? [];
  return tags.find(
    (tag) => new RegExp(`\\bname="${escapeRegExp(name)}"`).test(tag) && (!id || new RegExp(`\\bid="${escapeRegExp(id)}"`).test(tag)),
  );
}

/** The value an input shows, decoded; undefined when the input has no value attribute or is missing. */
export function inputValue(html: string, name: string, id?: string): string | undefined {
  const tag = inputTag(html, name, id);
  const match = tag ? /\bvalue="([^"]*)"/.exec(tag) : null;
  return match ? decodeEntities(match[1] ?? "") : undefined;
}

export function isInvalid(html: string, name: string, id?: string): boolean {
  return /\baria-invalid="true"/.test(inputTag(html, name, id) ?? "");
}

/** The message shown beside the field with this id, decoded. */
export function fieldError(html: string, id: string): string | undefined {
  const match = new RegExp(`<small id="${escapeRegExp(id)}-error"[^>]*>([\\s\\S]*?)</small>`).exec(html);
  return match ? decodeEntities(match[1] ?? "").trim() : undefined;
}

/** The text of the label for the control with this id. */
export function labelText(html: string, id: string): string | undefined {
  const match = new RegExp(`<label for="${escapeRegExp(id)}"[^>]*>([\\s\\S]*?)</label>`).exec(html);
  return match ? decodeEntities((match[1] ?? "").replace(/<[^>]*>/g, "")).trim() : undefined;
}

/** The error summary (role="alert"): its text and the field ids it links to. */
export function errorSummary(html: string): { text: string; links: string[] } | undefined {
  const match = /<div class="error-summary" role="alert"[^>]*>([\s\S]*?)<\/div>/.exec(html);
  if (!match) return undefined;
  const body = match[1] ?? "";
  const links = [...body.matchAll(/href="#([^"]+)"/g)].map((m) => m[1] ?? "");
  return { text: decodeEntities(body.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ")).trim(), links };
}

export function h1(html: string): string | undefined {
  const match = /<h1>([\s\S]*?)<\/h1>/.exec(html);
  return match ? decodeEntities((match[1] ?? "").replace(/<[^>]*>/g, "")).trim() : undefined;
}

/** The top bar's links into the administration area, if any. */
export function hasAdminNavigation(html: string): boolean {
  return /href="\/admin/.test(html);
}

/** The page's text as a person reads it: tags removed, entities decoded, spaces collapsed. */
export function pageText(html: string): string {
  return decodeEntities(html.replace(/<[^>]*>/g, " ")).replace(/\s+/g, " ").trim();
}

/** Rows of the first table body: each row's cell texts. */
export function tableRows(html: string): string[][] {
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(html)?.[1] ?? "";
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...(row[1] ?? "").matchAll(/<t[dh][^>]*>([\s\S]*?)<\/t[dh]>/g)].map((cell) =>
      decodeEntities((cell[1] ?? "").replace(/<[^>]*>/g, "")).trim(),
    ),
  );
}
