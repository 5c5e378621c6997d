import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("systems", (t) => {
    t.bigIncrements("id").primary();
    t.text("name").notNullable();
    // trim + NFKC + lower-case of name: the uniqueness rule.
    t.text("name_key").notNullable().unique();
    t.text("host").notNullable();
    t.text("description").notNullable().defaultTo("");
    t.text("notes").notNullable().defaultTo("");
    t.integer("version").notNullable().defaultTo(1);
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable("system_groups", (t) => {
    t.bigIncrements("id").primary();
    t.text("name").notNullable();
    t.text("name_key").notNullable().unique();
    t.text("description").notNullable().defaultTo("");
    t.integer("version").notNullable().defaultTo(1);
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable("system_group_members", (t) => {
    t.bigInteger("group_id").notNullable().references("id").inTable("system_groups").onDelete("CASCADE");
    t.bigInteger("system_id").notNullable().references("id").inTable("systems").onDelete("CASCADE");
    t.primary(["group_id", "system_id"]);
    t.index(["system_id", "group_id"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("system_group_members");
  await knex.schema.dropTable("system_groups");
  await knex.schema.dropTable("systems");
}
