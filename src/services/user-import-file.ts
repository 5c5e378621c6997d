import { parse } from "csv-parse/sync";
import { z } from "zod";
import { nameKey, optionalEmailField, textField, usernameField } from "../lib/fields.ts";
import type { NewImportedUser } from "../repositories/users/bulk.ts";

// Reading an import file (docs/domain.md, "Importing users"): bytes to rows of checked fields, or the problems of
// the file and its rows. What the database says about the rows is services/user-import.ts's.

/** docs/domain.md, "Importing users": the limits of one file. */
export const IMPORT_MAX_BYTES = 10 * 1024 * 1024;
export const IMPORT_MAX_ROWS = 50_000;

export const FILE_TOO_LARGE = "The file is larger than 10 MB. Split it into smaller files and import each.";
const FILE_EMPTY = "The file is empty: it has no header and no rows to import.";
const NO_ROWS = "The file has no rows to import: it has a header line only.";
const NO_USERNAME_COLUMN = "The file has no username column. The first line must name the columns, for example: username,full name,email.";
const NOT_UTF8 = "The file is not valid UTF-8 text. Save it as \"CSV UTF-8\" and try again.";
const tooManyRows = (rows: number) =>
  `The file has more than ${IMPORT_MAX_ROWS.toLocaleString("en-US")} rows (it has ${rows.toLocaleString("en-US")}). Split it into smaller files.`;

/** The columns a file may have, by their header name (trimmed, without regard to case), and the field each fills. */
const COLUMNS = {
  username: "username",
  "full name": "fullName",
  email: "email",
  title: "title",
  phone: "phone",
  teams: "teams",
  authentication: "authSource",
} as const;
type ColumnName = keyof typeof COLUMNS;
type Field = (typeof COLUMNS)[ColumnName];
const COLUMN_OF_FIELD = Object.fromEntries(Object.entries(COLUMNS).map(([column, field]) => [field, column])) as Record<Field, ColumnName>;
export const IMPORT_COLUMNS: readonly ColumnName[] = Object.keys(COLUMNS) as ColumnName[];

/**
 * The fields an account takes, with the rules and the words of the user form (routes/admin/users/schemas.ts): the
 * same field schemas, so lengths count code points and NUL, bidi and invisible characters are refused alike
 * (docs/security.md A10, A11, E6, E7).
 */
const ImportRowSchema = z.object({
  username: usernameField,
  fullName: textField("Full name", 128),
  title: textField("Title", 128),
  email: optionalEmailField,
  phone: textField("Phone", 64),
});

/** One thing wrong with the file: the line it starts on (null for the file as a whole), the column, and what is wrong. */
export interface ImportProblem {
  line: number | null;
  field: string;
  message: string;
}

export interface ParsedRow extends NewImportedUser {
  line: number;
  /** Team names as written, by name key. */
  teamKeys: Map<string, string>;
}

/** What the database and the rest of the file are asked about a row, also when some of its fields are wrong. */
export interface RowFacts {
  line: number;
  /** null when the username itself is not valid (its problem is reported already). */
  username: string | null;
  email: string | null;
  teamKeys: Map<string, string>;
}

const fileProblem = (message: string): { fatal: ImportProblem[] } => ({ fatal: [{ line: null, field: "file", message }] });

/**
 * Line numbers as an editor shows them (CRLF, LF or CR each end one line), counted over the bytes the parser read:
 * each record's `bytes` is where it ends, and quoted values may span lines, so a row starts where it ends less the
 * line breaks inside its values.
 */
class LineCounter {
  private position = 0;
  private breaks = 0;

  constructor(private readonly bytes: Buffer) {}

  startOf(recordEnd: number, record: readonly string[]): number {
    for (; this.position < recordEnd; this.position++) {
      const byte = this.bytes[this.position];
      if (byte === 0x0a || (byte === 0x0d && this.bytes[this.position + 1] !== 0x0a)) this.breaks++;
    }
    const last = this.bytes[recordEnd - 1];
    const endLine = last === 0x0a || last === 0x0d ? this.breaks : this.breaks + 1;
    let inside = 0;
    for (const value of record) inside += value.match(/\r\n|\r|\n/g)?.length ?? 0;
    return endLine - inside;
  }
}

/** Spreadsheets save "CSV" with commas or, where the comma is the decimal mark, semicolons: the header line tells. */
function delimiterOf(text: string): "," | ";" {
  let commas = 0;
  let semicolons = 0;
  let quoted = false;
  for (const char of text) {
    if (char === '"') quoted = !quoted;
    else if (!quoted && (char === "\n" || char === "\r")) break;
    else if (!quoted && char === ",") commas++;
    else if (!quoted && char === ";") semicolons++;
  }
  return semicolons > commas ? ";" : ",";
}

function csvReadingProblem(error: unknown): ImportProblem {
  const { code, lines, message } = error as { code?: string; lines?: number; message?: string };
  const why =
    code === "CSV_QUOTE_NOT_CLOSED"
      ? "a quoted value is never closed: a value that starts with a double quote must end with one"
      : code === "CSV_INVALID_CLOSING_QUOTE"
        ? 'a double quote inside a quoted value must be doubled ("")'
        : (message ?? "it is not valid CSV");
  return { line: lines ?? null, field: "file", message: `The file cannot be read as CSV here: ${why}.` };
}

/** Long values are cut in messages: the message names the value, the line says where the rest is. */
export function shown(value: string): string {
  return [...value].length > 64 ? `${[...value].slice(0, 64).join("")}…` : value;
}

type Records = { record: string[]; info: { bytes: number } }[];

/**
 * The file as rows of the known columns, each checked with the user form's field rules: the rows whose every field
 * is good, what the database must be asked about every row, and the problems found; or, as `fatal`, what keeps the
 * file from being read at all. `truncated`: the file was cut off at IMPORT_MAX_BYTES on the way in.
 */
export function readImportFile(file: { bytes: Buffer; truncated: boolean }): { rows: ParsedRow[]; facts: RowFacts[]; problems: ImportProblem[] } | { fatal: ImportProblem[] } {
  const { bytes, truncated } = file;
  if (truncated || bytes.length > IMPORT_MAX_BYTES) return fileProblem(FILE_TOO_LARGE);
  if (bytes.length === 0) return fileProblem(FILE_EMPTY);
  let text: string;
  try {
    // fatal: a byte sequence that is not UTF-8 is refused, never read as U+FFFD; a BOM is dropped.
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return fileProblem(NOT_UTF8);
  }
  if (text.trim() === "") return fileProblem(FILE_EMPTY);

  // The parser counts bytes; the text is parsed as UTF-8 again (without the BOM) so that they index `source`.
  const source = Buffer.from(text, "utf8");
  let records: Records;
  try {
    records = parse(source, {
      delimiter: delimiterOf(text),
      record_delimiter: ["\r\n", "\n", "\r"],
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      skip_records_with_empty_values: true,
    }) as unknown as Records;
  } catch (error) {
    return { fatal: [csvReadingProblem(error)] };
  }
  const [header, ...body] = records;
  if (!header) return fileProblem(FILE_EMPTY);

  const names = header.record.map((name) => name.trim().normalize("NFKC").toLowerCase());
  const lines = new LineCounter(source);
  const headerLine = lines.startOf(header.info.bytes, header.record);
  const headerProblems: ImportProblem[] = [];
  const unknown = names.filter((name) => name !== "" && !Object.hasOwn(COLUMNS, name));
  const unnamed = names.flatMap((name, i) => (name === "" ? [i + 1] : []));
  if (unnamed.length > 0)
    headerProblems.push({
      line: headerLine,
      field: "header",
      message: `The header leaves ${unnamed.length === 1 ? `column ${unnamed[0]}` : `columns ${unnamed.join(", ")}`} without a name: name every column, or remove the empty ones.`,
    });
  if (unknown.length > 0)
    headerProblems.push({
      line: headerLine,
      field: "header",
      message: `The file has unknown ${unknown.length === 1 ? "column" : "columns"} ${unknown.map((n) => `"${shown(n)}"`).join(", ")}. The columns are ${IMPORT_COLUMNS.join(", ")}.`,
    });
  for (const name of new Set(names.filter((name, i) => name !== "" && names.indexOf(name) !== i)))
    headerProblems.push({ line: headerLine, field: "header", message: `The column "${shown(name)}" appears more than once in the header.` });
  if (!names.includes("username")) headerProblems.push({ line: headerLine, field: "header", message: NO_USERNAME_COLUMN });
  if (headerProblems.length > 0) return { fatal: headerProblems };
  if (body.length === 0) return fileProblem(NO_ROWS);
  if (body.length > IMPORT_MAX_ROWS) return fileProblem(tooManyRows(body.length));

  const columns = names as ColumnName[];
  const rows: ParsedRow[] = [];
  const facts: RowFacts[] = [];
  const problems: ImportProblem[] = [];
  for (const { record, info } of body) {
    const line = lines.startOf(info.bytes, record);
    if (record.length !== columns.length) {
      problems.push({ line, field: "row", message: `The row has ${record.length} values; the header has ${columns.length} columns.` });
      continue;
    }
    const raw: Partial<Record<Field, string>> = {};
    columns.forEach((column, i) => {
      raw[COLUMNS[column]] = record[i];
    });
    const parsed = ImportRowSchema.safeParse({
      username: raw.username ?? "",
      fullName: raw.fullName ?? "",
      title: raw.title ?? "",
      email: raw.email ?? "",
      phone: raw.phone ?? "",
    });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const field = COLUMN_OF_FIELD[issue.path[0] as Field] ?? "row";
        const message = field === "email" ? `email "${shown((raw.email ?? "").trim())}" is not a valid address: ${issue.message}` : issue.message;
        problems.push({ line, field, message });
      }
    }
    const authentication = (raw.authSource ?? "").trim().toLowerCase();
    if (authentication !== "" && authentication !== "local" && authentication !== "ldap")
      problems.push({ line, field: "authentication", message: `authentication must be "local" or "ldap"; this one is "${shown(raw.authSource ?? "")}".` });
    const teamKeys = new Map<string, string>();
    // A spreadsheet cell may hold one team a line as well.
    for (const name of (raw.teams ?? "").split(/[;\r\n]/)) {
      const trimmed = name.trim();
      if (trimmed !== "") teamKeys.set(nameKey(trimmed), trimmed);
    }
    if (parsed.success) {
      rows.push({ line, ...parsed.data, authSource: authentication === "ldap" ? "ldap" : "local", teamKeys });
      facts.push({ line, username: parsed.data.username, email: parsed.data.email, teamKeys });
    } else {
      // The row's other fields are still checked, so that one pass lists every problem of the file.
      const username = ImportRowSchema.shape.username.safeParse(raw.username ?? "");
      const email = ImportRowSchema.shape.email.safeParse(raw.email ?? "");
      facts.push({ line, username: username.success ? username.data : null, email: email.success ? email.data : null, teamKeys });
    }
  }
  return { rows, facts, problems };
}
