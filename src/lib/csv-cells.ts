/**
 * CSV for downloads a person opens in a spreadsheet (the log, the users list, the access report): one writer, so
 * that every download neutralises formulas the same way (docs/security.md A19).
 */

const FORMULA_START = new Set(["=", "+", "-", "@", "\t", "\r"]);
const NEEDS_QUOTES = /[",\r\n]/;

/**
 * One CSV cell (RFC 4180). A cell that a spreadsheet would take for a formula (= + - @, or a tab or carriage return
 * first) gets a leading apostrophe, so that opening a download never runs what someone typed into a name (OWASP
 * "CSV injection"). Quotes double, and a cell with a quote, comma or line break is quoted.
 */
export function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? "" : typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
  if (FORMULA_START.has(text.charAt(0))) text = `'${text}`;
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV row of cells, ended by CRLF as RFC 4180 has it. */
export function csvLine(cells: readonly unknown[]): string {
  return `${cells.map(csvCell).join(",")}\r\n`;
}
