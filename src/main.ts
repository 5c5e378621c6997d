import { mkdir } from "node:fs/promises";
import type { IncomingMessage, Server } from "node:http";
import type { Socket } from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createApp } from "./app.ts";
import { OidcPayloadCleanup } from "./auth/oidc/cleanup.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { createDb, type Db } from "./db/index.ts";
import { migrateLatest } from "./db/migrate.ts";
import { deriveSecretKeys, resolveAppSecret } from "./lib/app-secret.ts";
import { chooseLogFormat, createLogger, type Logger, settleLogOutput } from "./lib/logger.ts";
import { LogRetentionSchedule } from "./services/log-retention.ts";
import { seedAdministrator } from "./services/seed.ts";
import { ensureSigningKeys } from "./services/signing-keys.ts";

/**
 * How long a SIGTERM or SIGINT may take (docs/security.md §4): the process has ended by `deadlineMs` whatever is
 * open, inside the 10 s a container runtime waits by default before it kills. Requests in flight get
 * `requestsGraceMs` to finish; mail being sent `mailGraceMs`, then it is aborted (and `mailRecordMs` to note that it
 * is to be sent again), both counted from the signal; the other background jobs `componentMs` together; the database what is left; the last log lines `logsMs`.
 */
const SHUTDOWN = { deadlineMs: 9_500, requestsGraceMs: 6_000, mailGraceMs: 3_000, mailRecordMs: 1_500, componentMs: 1_500, logsMs: 1_000 } as const;

/**
 * True if `promise` settles within `ms`, false if the time ran out first. The timer holds the process on purpose:
 * a step that hangs with nothing else pending must not let Node end the process by itself, with exit 0 and no word.
 */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(ms, 0));
  });
  try {
    return await Promise.race([promise.then(
      () => true,
      () => true,
    ), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The names of the `stops` that have not settled within `ms` (all of them run at once). */
async function lateOnes(stops: [string, Promise<unknown>][], ms: number): Promise<string[]> {
  const settled = new Set<string>();
  await within(Promise.allSettled(stops.map(([name, stop]) => stop.finally(() => settled.add(name)))), ms);
  return stops.map(([name]) => name).filter((name) => !settled.has(name));
}

/**
 * Returns a function that destroys the connections on which no request has begun yet: Node's closeIdleConnections
 * leaves them open (it counts a new connection as waiting for its first request's headers), so a browser's
 * preconnected socket would hold server.close until its timeout.
 */
function trackUnusedConnections(server: Server): () => void {
  const unused = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    unused.add(socket);
    socket.once("close", () => unused.delete(socket));
  });
  server.on("request", (req: IncomingMessage) => unused.delete(req.socket));
  return () => {
    for (const socket of unused) socket.destroy();
  };
}

async function migrateWithRetry(db: Db, logger: Logger): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const applied = await migrateLatest(db);
      if (applied.length > 0) logger.info({ applied }, "database migrated");
      return;
    } catch (error) {
      if (attempt >= 6) throw error;
      const wait = Math.min(1000 * 2 ** (attempt - 1), 10_000);
      logger.warn({ err: error, attempt, retryInMs: wait }, "database not ready; retrying");
      await sleep(wait);
    }
  }
}

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Gatehouse cannot start; fix these environment variables:\n${error.problems.map((p) => `  ${p}\n`).join("")}`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel, chooseLogFormat(config.logFormat, process.stdout.isTTY === true));
  process.on("uncaughtException", (error) => {
    logger.fatal({ err: error }, "uncaught exception; exiting");
    process.exit(1);
  });
  process.on("unhandledRejection", (reason) => {
    logger.fatal({ err: reason }, "unhandled promise rejection; exiting");
    process.exit(1);
  });

  const { secret, generated } = await resolveAppSecret(config.appSecret, config.dataDir);
  if (generated) logger.warn({ file: generated }, "APP_SECRET is not set; generated one into the data directory. Set APP_SECRET to share it between instances.");

  const embeddedDir = config.databaseUrl ? undefined : path.resolve(config.dataDir, "pgdata");
  if (embeddedDir) await mkdir(embeddedDir, { recursive: true });
  const db = createDb({ databaseUrl: config.databaseUrl, embeddedDir, logger, timeouts: config.databaseTimeouts });
  logger.info({ database: config.databaseUrl ? "postgres" : `embedded (${embeddedDir})` }, "opening database");
  await migrateWithRetry(db, logger);
  if (config.adminSeed) await seedAdministrator(db, config.adminSeed, logger);
  // The provider's signing keys: made at first start; an APP_SECRET that cannot open them stops the start here.
  const signingKeys = await ensureSigningKeys(db, deriveSecretKeys(secret));
  if (signingKeys.created.length > 0) logger.info({ kids: signingKeys.created }, "made OpenID Connect signing keys");

  const { app, sessionStore, mailOutbox, gateCounters, oidcLogoutNotices } = createApp({ config, db, logger, appSecret: secret });
  sessionStore.startCleanup();
  mailOutbox.start();
  gateCounters.start();
  oidcLogoutNotices.start();
  // Deletes log events older than the retention setting: now, then every hour.
  const logRetention = new LogRetentionSchedule(db, logger);
  logRetention.start();
  // Deletes the OpenID Connect provider's expired sessions, codes and tokens: now, then every ten minutes.
  const oidcCleanup = new OidcPayloadCleanup(db, logger);
  oidcCleanup.start();
  const server = app.listen(config.port, () => {
    logger.info({ url: config.baseUrl, port: config.port }, "Gatehouse is listening");
  });
  const closeUnused = trackUnusedConnections(server);
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  server.on("error", (error) => {
    logger.fatal({ err: error }, "cannot listen");
    process.exit(1);
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, "second signal; exiting now");
      process.exit(1);
    }
    stopping = true;
    const startedAt = Date.now();
    logger.info({ signal }, "shutting down: finishing requests in flight");
    const waitingFor: string[] = ["requests in flight"];
    // Whatever is still open then (a request that will not end, a database that will not close), the process ends.
    setTimeout(() => {
      logger.error({ waitingFor: waitingFor.join(", ") }, "still stopping at the shutdown deadline; exiting");
      exitAfterLogs(1);
    }, SHUTDOWN.deadlineMs);
    // Mail being sent (by a request or by the outbox) gets a short grace, then is aborted and left for later, so
    // that a slow mail server holds neither the requests waiting for it nor the shutdown.
    const mailStopped = mailOutbox.shutdown(SHUTDOWN.mailGraceMs, SHUTDOWN.mailRecordMs);
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Idle keep-alive connections are closed now, and each one whose request finishes is closed next; a connection
    // that has not sent a request yet (a browser opens some ahead of need) is closed too, as Node counts it busy.
    server.closeIdleConnections();
    closeUnused();
    const idleCloser = setInterval(() => server.closeIdleConnections(), 100);
    void serverClosed.then(() => clearInterval(idleCloser));
    void (async () => {
      let clean = true;
      if (!(await within(serverClosed, SHUTDOWN.requestsGraceMs))) {
        logger.error({ afterMs: SHUTDOWN.requestsGraceMs }, "requests still running after their grace; closing their connections");
        server.closeAllConnections();
        clean = false;
      }
      waitingFor.splice(0, waitingFor.length, "background work");
      sessionStore.close();
      const stops: [string, Promise<unknown>][] = [
        ["gate counters", gateCounters.stop()],
        ["back-channel logout notices", oidcLogoutNotices.stop()],
        ["log retention", logRetention.stop()],
        ["OpenID Connect cleanup", oidcCleanup.stop()],
      ];
      // The outbox bounds its own stop (its grace, then the aborted sends' outcomes written): it began at the signal.
      const mailMs = SHUTDOWN.mailGraceMs + SHUTDOWN.mailRecordMs - (Date.now() - startedAt);
      const [late, mailDone] = await Promise.all([lateOnes(stops, SHUTDOWN.componentMs), within(mailStopped, mailMs)]);
      if (!mailDone) late.push("mail outbox");
      if (late.length > 0) {
        logger.warn({ late }, "background work did not stop in time; closing the database under it");
        clean = false;
      }
      waitingFor.splice(0, waitingFor.length, "the database");
      const dbMs = SHUTDOWN.deadlineMs - SHUTDOWN.logsMs - (Date.now() - startedAt);
      if (!(await within(db.destroy(), dbMs))) {
        logger.error({ afterMs: dbMs }, "the database did not close in time; exiting");
        clean = false;
      }
      logger.info({ ms: Date.now() - startedAt }, "stopped");
      exitAfterLogs(clean ? 0 : 1);
    })();
  };
  /** Exits once the log lines have left (or a stalled stdout made them wait SHUTDOWN.logsMs): never later. */
  const exitAfterLogs = (code: number) => {
    setTimeout(() => process.exit(code), SHUTDOWN.logsMs + 100);
    void settleLogOutput(logger, SHUTDOWN.logsMs).then(() => process.exit(code));
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

try {
  await main();
} catch (error) {
  process.stderr.write(`Gatehouse cannot start: ${(error as Error).message}\n`);
  process.exit(1);
}
