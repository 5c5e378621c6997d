import type { Knex } from "knex";

/**
 * docs/domain.md, "Passwords and reset": a password an administrator sets for someone else (the user form, the API) is
 * temporary; the account must choose its own at its next sign-in. Passwords set before this migration are left as
 * they are.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw("ALTER TABLE users ADD COLUMN must_change_password boolean NOT NULL DEFAULT false");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw("ALTER TABLE users DROP COLUMN must_change_password");
}
