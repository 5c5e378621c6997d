import type { Knex } from "knex";

/**
 * Personal API tokens (issue 7): a user's own bearer tokens for the REST API. The token itself is never stored:
 * only a keyed hash of it (HMAC-SHA-256, key derived from APP_SECRET) and the first 8 characters of its secret
 * part, to recognise it in a list. A token goes with its owner (ON DELETE CASCADE); a revoked or expired one stays
 * listed, and refused, until the account is deleted.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("api_tokens", (t) => {
    t.bigIncrements("id").primary();
    t.bigInteger("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
    t.text("name").notNullable();
    t.text("token_hash").notNullable().unique();
    t.text("prefix").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("expires_at", { useTz: true }).nullable();
    t.timestamp("last_used_at", { useTz: true }).nullable();
    t.timestamp("revoked_at", { useTz: true }).nullable();
    t.index(["user_id", "created_at"]);
  });
  // The service checks these first, with messages; the database keeps them true whoever writes.
  await knex.raw("ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_name_length CHECK (char_length(name) BETWEEN 1 AND 64)");
  await knex.raw("ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_prefix_length CHECK (char_length(prefix) = 8)");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("api_tokens");
}
