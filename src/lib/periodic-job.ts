/**
 * Work a process does by itself now and then (deleting expired rows, sending queued notices): once at start, then
 * again `intervalMs` after each run ends, so that runs never overlap. The timer never keeps the process alive;
 * `stop()` waits for a run in flight, which should look at `shouldContinue()` between batches to end early.
 * `runSoon()` asks for a run now (after the one in flight, if any) instead of waiting for the timer.
 * Every instance of Gatehouse runs its own; the work itself must let instances share a table (SKIP LOCKED).
 */
export class PeriodicJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;

  /** `onError` hears a run that failed; the next run comes on schedule all the same. */
  constructor(
    private readonly work: (run: { first: boolean; shouldContinue: () => boolean }) => Promise<void>,
    private intervalMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(intervalMs = this.intervalMs): void {
    this.intervalMs = intervalMs;
    this.stopped = false;
    this.run(true);
  }

  /** A run now, or right after the one in flight: for work that was just queued. Nothing once stopped. */
  runSoon(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.run(false);
  }

  /** Resolves once no run is in flight (a test waits for what runSoon started). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private run(first: boolean): void {
    if (this.stopped) return;
    this.timer = undefined;
    this.running = this.work({ first, shouldContinue: () => !this.stopped })
      .catch(this.onError)
      .finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        this.run(false);
        return;
      }
      this.timer = setTimeout(() => this.run(false), this.intervalMs);
      this.timer.unref();
    });
  }
}
