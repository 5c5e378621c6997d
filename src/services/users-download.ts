import type { Queryable } from "../db/index.ts";
import { csvLine } from "../lib/csv-cells.ts";
import { assertCan } from "../policies/reports.ts";
import * as users from "../repositories/users/index.ts";
import type { UserCursor, UserWithTeams } from "../repositories/users/index.ts";
import type { Actor } from "../types/user.ts";
import { recordAudit } from "./audit.ts";
import { METHOD_LABELS } from "./two-factor.ts";

/** Accounts per statement of the download: few round trips, flat memory. */
export const USERS_DOWNLOAD_BATCH_SIZE = 1_000;

export type UsersDownloadQuery = Pick<users.UserPageQuery, "search" | "sort" | "direction">;

const COLUMNS = [
  "id",
  "username",
  "full_name",
  "email",
  "email_verified",
  "pending_email",
  "title",
  "phone",
  "authentication",
  "administrator",
  "enabled",
  "teams",
  "two_factor",
  "created_at",
  "last_sign_in_at",
] as const;

function row({ user, teamNames }: UserWithTeams): string {
  return csvLine([
    user.id,
    user.username,
    user.fullName,
    user.email,
    user.email === null ? "" : user.emailVerified ? "yes" : "no",
    user.pendingEmail,
    user.title,
    user.phone,
    user.authSource === "ldap" ? "LDAP" : "Local password",
    user.isAdmin ? "yes" : "no",
    user.disabled ? "no" : "yes",
    teamNames.join("; "),
    user.twoFactorMethod ? METHOD_LABELS[user.twoFactorMethod] : "off",
    user.createdAt.toISOString(),
    user.lastLoginAt?.toISOString() ?? "",
  ]);
}

/**
 * The Users list as CSV (docs/domain.md, "The access report"): every account the list's search matches, in the
 * list's order, not only the page on screen. A header, then one chunk per batch read by keyset, so the caller
 * writes and waits for the client a batch at a time. Administrators only, asked before the first byte.
 */
export function usersCsvChunks(db: Queryable, actor: Actor, query: UsersDownloadQuery, batchSize = USERS_DOWNLOAD_BATCH_SIZE): AsyncGenerator<string> {
  assertCan(actor, "download-users");
  return (async function* () {
    yield csvLine(COLUMNS);
    let after: UserCursor | undefined;
    for (;;) {
      const batch = await users.selectUsersBatch(db, { ...query, limit: batchSize }, after);
      if (batch.length > 0) yield batch.map(row).join("");
      if (batch.length < batchSize) return;
      after = batch[batch.length - 1]?.cursor;
    }
  })();
}

/** A copy of the directory leaving the console is on the trail: who took it, with which search and sort. */
export function recordUsersDownload(db: Queryable, actor: Actor, query: UsersDownloadQuery): Promise<void> {
  assertCan(actor, "download-users");
  return recordAudit(db, actor, { action: "user.list_downloaded", details: { format: "csv", filters: { ...query } } });
}
