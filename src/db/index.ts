import path from "node:path";
import knexFactory, { type Knex } from "knex";
import ClientPgLite from "knex-pglite";
import type { Logger } from "../lib/logger.ts";

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

export function createDb(options: DbOptions): Db {
  if (options.databaseUrl) {
    return knexFactory({
      client: "pg",
      // pg passes these to the server as session settings; knex's type lists only some of them.
      connection: {
        connectionString: options.databaseUrl,
        // Fail fast instead of holding a request while a lock or a runaway query waits.
        statement_timeout: 10_000,
        lock_timeout: 5_000,
        application_name: "gatehouse",
      } as Knex.PgConnectionConfig,
      pool: { min: 0, max: options.poolMax ?? 10 },
      acquireConnectionTimeout: 5_000,
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
