import path from "node:path";
import knexFactory, { type Knex } from "knex";
import ClientPgLite from "knex-pglite";

export type Db = Knex;
/** A connection or an open transaction: repository functions accept either. */
export type Queryable = Knex | Knex.Transaction;

export interface DbOptions {
  databaseUrl: string | undefined;
  /** Where the embedded database keeps its files; `undefined` keeps it in memory (tests). */
  embeddedDir: string | undefined;
  poolMax?: number;
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
    });
  }
  return knexFactory({
    client: ClientPgLite,
    dialect: "postgres",
    connection: options.embeddedDir ? { filename: path.resolve(options.embeddedDir) } : {},
    acquireConnectionTimeout: 5_000,
  } as Knex.Config);
}
