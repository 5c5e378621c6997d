import type { Db } from "../db/index.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import type { Logger } from "../lib/logger.ts";
import { describeSendError, isPermanentFailure, sendMail } from "../mail/transport.ts";
import * as outbox from "../repositories/outbox.ts";
import { isMailConfigured, smtpConnection } from "./mail-settings.ts";

/** Waits before the 2nd, 3rd, … attempt; after the last one the message is marked failed. */
export const RETRY_DELAYS_SECONDS = [30, 60, 120, 300, 900, 1800, 3600] as const;
export const MAX_ATTEMPTS = RETRY_DELAYS_SECONDS.length + 1;
/** Longer than one send can take with the SMTP timeouts (10 s + 10 s + 30 s), so a live claim never lapses. */
const CLAIM_SECONDS = 120;

export type DeliveryResult = { status: "sent" } | { status: "queued" | "failed"; error: string } | { status: "pending" };

/**
 * Sends what the outbox holds, after the transaction that wrote it has committed. Messages are claimed with
 * FOR UPDATE SKIP LOCKED, so any number of instances can run one of these against one database.
 * Logs name the message and its kind, never its body: bodies carry one-time codes.
 */
export class MailOutbox {
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private stopped = true;
  /**
   * The sends this process has claimed and not finished, by message id: a request that asks about one of them
   * (another request's background round claimed it first) waits for its outcome instead of guessing.
   */
  private readonly inFlight = new Map<number, Promise<DeliveryResult>>();
  /** Aborted by shutdown() once its grace is over: every send in flight, and any begun after, stops at once. */
  private readonly aborter = new AbortController();
  private shuttingDown = false;

  constructor(
    private readonly db: Db,
    private readonly keys: SecretKeys,
    private readonly logger: Logger,
  ) {}

  /** Tries to send one message now, as part of the request that queued it, and says what happened. */
  async deliverNow(id: number): Promise<DeliveryResult> {
    const [claimed] = await outbox.claimDue(this.db, { limit: 1, claimSeconds: CLAIM_SECONDS, onlyId: id });
    if (!claimed) {
      const sending = this.inFlight.get(id);
      if (sending) return sending;
      let current = await outbox.findMessage(this.db, id);
      if (current?.status === "sending") {
        // Being sent right now: by a round of this process (known a moment after its claim), whose outcome is the
        // answer, or by another instance. A round of this process that finished meanwhile has recorded its outcome.
        const nowSending = this.inFlight.get(id);
        if (nowSending) return nowSending;
        current = await outbox.findMessage(this.db, id);
      }
      if (current?.status === "sent") return { status: "sent" };
      if (current?.status === "failed") return { status: "failed", error: current.lastError ?? "" };
      // Tried already and waiting for its next attempt: say why it failed rather than "on its way".
      if (current?.status === "queued" && current.lastError) return { status: "queued", error: current.lastError };
      return { status: "pending" };
    }
    return this.track(claimed.id, this.send(claimed));
  }

  /** Sends every message that is due, a batch at a time; one drain runs at a time in this process. */
  drain(): Promise<void> {
    if (!this.draining) {
      this.draining = this.drainAll().finally(() => {
        this.draining = undefined;
      });
    }
    return this.draining;
  }

  /** Sends what is due in the background (notices queued by a request); errors are logged, never thrown. */
  kick(): void {
    this.drain().catch((error: unknown) => this.logger.warn({ err: error }, "outbox: could not send queued mail"));
  }

  /** Starts sending in the background: what is due now, then a check every `pollMs` for retries. */
  start(pollMs = 5_000): void {
    this.stopped = false;
    const tick = () => {
      if (this.stopped) return;
      this.drain()
        .catch((error: unknown) => this.logger.warn({ err: error }, "outbox: could not read the queue"))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, pollMs);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.draining?.catch(() => undefined);
  }

  /**
   * For the process's shutdown: stops the background rounds (no new batch is claimed) and lets the sends in flight,
   * a round's or a request's, finish within `graceMs`; then aborts them (nodemailer closes their connections), so a
   * slow mail server cannot hold the shutdown, and the requests waiting for them answer "not sent yet". An aborted
   * message is recorded for a later attempt like any failed send, and is sent again by this or another instance.
   * Resolves once the outcomes are recorded, or `graceMs` plus `recordMs` after the call, whichever is first.
   */
  async shutdown(graceMs: number, recordMs = 2_000): Promise<void> {
    this.shuttingDown = true;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const settled = () => Promise.allSettled([this.draining, ...this.inFlight.values()]).then(() => true);
    if (await within(settled(), graceMs)) return;
    this.logger.warn({ sending: this.inFlight.size }, "outbox: mail still being sent at shutdown; aborting it, it will be sent later");
    this.aborter.abort(new Error("shutting down"));
    await within(settled(), recordMs);
  }

  private async drainAll(): Promise<void> {
    // Without a mail server nothing is claimed, so waiting messages do not use up their attempts.
    if (!(await isMailConfigured(this.db))) return;
    for (;;) {
      if (this.shuttingDown) return;
      const batch = await outbox.claimDue(this.db, { limit: 10, claimSeconds: CLAIM_SECONDS });
      if (batch.length === 0) return;
      // One after the other, as before; each is known to be in flight from the moment it is claimed.
      let previous: Promise<unknown> = Promise.resolve();
      for (const message of batch) {
        const result = this.track(message.id, previous.then(() => this.send(message)));
        previous = result;
      }
      await previous;
    }
  }

  private track(id: number, result: Promise<DeliveryResult>): Promise<DeliveryResult> {
    this.inFlight.set(id, result);
    result
      .finally(() => {
        if (this.inFlight.get(id) === result) this.inFlight.delete(id);
      })
      .catch(() => undefined);
    return result;
  }

  private async send(message: outbox.OutboxMessage): Promise<DeliveryResult> {
    let error: string;
    let permanent = false;
    try {
      const connection = await smtpConnection(this.db, this.keys);
      if (!connection) throw new Error("Email is not configured (Alert Services).");
      await sendMail(connection, message, this.aborter.signal);
      await outbox.markSent(this.db, message.id);
      this.logger.info({ outboxId: message.id, kind: message.kind }, "outbox: message sent");
      return { status: "sent" };
    } catch (caught) {
      error = this.aborter.signal.aborted ? "Sending was interrupted by a shutdown of Gatehouse; it will be tried again." : describeSendError(caught);
      permanent = !this.aborter.signal.aborted && isPermanentFailure(caught);
    }
    if (permanent || message.attempts >= MAX_ATTEMPTS) {
      await outbox.markFailed(this.db, message.id, error);
      this.logger.warn({ outboxId: message.id, kind: message.kind, attempts: message.attempts, error }, "outbox: message failed for good");
      return { status: "failed", error };
    }
    const delay = RETRY_DELAYS_SECONDS[Math.min(message.attempts, RETRY_DELAYS_SECONDS.length) - 1] ?? 3600;
    await outbox.markRetry(this.db, message.id, error, delay);
    this.logger.warn({ outboxId: message.id, kind: message.kind, attempts: message.attempts, error }, "outbox: send failed; will retry");
    return { status: "queued", error };
  }
}

/** True if `promise` settles within `ms`, false if the time ran out first (the timer never holds the process). */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
