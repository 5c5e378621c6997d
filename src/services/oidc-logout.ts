import type { Db } from "../db/index.ts";
import type { Logger } from "../lib/logger.ts";
import { PeriodicJob } from "../lib/periodic-job.ts";
import * as notices from "../repositories/oidc-logout-notices.ts";

/**
 * Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a person's sign-in through Gatehouse ends
 * (they sign out of the console, sign out everywhere, change their password, are disabled or deleted), each system
 * they signed in to that registered a "Back-channel logout URI" is sent a logout token, so that it ends its own
 * session for them. The notices are queued by the database in the transaction that ends the sign-in
 * (migrations/20261203190000_add_oidc_backchannel_logout.ts) and sent from here, after it has committed, by every
 * instance (claims skip each other's rows), with retries. The provider's own sign-out page sends its notices itself.
 */

/** Waits before the 2nd, 3rd and 4th attempt; a notice no system has taken after those is dropped, with a warning. */
export const LOGOUT_RETRY_SECONDS = [10, 60, 300] as const;
/** Longer than one send can take, so that a notice being sent is not claimed again meanwhile. */
const CLAIM_SECONDS = 60;
const BATCH = 20;
/** How often queued notices are looked for when nothing asked (a notice queued by another instance, a retry). */
export const LOGOUT_POLL_MS = 5_000;

/**
 * Posts the logout token of one notice to the client's address (the provider makes and signs it, with the keys of
 * its ID tokens); "no address" when the client is gone or has none now. Throws with what went wrong.
 */
export type DeliverLogoutToken = (notice: { clientId: string; accountId: string; sid: string | null }) => Promise<"sent" | "no address">;

/** What a failed send says, for the log and the notice's last_error: the network's reason rather than "fetch failed". */
function problemOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}

/** Sends what is queued: every LOGOUT_POLL_MS, and at once when `runSoon()` is called. */
export class OidcLogoutNotices extends PeriodicJob {
  constructor(db: Db, deliver: DeliverLogoutToken, logger: Logger) {
    super(
      async ({ shouldContinue }) => {
        for (;;) {
          const due = await notices.claimDueLogoutNotices(db, BATCH, CLAIM_SECONDS);
          await Promise.all(due.map((notice) => OidcLogoutNotices.send(db, deliver, logger, notice)));
          if (due.length < BATCH || !shouldContinue()) return;
        }
      },
      LOGOUT_POLL_MS,
      (error) => logger.warn({ err: error }, "back-channel logout: could not send queued notices"),
    );
  }

  private static async send(db: Db, deliver: DeliverLogoutToken, logger: Logger, notice: notices.LogoutNotice): Promise<void> {
    const log = { clientId: notice.clientId, accountId: notice.accountId, attempt: notice.attempts };
    try {
      // Sign-in disabled since, or the address removed: nobody to tell.
      if ((await deliver(notice)) === "sent") logger.info(log, "back-channel logout sent");
      await notices.deleteLogoutNotice(db, notice.id);
    } catch (error) {
      const problem = problemOf(error);
      const delay = LOGOUT_RETRY_SECONDS[notice.attempts - 1];
      if (delay === undefined) {
        await notices.deleteLogoutNotice(db, notice.id);
        logger.warn({ ...log, problem }, "back-channel logout: the system did not take the notice; given up");
      } else {
        await notices.deferLogoutNotice(db, notice.id, delay, problem);
        logger.warn({ ...log, problem, retryInSeconds: delay }, "back-channel logout: the system did not take the notice; will try again");
      }
    }
  }
}
