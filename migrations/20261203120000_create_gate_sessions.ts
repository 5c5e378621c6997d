import type { Knex } from "knex";

/**
 * Signing a browser in through the gate (src/routes/gate): a single-use code, valid 60 seconds, that hands a console
 * session over to one system's host; and the gate session that the host-only gate cookie names there. Both hang on
 * the console session (ON DELETE CASCADE): signing out, ending sessions, disabling or deleting the account ends them.
 * Only SHA-256 hashes of the code and the cookie are stored.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("gate_codes", (t) => {
    t.text("code_hash").primary();
    t.text("session_sid").notNullable().references("sid").inTable("sessions").onDelete("CASCADE");
    t.bigInteger("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
    t.bigInteger("system_id").notNullable().references("id").inTable("systems").onDelete("CASCADE");
    t.text("return_to").notNullable();
    t.timestamp("session_ends_at", { useTz: true }).notNullable();
    t.timestamp("expires_at", { useTz: true }).notNullable().index();
    t.timestamp("used_at", { useTz: true }).nullable();
  });
  await knex.schema.createTable("gate_sessions", (t) => {
    t.text("id_hash").primary();
    t.text("session_sid").notNullable().references("sid").inTable("sessions").onDelete("CASCADE").index();
    t.bigInteger("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
    t.bigInteger("system_id").notNullable().references("id").inTable("systems").onDelete("CASCADE");
    t.integer("session_version").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("expires_at", { useTz: true }).notNullable().index();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("gate_sessions");
  await knex.schema.dropTable("gate_codes");
}
