import type { Express } from "express";
import { type App, createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import type { Db } from "../../src/db/index.ts";
import { createLogger } from "../../src/lib/logger.ts";

export const TEST_APP_SECRET = "test-app-secret-that-is-long-enough-for-hkdf";

/** The whole app: its Express handler, and its mail outbox (not started: tests drain it when they mean to). */
export function createTestAppParts(db: Db, env: Record<string, string> = {}): App {
  const config = loadConfig({ NODE_ENV: "test", LOG_LEVEL: "silent", BASE_URL: "http://127.0.0.1", ...env });
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? "silent");
  return createApp({ config, db, logger, appSecret: TEST_APP_SECRET });
}

export function createTestApp(db: Db, env: Record<string, string> = {}): Express {
  return createTestAppParts(db, env).app;
}
