import { parse } from "csv-parse/sync";
import { z } from "zod";
import type { Db, Queryable } from "../db/index.ts";
import { ConflictError } from "../errors.ts";
import { nameKey, optionalEmailField, textField, usernameField } from "../lib/fields.ts";
import { assertCan } from "../policies/users.ts";
import { insertAuditEvents } from "../repositories/audit-events.ts";
import * as teams from "../repositories/teams.ts";
import * as users from "../repositories/users/index.ts";
import type { Actor, AuthSource } from "../types/user.ts";
import { recordAudit } from "./audit.ts";
import { isUniqueViolation } from "./errors-map.ts";
import { isMailConfigured } from "./mail-settings.ts";
import { queueInvitations } from "./password-reset.ts";

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

export interface ImportedAccount {
  id: number;
  line: number;
  username: string;
  fullName: string;
  email: string | null;
  authSource: AuthSource;
  teams: string[];
  /** An emailed code to choose a password is on its way (local accounts with an address, mail configured). */
  invited: boolean;
}

export type ImportOutcome =
  | { status: "rejected"; problems: ImportProblem[] }
  | { status: "checked"; wouldImport: number; local: number; ldap: number }
  | {
      status: "imported";
      accounts: ImportedAccount[];
      /** Local accounts that got no invitation (no address, or no mail server): they need a temporary password. */
      needTemporaryPassword: ImportedAccount[];
      invitationMessageIds: number[];
      teamsJoined: number;
    };

export interface ImportInput {
  /** The file as uploaded; `truncated` when it was cut off at IMPORT_MAX_BYTES on the way in. */
  file: { bytes: Buffer; truncated: boolean };
  checkOnly: boolean;
  /** BASE_URL, for the link in the invitations (never the request's Host, docs/security.md R5). */
  baseUrl: string;
}

interface ParsedRow {
  line: number;
  username: string;
  fullName: string;
  title: string;
  email: string | null;
  phone: string;
  authSource: AuthSource;
  /** Team names as written, by name key. */
  teamKeys: Map<string, string>;
}

/** What the database and the rest of the file are asked about a row, also when some of its fields are wrong. */
interface RowFacts {
  line: number;
  /** null when the username itself is not valid (its problem is reported already). */
  username: string | null;
  email: string | null;
  teamKeys: Map<string, string>;
}

const fileProblem = (message: string): ImportOutcome => ({ status: "rejected", problems: [{ line: null, field: "file", message }] });

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
function shown(value: string): string {
  return [...value].length > 64 ? `${[...value].slice(0, 64).join("")}…` : value;
}

type Records = { record: string[]; info: { bytes: number } }[];

/** The file as rows of the known columns, or what keeps it from being read at all. */
function readRows(input: ImportInput): { rows: ParsedRow[]; facts: RowFacts[]; problems: ImportProblem[] } | { outcome: ImportOutcome } {
  const { bytes, truncated } = input.file;
  if (truncated || bytes.length > IMPORT_MAX_BYTES) return { outcome: fileProblem(FILE_TOO_LARGE) };
  if (bytes.length === 0) return { outcome: fileProblem(FILE_EMPTY) };
  let text: string;
  try {
    // fatal: a byte sequence that is not UTF-8 is refused, never read as U+FFFD; a BOM is dropped.
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return { outcome: fileProblem(NOT_UTF8) };
  }
  if (text.trim() === "") return { outcome: fileProblem(FILE_EMPTY) };

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
    return { outcome: { status: "rejected", problems: [csvReadingProblem(error)] } };
  }
  const [header, ...body] = records;
  if (!header) return { outcome: fileProblem(FILE_EMPTY) };

  const names = header.record.map((name) => name.trim().normalize("NFKC").toLowerCase());
  const lines = new LineCounter(source);
  const headerLine = lines.startOf(header.info.bytes, header.record);
  const headerProblems: ImportProblem[] = [];
  const unknown = names.filter((name) => !(name in COLUMNS));
  if (unknown.length > 0)
    headerProblems.push({
      line: headerLine,
      field: "header",
      message: `The file has unknown ${unknown.length === 1 ? "column" : "columns"} ${unknown.map((n) => `"${shown(n)}"`).join(", ")}. The columns are ${IMPORT_COLUMNS.join(", ")}.`,
    });
  for (const name of new Set(names.filter((name, i) => names.indexOf(name) !== i)))
    headerProblems.push({ line: headerLine, field: "header", message: `The column "${shown(name)}" appears more than once in the header.` });
  if (!names.includes("username")) headerProblems.push({ line: headerLine, field: "header", message: NO_USERNAME_COLUMN });
  if (headerProblems.length > 0) return { outcome: { status: "rejected", problems: headerProblems } };
  if (body.length === 0) return { outcome: fileProblem(NO_ROWS) };
  if (body.length > IMPORT_MAX_ROWS) return { outcome: fileProblem(tooManyRows(body.length)) };

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

/** What the database says about the rows: names and addresses taken, in the file or already, and teams that do not exist. */
async function checkAgainstDatabase(db: Queryable, rows: readonly RowFacts[]): Promise<{ problems: ImportProblem[]; teamsByKey: Map<string, { id: number; name: string }> }> {
  const problems: ImportProblem[] = [];
  const firstLineOfName = new Map<string, number>();
  const firstLineOfAddress = new Map<string, number>();
  for (const row of rows) {
    if (row.username !== null) {
      const key = nameKey(row.username);
      const earlier = firstLineOfName.get(key);
      if (earlier !== undefined)
        problems.push({ line: row.line, field: "username", message: `username ${row.username} appears twice in the file (also line ${earlier}).` });
      else firstLineOfName.set(key, row.line);
    }
    if (row.email) {
      const address = row.email.toLowerCase();
      const earlierAddress = firstLineOfAddress.get(address);
      if (earlierAddress !== undefined)
        problems.push({ line: row.line, field: "email", message: `email ${row.email} appears twice in the file (also line ${earlierAddress}); each account needs its own address.` });
      else firstLineOfAddress.set(address, row.line);
    }
  }
  const [existingNames, emailOwners, teamsByKey] = await Promise.all([
    users.selectUsernamesByKeys(db, rows.flatMap((row) => (row.username === null ? [] : [nameKey(row.username)]))),
    users.selectEmailOwners(db, rows.flatMap((row) => (row.email ? [row.email] : []))),
    teams.selectTeamsByNameKeys(db, [...new Set(rows.flatMap((row) => [...row.teamKeys.keys()]))]),
  ]);
  for (const row of rows) {
    const existing = row.username === null ? undefined : existingNames.get(nameKey(row.username));
    if (existing !== undefined)
      problems.push({
        line: row.line,
        field: "username",
        message:
          existing === row.username
            ? `username ${row.username} already exists.`
            : `username ${row.username} already exists as ${existing} (names are compared without regard to case, width or surrounding spaces).`,
      });
    const owner = row.email ? emailOwners.get(row.email.toLowerCase()) : undefined;
    if (owner !== undefined) problems.push({ line: row.line, field: "email", message: `email ${row.email} is already used by the account ${owner}.` });
    for (const [key, written] of row.teamKeys)
      if (!teamsByKey.has(key)) problems.push({ line: row.line, field: "teams", message: `team "${shown(written)}" does not exist.` });
  }
  return { problems, teamsByKey };
}

function byLine(a: ImportProblem, b: ImportProblem): number {
  return (a.line ?? 0) - (b.line ?? 0);
}

async function validate(db: Queryable, input: ImportInput): Promise<{ outcome: ImportOutcome } | { rows: ParsedRow[]; teamsByKey: Map<string, { id: number; name: string }> }> {
  const read = readRows(input);
  if ("outcome" in read) return read;
  const checked = await checkAgainstDatabase(db, read.facts);
  const problems = [...read.problems, ...checked.problems].sort(byLine);
  if (problems.length > 0) return { outcome: { status: "rejected", problems } };
  return { rows: read.rows, teamsByKey: checked.teamsByKey };
}

/**
 * Imports accounts from a CSV file (docs/domain.md, "Importing users"), all or nothing: every row is checked
 * first, and any problem means nothing is written and every problem is reported by line. Otherwise one
 * transaction writes the accounts (no password; email unverified), their team memberships, the invitations of
 * local accounts with an address when mail is configured (a reset code valid 72 hours and its message, sent after
 * commit), a `user.created` event per account and `team.member_added` per membership, and one `user.imported`
 * event with the counts. `checkOnly` stops after the checks.
 */
export async function importUsers(db: Db, actor: Actor, input: ImportInput): Promise<ImportOutcome> {
  assertCan(actor, "import");
  const checked = await validate(db, input);
  if ("outcome" in checked) return checked.outcome;
  const { rows, teamsByKey } = checked;
  const local = rows.filter((row) => row.authSource === "local").length;
  if (input.checkOnly) return { status: "checked", wouldImport: rows.length, local, ldap: rows.length - local };

  const mailConfigured = await isMailConfigured(db);
  try {
    return await db.transaction(async (trx) => {
      const ids = await users.insertImportedUsers(trx, rows);
      const accounts: ImportedAccount[] = rows.map((row) => ({
        id: ids.get(nameKey(row.username)) as number,
        line: row.line,
        username: row.username,
        fullName: row.fullName,
        email: row.email,
        authSource: row.authSource,
        teams: [...row.teamKeys.keys()].map((key) => teamsByKey.get(key)?.name as string),
        invited: mailConfigured && row.authSource === "local" && row.email !== null,
      }));
      const memberships = rows.flatMap((row) =>
        [...row.teamKeys.keys()].map((key) => ({ teamId: teamsByKey.get(key)?.id as number, userId: ids.get(nameKey(row.username)) as number })),
      );
      const teamsJoined = await teams.insertMembers(trx, memberships);
      const invited = accounts.filter((a) => a.invited);
      const invitationMessageIds = await queueInvitations(
        trx,
        invited.map((a) => ({ id: a.id, username: a.username, email: a.email as string })),
        input.baseUrl,
      );
      const byId = new Map(accounts.map((a) => [a.id, a]));
      const teamById = new Map([...teamsByKey.values()].map((t) => [t.id, t]));
      await insertAuditEvents(trx, actor, [
        ...rows.map((row, i) => {
          const account = accounts[i] as ImportedAccount;
          return {
            action: "user.created",
            target: { type: "user", id: account.id, label: row.username },
            details: {
              source: "import",
              changes: {
                username: { from: null, to: row.username },
                ...(row.fullName ? { fullName: { from: null, to: row.fullName } } : {}),
                ...(row.title ? { title: { from: null, to: row.title } } : {}),
                ...(row.email ? { email: { from: null, to: row.email } } : {}),
                ...(row.phone ? { phone: { from: null, to: row.phone } } : {}),
                isAdmin: { from: null, to: false },
                authSource: { from: null, to: row.authSource },
                disabled: { from: null, to: false },
              },
            },
          };
        }),
        ...memberships.map((m) => {
          const account = byId.get(m.userId) as ImportedAccount;
          const team = teamById.get(m.teamId);
          return {
            action: "team.member_added",
            target: { type: "team", id: m.teamId, label: team?.name ?? "" },
            details: { user: { id: account.id, username: account.username }, source: "import" },
          };
        }),
      ]);
      const needTemporaryPassword = accounts.filter((a) => a.authSource === "local" && !a.invited);
      await recordAudit(trx, actor, {
        action: "user.imported",
        details: {
          rows: rows.length,
          local,
          ldap: rows.length - local,
          invitationsSent: invitationMessageIds.length,
          withoutInvitation: needTemporaryPassword.length,
          teamsJoined,
          mailConfigured,
        },
      });
      return { status: "imported", accounts, needTemporaryPassword, invitationMessageIds, teamsJoined };
    });
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    // Someone created one of these names or addresses after the check: the transaction is gone, so say which.
    const again = await validate(db, input);
    if ("outcome" in again) return again.outcome;
    throw new ConflictError("Another change got in the way of this import; nothing was imported. Try again.");
  }
}
