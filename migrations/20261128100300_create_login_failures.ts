import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  // Failed sign-in counters, per account key (also for names that match no account) and per client address.
  await knex.schema.createTable("login_failures", (t) => {
    t.text("scope").notNullable();
    t.text("key").notNullable();
    t.integer("failures").notNullable().defaultTo(0);
    t.timestamp("window_started_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("last_failed_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("blocked_until", { useTz: true }).nullable();
    t.primary(["scope", "key"]);
  });
  await knex.raw("ALTER TABLE login_failures ADD CONSTRAINT login_failures_scope_check CHECK (scope IN ('account', 'ip'))");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("login_failures");
}
