import type { Db, Queryable } from "../db/index.ts";
import { ConflictError } from "../errors.ts";
import { lookalikeCharacters } from "../lib/confusables.ts";
import { nameKey, nameSkeleton } from "../lib/fields.ts";
import { assertCan } from "../policies/users.ts";
import { insertAuditEvents } from "../repositories/audit-events.ts";
import * as teams from "../repositories/teams.ts";
import * as users from "../repositories/users/index.ts";
import type { Actor, AuthSource } from "../types/user.ts";
import { recordAudit } from "./audit.ts";
import { isForeignKeyViolation, isUniqueViolation } from "./errors-map.ts";
import { isMailConfigured } from "./mail-settings.ts";
import { queueInvitations } from "./password-reset.ts";
import { type ImportProblem, type ParsedRow, type RowFacts, readImportFile, shown } from "./user-import-file.ts";

export { FILE_TOO_LARGE, IMPORT_COLUMNS, IMPORT_MAX_BYTES, IMPORT_MAX_ROWS, type ImportProblem } from "./user-import-file.ts";

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

/** A name that looks like another one (docs/domain.md, "Accounts"), in the words of the other problems. */
function looksLike(username: string, other: string): string {
  const characters = lookalikeCharacters(username);
  const which = characters.length > 0 ? `: ${characters.join(", ")}` : "";
  return `username ${username} looks like ${other} (they differ only in characters that look alike${which}); choose a name that looks different.`;
}

/** What the database says about the rows: names and addresses taken, in the file or already, and teams that do not exist. */
async function checkAgainstDatabase(db: Queryable, rows: readonly RowFacts[]): Promise<{ problems: ImportProblem[]; teamsByKey: Map<string, { id: number; name: string }> }> {
  const problems: ImportProblem[] = [];
  const firstLineOfName = new Map<string, number>();
  const firstOfSkeleton = new Map<string, { line: number; username: string }>();
  const firstLineOfAddress = new Map<string, number>();
  for (const row of rows) {
    if (row.username !== null) {
      const key = nameKey(row.username);
      const earlier = firstLineOfName.get(key);
      const lookalike = firstOfSkeleton.get(nameSkeleton(row.username));
      if (earlier !== undefined)
        problems.push({ line: row.line, field: "username", message: `username ${row.username} appears twice in the file (also line ${earlier}).` });
      else if (lookalike !== undefined)
        problems.push({ line: row.line, field: "username", message: looksLike(row.username, `${lookalike.username} on line ${lookalike.line}`) });
      else {
        firstLineOfName.set(key, row.line);
        firstOfSkeleton.set(nameSkeleton(row.username), { line: row.line, username: row.username });
      }
    }
    if (row.email) {
      const address = row.email.toLowerCase();
      const earlierAddress = firstLineOfAddress.get(address);
      if (earlierAddress !== undefined)
        problems.push({ line: row.line, field: "email", message: `email ${row.email} appears twice in the file (also line ${earlierAddress}); each account needs its own address.` });
      else firstLineOfAddress.set(address, row.line);
    }
  }
  const named = rows.flatMap((row) => (row.username === null ? [] : [row.username]));
  const [existingNames, existingLookalikes, emailOwners, teamsByKey] = await Promise.all([
    users.selectUsernamesByKeys(db, named.map(nameKey)),
    users.selectUsernamesBySkeletons(db, named.map(nameSkeleton)),
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
    const lookalike = row.username === null || existing !== undefined ? undefined : existingLookalikes.get(nameSkeleton(row.username));
    if (lookalike !== undefined) problems.push({ line: row.line, field: "username", message: looksLike(row.username as string, `the existing user ${lookalike}`) });
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
  const read = readImportFile(input.file);
  if ("fatal" in read) return { outcome: { status: "rejected", problems: read.fatal } };
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
    if (!isUniqueViolation(error) && !isForeignKeyViolation(error)) throw error;
    // Someone created one of these names or addresses, or deleted one of the teams, after the check: the
    // transaction is gone, so say which.
    const again = await validate(db, input);
    if ("outcome" in again) return again.outcome;
    throw new ConflictError("Another change got in the way of this import; nothing was imported. Try again.");
  }
}
