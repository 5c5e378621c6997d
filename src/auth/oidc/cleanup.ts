import type { Db } from "../../db/index.ts";
import type { Logger } from "../../lib/logger.ts";
import { deleteExpiredOidcPayloads } from "../../repositories/oidc-payloads.ts";

export const OIDC_CLEANUP_INTERVAL_MS = 10 * 60_000;

/**
 * Deletes the provider's expired objects (src/auth/oidc/adapter.ts) once at start and then every ten minutes
 * (src/main.ts). Only for space: an expired object is never read, deleted or not. Each instance runs one; their
 * batches skip each other's locked rows. The timer never keeps the process alive, and stop() waits for a run in
 * flight to finish its batch.
 */
export class OidcPayloadCleanup {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = true;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  start(intervalMs = OIDC_CLEANUP_INTERVAL_MS): void {
    this.stopped = false;
    const run = () => {
      if (this.stopped) return;
      this.running = deleteExpiredOidcPayloads(this.db, { shouldContinue: () => !this.stopped })
        .then((deleted) => {
          if (deleted > 0) this.logger.debug({ deleted }, "OpenID Connect: expired sessions, codes and tokens deleted");
        })
        .catch((error: unknown) => this.logger.warn({ err: error }, "OpenID Connect: could not delete expired sessions, codes and tokens"))
        .finally(() => {
          this.running = undefined;
          if (this.stopped) return;
          this.timer = setTimeout(run, intervalMs);
          this.timer.unref();
        });
    };
    run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
