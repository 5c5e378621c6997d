import type { Knex } from "knex";

/**
 * "Sign in with Gatehouse": at most one OpenID Connect client per system (the system is the primary key), removed
 * with its system (ON DELETE CASCADE). Disabling sign-in deletes the row; enabling it again makes a new client id.
 * The client secret itself is never stored, only its SHA-256 digest (src/lib/secret-box.ts digestOfToken): it is
 * 32 random bytes, so a fast hash is enough. Redirect URIs are kept as typed (trimmed), since the provider matches
 * them exactly. `secret_rotated_at` is null until the first rotation; `version` moves on with every change.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("oidc_clients", (t) => {
    t.bigInteger("system_id").primary().references("id").inTable("systems").onDelete("CASCADE");
    t.text("client_id").notNullable().unique();
    t.text("secret_digest").notNullable();
    t.specificType("redirect_uris", "text[]").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("secret_rotated_at", { useTz: true }).nullable();
    t.integer("version").notNullable().defaultTo(1);
  });
  // The service checks these first, with messages; the database keeps them true whoever writes.
  await knex.raw("ALTER TABLE oidc_clients ADD CONSTRAINT oidc_clients_client_id_shape CHECK (client_id ~ '^gh-[A-Za-z0-9_-]{22}$')");
  await knex.raw("ALTER TABLE oidc_clients ADD CONSTRAINT oidc_clients_secret_digest_shape CHECK (secret_digest ~ '^[A-Za-z0-9_-]{43}$')");
  await knex.raw("ALTER TABLE oidc_clients ADD CONSTRAINT oidc_clients_redirect_uri_count CHECK (cardinality(redirect_uris) BETWEEN 1 AND 10)");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("oidc_clients");
}
