import type { Knex } from "knex";

/**
 * The OpenID Connect provider's signing keys (services/signing-keys.ts): one current key per algorithm, and the
 * retired ones still published so that tokens signed before a rotation keep verifying. The private key is a JWK
 * sealed with a key derived from APP_SECRET (lib/secret-box.ts); the kid is its RFC 7638 thumbprint.
 *
 * The partial unique index allows one current key per algorithm: two instances starting at once both try to insert
 * one, and the second insert does nothing (ON CONFLICT on this index).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("oidc_signing_keys", (t) => {
    t.text("kid").primary();
    t.text("alg").notNullable();
    t.text("private_jwk_sealed").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("retired_at", { useTz: true }).nullable();
  });
  await knex.raw("ALTER TABLE oidc_signing_keys ADD CONSTRAINT oidc_signing_keys_alg_check CHECK (alg IN ('ES256', 'RS256'))");
  await knex.raw("CREATE UNIQUE INDEX oidc_signing_keys_one_current_per_alg ON oidc_signing_keys (alg) WHERE retired_at IS NULL");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("oidc_signing_keys");
}
