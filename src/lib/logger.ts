import pino, { type Logger, type LoggerOptions } from "pino";

export type { Logger };

/** How log lines are written: JSON for collectors, one readable line per event for a person at a terminal. */
export type LogFormat = "json" | "pretty";

/** LOG_FORMAT when set; otherwise pretty on a terminal and JSON lines on anything else (a pipe, a file, a collector). */
export function chooseLogFormat(forced: LogFormat | undefined, stdoutIsTerminal: boolean): LogFormat {
  return forced ?? (stdoutIsTerminal ? "pretty" : "json");
}

/**
 * At most this many bytes of log lines wait for stdout. A reader that stops reading (a stalled log collector, a pipe
 * nobody drains) must never stop the server: past this, lines are dropped and counted, and the count is logged once
 * stdout takes lines again (docs/security.md §4, "Logging never stops the server").
 */
export const LOG_BUFFER_BYTES = 4 * 1024 * 1024;

const OPTIONS: LoggerOptions = {
  redact: {
    paths: [
      "req.headers.cookie",
      "req.headers.authorization",
      'res.headers["set-cookie"]',
      "*.password",
      "*.currentPassword",
      "*.confirmPassword",
    ],
    censor: "------",
  },
};

/** Where the lines go: process.stdout, or the pretty transport's worker; both only buffer, neither waits. */
interface LineTarget {
  write(line: string): boolean;
  once(event: "drain", listener: () => void): unknown;
  /** Bytes waiting (process.stdout); undefined when only write's answer says the target is full (the transport). */
  readonly writableLength?: number;
}

/**
 * pino's destination: hands each line to its target without ever waiting for it. pino's own destinations retry a
 * write that answers EAGAIN (a full pipe) in a loop that sleeps, and flush synchronously at exit: with a reader that
 * stopped, that froze the whole process, its shutdown timer included. Here a full target drops lines instead, until
 * it has written everything it held ('drain'); then one warning says how many were lost.
 */
export class BoundedLogOutput {
  private dropped = 0;
  private waiting = false;
  private broken = false;
  /** Called once the target takes lines again, with the number dropped meanwhile (createLogger logs it). */
  onRecovered: (dropped: number) => void = () => undefined;

  constructor(
    private readonly target: LineTarget,
    private readonly maxBytes: number,
  ) {}

  /** Lines dropped since the last recovery (0 while nothing is lost). */
  get droppedLines(): number {
    return this.dropped;
  }

  write(line: string): boolean {
    if (this.broken) return true;
    const buffered = this.target.writableLength;
    if (this.waiting || (buffered !== undefined && buffered + line.length > this.maxBytes)) {
      this.drop();
      return true;
    }
    // The transport answers false once its buffer is full: the line is kept, the next ones wait for 'drain'.
    if (!this.target.write(line) && buffered === undefined) this.waitForDrain();
    return true;
  }

  /** The reader went away for good (EPIPE): nothing more is written. */
  markBroken(): void {
    this.broken = true;
  }

  private drop(): void {
    this.dropped++;
    this.waitForDrain();
  }

  private waitForDrain(): void {
    if (this.waiting) return;
    this.waiting = true;
    this.target.once("drain", () => {
      this.waiting = false;
      const dropped = this.dropped;
      this.dropped = 0;
      if (dropped > 0) this.onRecovered(dropped);
    });
  }
}

let stdoutOutput: BoundedLogOutput | undefined;
/** One output on process.stdout for the process, however many loggers write to it (tests make many). */
function stdoutLines(): BoundedLogOutput {
  if (stdoutOutput) return stdoutOutput;
  const output = new BoundedLogOutput(process.stdout, LOG_BUFFER_BYTES);
  // A reader that closed its end: stop writing rather than die of an unhandled 'error' (pino's destination does too).
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE" || error.code === "ERR_STREAM_DESTROYED") output.markBroken();
  });
  stdoutOutput = output;
  return output;
}

/** What settleLogOutput waits for, per logger createLogger made. */
const settlers = new WeakMap<Logger, (timeoutMs: number) => Promise<void>>();

function reportDrops(logger: Logger, output: BoundedLogOutput): void {
  output.onRecovered = (dropped) => logger.warn({ droppedLogLines: dropped }, "stdout was not read for a while; log lines were dropped");
}

export function createLogger(level: string, format: LogFormat = "json"): Logger {
  if (format === "json") {
    // process.stdout, not a file descriptor written by pino: on a pipe Node writes it without blocking (libuv) and
    // buffers what the reader has not taken yet; on a file each write is synchronous and never stalls.
    const output = stdoutLines();
    const logger = pino({ ...OPTIONS, level }, output);
    reportDrops(logger, output);
    settlers.set(logger, (timeoutMs) => waitForStdout(timeoutMs));
    return logger;
  }
  // pino-pretty runs as pino's transport (a worker thread), so formatting never slows a request; redaction happens
  // before a line leaves this thread. One line per event: the fields follow the message on the same line.
  // autoEnd off: pino would otherwise flush synchronously at exit and wait up to 20 s for a worker that cannot write;
  // settleLogOutput flushes it, for a bounded time.
  const transport = pino.transport({
    target: "pino-pretty",
    worker: { autoEnd: false },
    options: {
      singleLine: true,
      translateTime: "SYS:HH:MM:ss.l",
      // A request's line reads as one: "request completed: GET /login 200 12 ms from 127.0.0.1".
      messageFormat: "{msg}{if req}: {req.method} {req.path} {res.status} {responseTime} ms from {req.ip}{end}",
      ignore: "pid,hostname,req,res,responseTime",
      destination: 1,
      // Written by the worker as it reads them, so that a flush of the transport means the lines are out; a stdout
      // that stalls holds the worker only (this thread then drops lines), and the exit ends the worker.
      sync: true,
    },
  });
  const output = new BoundedLogOutput(transport, LOG_BUFFER_BYTES);
  const logger = pino({ ...OPTIONS, level }, output);
  reportDrops(logger, output);
  settlers.set(logger, (timeoutMs) => withTimeout(new Promise<void>((resolve) => transport.flush(() => resolve())), timeoutMs));
  return logger;
}

function withTimeout(promise: Promise<void>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** process.stdout emits 'drain' only after a write found it past its high-water mark: look at what it holds instead. */
async function waitForStdout(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (process.stdout.writableLength > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

/**
 * Waits until what `logger` has written has left the process, or `timeoutMs`, whichever comes first: the last step
 * before process.exit, which then drops whatever a stalled reader has not taken. Never waits longer, never blocks.
 */
export function settleLogOutput(logger: Logger, timeoutMs: number): Promise<void> {
  return settlers.get(logger)?.(timeoutMs) ?? Promise.resolve();
}
