import type { Knex } from "knex";

/** Wrong client secrets at the OpenID Connect token endpoint are counted like wrong passwords (per client and address). */
export async function up(knex: Knex): Promise<void> {
  await knex.raw("ALTER TABLE login_failures DROP CONSTRAINT login_failures_scope_check");
  await knex.raw(
    "ALTER TABLE login_failures ADD CONSTRAINT login_failures_scope_check CHECK (scope IN ('account', 'ip', 'second_factor', 'code_send_account', 'code_send_ip', 'client_secret'))",
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex("login_failures").where({ scope: "client_secret" }).delete();
  await knex.raw("ALTER TABLE login_failures DROP CONSTRAINT login_failures_scope_check");
  await knex.raw(
    "ALTER TABLE login_failures ADD CONSTRAINT login_failures_scope_check CHECK (scope IN ('account', 'ip', 'second_factor', 'code_send_account', 'code_send_ip'))",
  );
}
