import type { Knex } from "knex";

/**
 * The OpenID Connect provider's state (src/auth/oidc/adapter.ts): one row per stored object of each of the
 * provider's models (Session, Interaction, AuthorizationCode, AccessToken, RefreshToken, Grant, …), keyed by model
 * and id, so that every instance serves the same sessions and tokens.
 *
 * - payload is `json`, not `jsonb`: it is only stored and handed back, never queried inside, and `jsonb` refuses
 *   the escape `\u0000`, which a request parameter the provider keeps (nonce, state) may carry.
 * - The columns beside it are copies of the payload's fields that the provider and Gatehouse look rows up by:
 *   the grant (revoking a grant's tokens), the device flow's user code, the session's uid, the account (signing out
 *   everywhere, disabling), the client (disabling a system's sign-in).
 * - expires_at is null for an object stored without a lifetime; consumed_at is when a single-use object
 *   (code, refresh token) was used.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("oidc_payloads", (t) => {
    t.text("model").notNullable();
    t.text("id").notNullable();
    t.json("payload").notNullable();
    t.text("grant_id").nullable();
    t.text("user_code").nullable();
    t.text("uid").nullable();
    t.text("account_id").nullable();
    t.text("client_id").nullable();
    t.timestamp("expires_at", { useTz: true }).nullable().index();
    t.timestamp("consumed_at", { useTz: true }).nullable();
    t.primary(["model", "id"]);
    // Most rows have none of these: each index holds only the rows that do.
    for (const column of ["grant_id", "user_code", "uid", "account_id", "client_id"])
      t.index([column], `oidc_payloads_${column}_index`, { predicate: knex.whereNotNull(column) });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("oidc_payloads");
}
