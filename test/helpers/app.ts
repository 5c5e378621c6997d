import type { Express } from "express";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import type { Db } from "../../src/db/index.ts";
import { createLogger } from "../../src/lib/logger.ts";

export function createTestApp(db: Db, env: Record<string, string> = {}): Express {
  const config = loadConfig({ NODE_ENV: "test", LOG_LEVEL: "silent", BASE_URL: "http://127.0.0.1", ...env });
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? "silent");
  return createApp({ config, db, logger, sessionSecret: "test-session-secret-that-is-long-enough" }).app;
}
