import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("teams", (t) => {
    t.bigIncrements("id").primary();
    t.text("name").notNullable();
    t.text("name_key").notNullable().unique();
    t.text("description").notNullable().defaultTo("");
    t.integer("version").notNullable().defaultTo(1);
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable("team_members", (t) => {
    t.bigInteger("team_id").notNullable().references("id").inTable("teams").onDelete("CASCADE");
    t.bigInteger("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
    t.timestamp("added_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(["team_id", "user_id"]);
    t.index(["user_id", "team_id"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("team_members");
  await knex.schema.dropTable("teams");
}
