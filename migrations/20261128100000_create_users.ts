import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("users", (t) => {
    t.bigIncrements("id").primary();
    t.text("username").notNullable();
    // trim + NFKC + lower-case of username: the login key and the uniqueness rule.
    t.text("username_key").notNullable().unique();
    t.text("full_name").notNullable().defaultTo("");
    t.text("title").notNullable().defaultTo("");
    t.text("email").nullable();
    t.boolean("email_verified").notNullable().defaultTo(false);
    t.text("phone").notNullable().defaultTo("");
    t.boolean("is_admin").notNullable().defaultTo(false);
    t.text("auth_source").notNullable().defaultTo("local");
    t.text("password_hash").nullable();
    t.boolean("disabled").notNullable().defaultTo(false);
    // Bumped on password change, disable, demotion and "sign out everywhere": older sessions stop working.
    t.integer("session_version").notNullable().defaultTo(1);
    // Optimistic locking for admin edits.
    t.integer("version").notNullable().defaultTo(1);
    t.timestamp("last_login_at", { useTz: true }).nullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(
    "ALTER TABLE users ADD CONSTRAINT users_auth_source_check CHECK (auth_source IN ('local', 'ldap'))",
  );
  await knex.raw("CREATE INDEX users_full_name_idx ON users (lower(full_name), id)");
  await knex.raw("CREATE INDEX users_email_idx ON users (lower(email), id)");
  await knex.raw("CREATE INDEX users_created_at_idx ON users (created_at, id)");
  await knex.raw("CREATE INDEX users_last_login_at_idx ON users (last_login_at, id)");
  await knex.raw("CREATE INDEX users_admins_idx ON users (id) WHERE is_admin AND NOT disabled");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("users");
}
