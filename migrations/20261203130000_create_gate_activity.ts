import type { Knex } from "knex";

/**
 * What the gate remembers of its traffic. Denials go to the audit trail, at most one a minute for one person,
 * system and reason: gate_denial_marks holds when each was last written, so that the check and the write are one
 * atomic upsert. Allowed requests are only counted, per system and day (UTC), with the last one's time.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("gate_denial_marks", (t) => {
    t.bigInteger("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
    t.bigInteger("system_id").notNullable().references("id").inTable("systems").onDelete("CASCADE");
    t.text("reason").notNullable();
    t.timestamp("last_recorded_at", { useTz: true }).notNullable();
    t.primary(["user_id", "system_id", "reason"]);
  });
  await knex.schema.createTable("system_gate_counts", (t) => {
    t.bigInteger("system_id").notNullable().references("id").inTable("systems").onDelete("CASCADE");
    t.date("day").notNullable();
    t.bigInteger("requests").notNullable().defaultTo(0);
    t.timestamp("last_access_at", { useTz: true }).notNullable();
    t.primary(["system_id", "day"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("system_gate_counts");
  await knex.schema.dropTable("gate_denial_marks");
}
