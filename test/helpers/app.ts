import { Writable } from "node:stream";
import type { Express } from "express";
import pino from "pino";
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

/** One line the app logged, as pino wrote it (levels: 20 debug, 30 info, 40 warn, 50 error). */
export interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  req?: { method: string; path: string; ip: string };
  res?: { status: number };
  responseTime?: number;
}

/** The whole app with a JSON logger at `level` whose lines are kept, parsed, in `lines`. */
export function createTestAppWithLog(db: Db, level: "debug" | "info"): { app: Express; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString("utf8").split("\n").filter(Boolean)) lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  const config = loadConfig({ NODE_ENV: "test", LOG_LEVEL: level, BASE_URL: "http://127.0.0.1" });
  return { app: createApp({ config, db, logger: pino({ level }, sink), appSecret: TEST_APP_SECRET }).app, lines };
}
