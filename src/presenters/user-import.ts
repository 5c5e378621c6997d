import type { ImportedAccount, ImportProblem } from "../services/user-import.ts";

/** At most this many problems are listed on the page and in the API's answer; the total is always given. */
export const PROBLEMS_SHOWN = 1_000;

/** "Line 7: team "Ops" does not exist." — or the message alone for the file as a whole. */
export function problemText(problem: ImportProblem): string {
  return problem.line === null ? problem.message : `Line ${problem.line}: ${problem.message}`;
}

export interface ImportProblemsView {
  total: number;
  shown: string[];
  /** The page's lead sentence: how many, and that nothing was imported. */
  summary: string;
}

export function presentImportProblems(problems: readonly ImportProblem[]): ImportProblemsView {
  const total = problems.length;
  const counted = total === 1 ? "1 problem" : `${total.toLocaleString("en-US")} problems`;
  const more = total > PROBLEMS_SHOWN ? ` The first ${PROBLEMS_SHOWN.toLocaleString("en-US")} are listed.` : "";
  return {
    total,
    shown: problems.slice(0, PROBLEMS_SHOWN).map(problemText),
    summary: `Nothing was imported: the file has ${counted}. Correct the file and import it again.${more}`,
  };
}

export interface ImportedAccountRow {
  id: number;
  href: string;
  username: string;
  fullName: string;
  email: string;
  authentication: string;
  teams: string;
  firstSignIn: string;
}

export function presentImportedAccount(account: ImportedAccount): ImportedAccountRow {
  return {
    id: account.id,
    href: `/admin/users/${account.id}`,
    username: account.username,
    fullName: account.fullName,
    email: account.email ?? "",
    authentication: account.authSource === "ldap" ? "LDAP" : "Local password",
    teams: account.teams.join(", "),
    firstSignIn:
      account.authSource === "ldap"
        ? "With the directory password; linked at the first LDAP sign-in"
        : account.invited
          ? "Invitation emailed (valid 72 hours)"
          : "Needs a temporary password",
  };
}
