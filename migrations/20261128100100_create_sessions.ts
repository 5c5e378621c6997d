import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("sessions", (t) => {
    t.text("sid").primary();
    t.jsonb("sess").notNullable();
    t.timestamp("expires_at", { useTz: true }).notNullable().index();
    // Set once the session belongs to an account, so all of one account's sessions can be listed and ended.
    t.bigInteger("user_id").nullable().references("id").inTable("users").onDelete("CASCADE").index();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("last_seen_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text("client_ip").nullable();
    t.text("user_agent").nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("sessions");
}
