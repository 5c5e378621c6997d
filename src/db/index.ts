import path from "node:path";
import knexFactory, { type Knex } from "knex";
import ClientPgLite from "knex-pglite";
import type { Logger } from "../lib/logger.ts";
import { DATABASE_TIMEOUT_DEFAULTS } from "./timeouts.ts";

export type Db = Knex;
/** A connection or an open transaction: repository functions accept either. */
export type Queryable = Knex | Knex.Transaction;

/**
 * Query options that name a statement: each pooled connection then parses and plans it once and Postgres keeps the
 * plan, instead of planning it at every call (planning was twice the execution time of the /systems query). Only for
 * statements whose text never changes; PGlite ignores the name.
 */
export function preparedStatement(name: string): { name: string } {
  return { name };
}

export interface DbOptions {
  databaseUrl: string | undefined;
  /** Where the embedded database keeps its files; `undefined` keeps it in memory (tests). */
  embeddedDir: string | undefined;
  poolMax?: number;
  /** PostgreSQL only (the embedded database has no network to lose): DATABASE_TIMEOUT_DEFAULTS unless given. */
  timeouts?: { connectMs: number; queryMs: number };
  /** Where knex's own warnings go (a lost connection, a failed acquire): the JSON log, not bare lines on stderr. */
  logger?: Logger;
}

function knexLog(logger: Logger | undefined): Knex.Config["log"] {
  if (!logger) return undefined;
  const text = (message: unknown) => (message instanceof Error ? message.message : String(message));
  return {
    warn: (message: unknown) => logger.warn({ knex: text(message) }, "database warning"),
    error: (message: unknown) => logger.error({ knex: text(message) }, "database error"),
    deprecate: (method: string, alternative: string) => logger.warn({ method, alternative }, "knex deprecation"),
    debug: (message: unknown) => logger.debug({ knex: text(message) }, "database debug"),
  };
}

/** What pg's client-side query timeout rejects with (pg/lib/client.js). */
const READ_TIMEOUT = "Query read timeout";

/**
 * A connection whose statement got no answer in time is dropped, not handed back to the pool: pg gives up waiting,
 * yet the statement is still outstanding on it, so every later statement would queue behind it for good (a database
 * that swallowed traffic for a moment would leave the pool full of such connections, and never recover).
 */
function dropAfterReadTimeout(connection: PgConnection): void {
  const query = connection.query.bind(connection) as (...args: unknown[]) => unknown;
  connection.query = ((...args: unknown[]) => {
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === "function")
      args[last] = (error: Error | null, result: unknown) => {
        if (error?.message === READ_TIMEOUT) {
          connection.__knex__disposed = error;
          connection.connection?.stream?.destroy();
        }
        (callback as (error: Error | null, result: unknown) => void)(error, result);
      };
    return query(...args);
  }) as PgConnection["query"];
}

/** The parts of pg's Client that dropAfterReadTimeout touches, and knex's mark for a connection not to reuse. */
interface PgConnection {
  query: (...args: unknown[]) => unknown;
  connection?: { stream?: { destroy(): void } };
  __knex__disposed?: unknown;
}

export function createDb(options: DbOptions): Db {
  if (options.databaseUrl) {
    const { connectMs, queryMs } = options.timeouts ?? DATABASE_TIMEOUT_DEFAULTS;
    return knexFactory({
      client: "pg",
      // pg passes these to the server as session settings; knex's type lists only some of them.
      connection: {
        connectionString: options.databaseUrl,
        // Fail fast instead of holding a request while a lock or a runaway query waits: the server cuts a statement
        // off a little before the client would stop waiting, so a slow statement is a clean error on a usable
        // connection, and only a silent database reaches the client's own timeout (query_timeout).
        statement_timeout: Math.max(500, queryMs - 1_000),
        lock_timeout: Math.min(5_000, Math.max(500, queryMs - 1_000)),
        idle_in_transaction_session_timeout: queryMs * 2,
        query_timeout: queryMs,
        connectionTimeoutMillis: connectMs,
        keepAlive: true,
        application_name: "gatehouse",
      } as Knex.PgConnectionConfig,
      pool: {
        min: 0,
        max: options.poolMax ?? 10,
        afterCreate: (connection: PgConnection, done: (error: Error | null, connection: PgConnection) => void) => {
          dropAfterReadTimeout(connection);
          done(null, connection);
        },
      },
      acquireConnectionTimeout: connectMs,
      log: knexLog(options.logger),
    });
  }
  return knexFactory({
    client: ClientPgLite,
    dialect: "postgres",
    connection: options.embeddedDir ? { filename: path.resolve(options.embeddedDir) } : {},
    acquireConnectionTimeout: 5_000,
    log: knexLog(options.logger),
  } as Knex.Config);
}
