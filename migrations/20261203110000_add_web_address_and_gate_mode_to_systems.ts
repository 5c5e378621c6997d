import type { Knex } from "knex";

/**
 * A system's own web interface: its web address (an origin, see src/lib/web-address.ts), unique by host and port
 * so that a request's Host names one system at most, and how the gate reads requests to it (by method, or every
 * request as a change for interfaces whose reads travel as POST or over a WebSocket).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("systems", (t) => {
    t.text("web_address").nullable();
    t.text("web_address_key").nullable().unique();
    t.text("gate_mode").notNullable().defaultTo("by-method");
  });
  await knex.raw("ALTER TABLE systems ADD CONSTRAINT systems_gate_mode_check CHECK (gate_mode IN ('by-method', 'read-write-only'))");
  await knex.raw("ALTER TABLE systems ADD CONSTRAINT systems_web_address_key_check CHECK ((web_address IS NULL) = (web_address_key IS NULL))");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("systems", (t) => {
    t.dropColumn("gate_mode");
    t.dropColumn("web_address_key");
    t.dropColumn("web_address");
  });
}
