import { KnexTimeoutError } from "knex";
import { describe, expect, it } from "vitest";
import { ServiceUnavailableError } from "../../src/errors.ts";
import { classifyError } from "../../src/middleware/error-handler.ts";

/** An error as pg or knex hands it over: a message, and sometimes a code. */
function dbError(message: string, code?: string): Error {
  return Object.assign(new Error(message), code ? { code } : {});
}

/**
 * The errors that test/integration/database-faults.test.ts saw when the app's connections were killed or cut, each of
 * which must become the 503 page ("try again"), never a 500.
 */
describe("errors of a database that went away", () => {
  it.each([
    ["a backend terminated by an administrator (57P01)", dbError('select "sess" from "sessions" … - terminating connection due to administrator command', "57P01")],
    ["a connection closed under a query", dbError("update \"sessions\" set … - Connection terminated unexpectedly")],
    ["no database listening", dbError("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED")],
    ["no connection free in time", new KnexTimeoutError("Knex: Timeout acquiring a connection. The pool is probably full.")],
    // knex rejects a transaction with its failed ROLLBACK's error rather than the first one; pg words it so.
    ["the ROLLBACK of a transaction whose connection died", dbError("ROLLBACK - Client has encountered a connection error and is not queryable")],
    ["a query on a client already closed", dbError("Client was closed and is not queryable")],
  ])("%s answers 503", (_what, error) => {
    expect(classifyError(error)).toBeInstanceOf(ServiceUnavailableError);
    expect(classifyError(error)?.status).toBe(503);
  });

  it("leaves other errors unknown (a logged 500)", () => {
    expect(classifyError(new Error("Cannot read properties of undefined (reading 'id')"))).toBeUndefined();
    expect(classifyError(dbError('duplicate key value violates unique constraint "teams_name_key"', "23505"))).toBeUndefined();
  });
});
