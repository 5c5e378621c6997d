import type { Knex } from "knex";

/**
 * LDAP (docs/domain.md, "LDAP"): the directory servers, tried in `position` order; the default teams of LDAP-created
 * accounts; directory group → team mappings; and the directory's stable id on LDAP accounts, so an account
 * is keyed by (auth source, entryUUID) and a renamed directory user stays the same account.
 * The switches (user creation, removing unmapped teams) live in `settings` under the key "ldap".
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("ldap_servers", (t) => {
    t.bigIncrements("id").primary();
    t.integer("position").notNullable();
    t.text("url").notNullable();
    t.boolean("start_tls").notNullable().defaultTo(false);
    t.text("ca_certificate").notNullable().defaultTo("");
    t.boolean("verify_certificate").notNullable().defaultTo(true);
    t.text("base_dn").notNullable();
    t.text("group_search_base").notNullable().defaultTo("");
    t.text("user_id_field").notNullable().defaultTo("uid");
    t.text("group_id_field").notNullable().defaultTo("cn");
    t.text("bind_dn").notNullable().defaultTo("");
    // Sealed with the storage key (AES-256-GCM); null for an anonymous search.
    t.text("bind_password").nullable();
    t.text("email_attribute").notNullable().defaultTo("mail");
    t.text("full_name_attribute").notNullable().defaultTo("cn");
    t.integer("version").notNullable().defaultTo(1);
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable("ldap_default_teams", (t) => {
    t.bigInteger("team_id").primary().references("id").inTable("teams").onDelete("CASCADE");
    t.timestamp("added_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable("ldap_group_mappings", (t) => {
    t.bigIncrements("id").primary();
    // As the administrator typed it, and lower-cased for matching (directory names compare without case).
    t.text("group_name").notNullable();
    t.text("group_key").notNullable();
    t.bigInteger("team_id").notNullable().references("id").inTable("teams").onDelete("CASCADE");
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(["group_key", "team_id"]);
    t.index(["team_id"]);
  });

  await knex.schema.alterTable("users", (t) => {
    t.text("external_id").nullable();
  });
  await knex.raw(
    "CREATE UNIQUE INDEX users_external_identity_idx ON users (auth_source, external_id) WHERE external_id IS NOT NULL",
  );
  await knex.raw(
    "ALTER TABLE users ADD CONSTRAINT users_external_id_ldap_check CHECK (external_id IS NULL OR auth_source = 'ldap')",
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw("ALTER TABLE users DROP CONSTRAINT users_external_id_ldap_check");
  await knex.raw("DROP INDEX users_external_identity_idx");
  await knex.schema.alterTable("users", (t) => {
    t.dropColumn("external_id");
  });
  await knex.schema.dropTable("ldap_group_mappings");
  await knex.schema.dropTable("ldap_default_teams");
  await knex.schema.dropTable("ldap_servers");
}
