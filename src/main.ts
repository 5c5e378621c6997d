import { mkdir } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createApp } from "./app.ts";
import { OidcPayloadCleanup } from "./auth/oidc/cleanup.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { createDb, type Db } from "./db/index.ts";
import { migrateLatest } from "./db/migrate.ts";
import { deriveSecretKeys, resolveAppSecret } from "./lib/app-secret.ts";
import { chooseLogFormat, createLogger, type Logger } from "./lib/logger.ts";
import { LogRetentionSchedule } from "./services/log-retention.ts";
import { seedAdministrator } from "./services/seed.ts";
import { ensureSigningKeys } from "./services/signing-keys.ts";

const SHUTDOWN_DEADLINE_MS = 20_000;

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
    logger.info({ signal }, "shutting down: finishing requests in flight");
    setTimeout(() => {
      logger.error("requests still running at the shutdown deadline; exiting");
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    server.close(async () => {
      sessionStore.close();
      await mailOutbox.stop();
      await gateCounters.stop();
      await oidcLogoutNotices.stop();
      await logRetention.stop();
      await oidcCleanup.stop();
      await db.destroy();
      logger.info("stopped");
      process.exit(0);
    });
    server.closeIdleConnections();
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
