import type { Knex } from "knex";

/**
 * Indexes for the Logs screen's filters (issue 7). Pages are read newest first by (occurred_at, id); with the Category
 * or the Actor filter on, these let a page start at its cursor inside that category's or that actor's events, instead
 * of walking the whole trail by time to find the few that match (a rare category among a million events).
 * The expressions are the ones repositories/audit-events.ts filters on.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw("CREATE INDEX audit_events_category_idx ON audit_events (split_part(action, '.', 1), occurred_at DESC, id DESC)");
  await knex.raw("CREATE INDEX audit_events_actor_username_idx ON audit_events (lower(actor_username), occurred_at DESC, id DESC)");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw("DROP INDEX audit_events_actor_username_idx");
  await knex.raw("DROP INDEX audit_events_category_idx");
}
