import type { Knex } from "knex";

/**
 * One-time ways back into a local account (docs/domain.md, "Passwords and reset"): an emailed reset code (30 minutes) and a temporary
 * password from the command line or an administrator (6 hours). Only a SHA-256 of each is stored; a new one
 * replaces the account's older ones; each works once and leads straight to choosing a new password.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("password_resets", (t) => {
    t.bigIncrements("id").primary();
    t.bigInteger("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
    t.text("kind").notNullable();
    t.text("token_hash").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("expires_at", { useTz: true }).notNullable();
    t.timestamp("used_at", { useTz: true }).nullable();
    t.index(["user_id", "created_at"]);
  });
  await knex.raw("ALTER TABLE password_resets ADD CONSTRAINT password_resets_kind_check CHECK (kind IN ('emailed_code', 'temporary_password'))");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("password_resets");
}
