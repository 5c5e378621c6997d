import type { Db } from "../../db/index.ts";
import { PeriodicJob } from "../../lib/periodic-job.ts";
import type { Logger } from "../../lib/logger.ts";
import { deleteExpiredOidcPayloads } from "../../repositories/oidc-payloads.ts";

export const OIDC_CLEANUP_INTERVAL_MS = 10 * 60_000;

/**
 * Deletes the provider's expired objects (src/auth/oidc/adapter.ts) once at start and then every ten minutes
 * (src/main.ts). Only for space: an expired object is never read, deleted or not. Each instance runs one; their
 * batches skip each other's locked rows.
 */
export class OidcPayloadCleanup extends PeriodicJob {
  constructor(db: Db, logger: Logger) {
    super(
      async ({ shouldContinue }) => {
        const deleted = await deleteExpiredOidcPayloads(db, { shouldContinue });
        if (deleted > 0) logger.debug({ deleted }, "OpenID Connect: expired sessions, codes and tokens deleted");
      },
      OIDC_CLEANUP_INTERVAL_MS,
      (error) => logger.warn({ err: error }, "OpenID Connect: could not delete expired sessions, codes and tokens"),
    );
  }
}
