/**
 * How long Gatehouse waits for PostgreSQL (src/db/index.ts): for a connection, or a free one from the pool (5 s),
 * and for an answer to a statement (8 s). With these, a database that stops answering makes every page and API call
 * a 503 within 10 seconds rather than a request that hangs. DATABASE_CONNECT_TIMEOUT_MS and
 * DATABASE_QUERY_TIMEOUT_MS change them (src/config.ts).
 */
export const DATABASE_TIMEOUT_DEFAULTS = Object.freeze({ connectMs: 5_000, queryMs: 8_000 });

/** What a request for the database's state (/readyz) waits at most, whatever the timeouts above. */
export const READINESS_TIMEOUT_MS = 2_000;
