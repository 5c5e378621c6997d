import type { Knex } from "knex";

/**
 * Trigram indexes for the Users list's search (a substring of username, full name or email): without them every
 * search reads all accounts (150 ms at 100,000). pg_trgm ships with PostgreSQL and is a trusted extension; where it
 * cannot be created (the embedded database has no contrib modules, or the role may not create extensions) the
 * search still works, only without these indexes.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw("SAVEPOINT user_search_trigram");
  try {
    // In public, whatever this connection's search_path: an extension belongs to the whole database.
    await knex.raw("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public");
  } catch {
    await knex.raw("ROLLBACK TO SAVEPOINT user_search_trigram");
    return;
  }
  await knex.raw("RELEASE SAVEPOINT user_search_trigram");
  // Named with its schema: it may have been created earlier somewhere that is not on this search_path.
  const found = await knex.raw("SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'");
  const ops = `"${(found.rows[0] as { schema: string }).schema.replaceAll('"', '""')}".gin_trgm_ops`;
  await knex.raw(`CREATE INDEX users_username_key_trgm_idx ON users USING gin (username_key ${ops})`);
  await knex.raw(`CREATE INDEX users_full_name_trgm_idx ON users USING gin (lower(full_name) ${ops})`);
  await knex.raw(`CREATE INDEX users_email_trgm_idx ON users USING gin (lower(email) ${ops})`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw("DROP INDEX IF EXISTS users_email_trgm_idx, users_full_name_trgm_idx, users_username_key_trgm_idx");
}
