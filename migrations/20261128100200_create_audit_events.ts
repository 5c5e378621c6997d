import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("audit_events", (t) => {
    t.bigIncrements("id").primary();
    t.timestamp("occurred_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // No foreign key: the trail outlives the accounts it mentions.
    t.bigInteger("actor_id").nullable();
    t.text("actor_username").nullable();
    t.text("client_ip").nullable();
    t.text("request_id").nullable();
    t.text("action").notNullable();
    t.text("target_type").nullable();
    t.text("target_id").nullable();
    t.text("target_label").nullable();
    t.jsonb("details").notNullable().defaultTo("{}");
  });
  await knex.raw("CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at DESC, id DESC)");
  await knex.raw("CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, occurred_at DESC)");
  await knex.raw("CREATE INDEX audit_events_target_idx ON audit_events (target_type, target_id)");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("audit_events");
}
