import type { Knex } from "knex";

/**
 * Which memberships an LDAP sign-in added through a group mapping: with "Remove mapped teams the directory no
 * longer lists" on, only those are taken away again, never a membership an administrator added by hand.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("team_members", (t) => {
    t.boolean("added_by_directory").notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("team_members", (t) => {
    t.dropColumn("added_by_directory");
  });
}
