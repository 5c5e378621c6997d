import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  // One row per settings page (smtp, general), each a JSON document with its own optimistic-locking version.
  await knex.schema.createTable("settings", (t) => {
    t.text("key").primary();
    t.jsonb("value").notNullable();
    t.integer("version").notNullable().defaultTo(1);
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.alterTable("users", (t) => {
    // A new address chosen on one's own profile waits here until its code is entered; the old one stays in use.
    t.text("pending_email").nullable();
    // null: two-factor authentication is off.
    t.text("two_factor_method").nullable();
    // AES-256-GCM with a key derived from the app secret; never logged.
    t.text("totp_secret").nullable();
    // The time step of the last accepted authenticator code: a code is accepted once.
    t.bigInteger("totp_last_step").nullable();
  });
  await knex.raw(
    "ALTER TABLE users ADD CONSTRAINT users_two_factor_method_check CHECK (two_factor_method IN ('email', 'totp'))",
  );
  await knex.raw(
    "ALTER TABLE users ADD CONSTRAINT users_totp_secret_check CHECK (two_factor_method IS DISTINCT FROM 'totp' OR totp_secret IS NOT NULL)",
  );
  // docs/security.md E7: one account per address, compared without regard to case. Addresses were not unique before:
  // the oldest account keeps a shared address, the others lose it, and the audit trail says which.
  await knex.raw(`
    WITH ranked AS (
      SELECT id, username, email, row_number() OVER (PARTITION BY lower(email) ORDER BY id) AS position
        FROM users WHERE email IS NOT NULL
    ), cleared AS (
      UPDATE users SET email = NULL, email_verified = false
        FROM ranked WHERE users.id = ranked.id AND ranked.position > 1
      RETURNING users.id, ranked.username, ranked.email
    )
    INSERT INTO audit_events (actor_username, action, target_type, target_id, target_label, details)
    SELECT 'system', 'user.email_removed_as_duplicate', 'user', CAST(id AS text), username,
           jsonb_build_object('changes', jsonb_build_object('email', jsonb_build_object('from', email, 'to', NULL)))
      FROM cleared`);
  await knex.raw("CREATE UNIQUE INDEX users_email_unique_idx ON users (lower(email)) WHERE email IS NOT NULL");

  // Emailed one-time codes: stored as HMAC-SHA256, bound to the account, the purpose and the address.
  await knex.schema.createTable("email_codes", (t) => {
    t.bigIncrements("id").primary();
    t.bigInteger("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
    t.text("purpose").notNullable();
    t.text("address").notNullable();
    t.text("code_hash").notNullable();
    t.integer("failed_attempts").notNullable().defaultTo(0);
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("expires_at", { useTz: true }).notNullable();
    // Set when the code is used or replaced by a newer one: only the newest unused code counts.
    t.timestamp("consumed_at", { useTz: true }).nullable();
  });
  await knex.raw("ALTER TABLE email_codes ADD CONSTRAINT email_codes_purpose_check CHECK (purpose IN ('verify_email', 'sign_in'))");
  await knex.raw("CREATE INDEX email_codes_user_purpose_idx ON email_codes (user_id, purpose, id DESC)");

  await knex.schema.createTable("recovery_codes", (t) => {
    t.bigIncrements("id").primary();
    t.bigInteger("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
    t.text("code_hash").notNullable();
    t.timestamp("used_at", { useTz: true }).nullable();
    t.unique(["user_id", "code_hash"]);
  });

  // Mail written in the transaction that causes it and sent after commit; `sending` rows are claimed with
  // FOR UPDATE SKIP LOCKED, so several instances never send one message twice.
  await knex.schema.createTable("outbox", (t) => {
    t.bigIncrements("id").primary();
    t.text("kind").notNullable();
    t.text("to_address").notNullable();
    t.text("subject").notNullable();
    // Emptied once sent: a code in a body is a secret that should not outlive its delivery.
    t.text("text_body").notNullable();
    t.text("html_body").notNullable();
    t.text("status").notNullable().defaultTo("queued");
    t.integer("attempts").notNullable().defaultTo(0);
    t.timestamp("next_attempt_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("claimed_until", { useTz: true }).nullable();
    t.text("last_error").nullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("sent_at", { useTz: true }).nullable();
  });
  await knex.raw("ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('queued', 'sending', 'sent', 'failed'))");
  await knex.raw("CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE status IN ('queued', 'sending')");
  await knex.raw("CREATE INDEX outbox_created_idx ON outbox (created_at DESC, id DESC)");

  // Second-factor failures per account, and code sends per account and per address, share the counters table.
  await knex.raw("ALTER TABLE login_failures DROP CONSTRAINT login_failures_scope_check");
  await knex.raw(
    "ALTER TABLE login_failures ADD CONSTRAINT login_failures_scope_check CHECK (scope IN ('account', 'ip', 'second_factor', 'code_send_account', 'code_send_ip'))",
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex("login_failures").whereNotIn("scope", ["account", "ip"]).delete();
  await knex.raw("ALTER TABLE login_failures DROP CONSTRAINT login_failures_scope_check");
  await knex.raw("ALTER TABLE login_failures ADD CONSTRAINT login_failures_scope_check CHECK (scope IN ('account', 'ip'))");
  await knex.schema.dropTable("outbox");
  await knex.schema.dropTable("recovery_codes");
  await knex.schema.dropTable("email_codes");
  await knex.raw("DROP INDEX users_email_unique_idx");
  await knex.raw("ALTER TABLE users DROP CONSTRAINT users_totp_secret_check");
  await knex.raw("ALTER TABLE users DROP CONSTRAINT users_two_factor_method_check");
  await knex.schema.alterTable("users", (t) => {
    t.dropColumn("pending_email");
    t.dropColumn("two_factor_method");
    t.dropColumn("totp_secret");
    t.dropColumn("totp_last_step");
  });
  await knex.schema.dropTable("settings");
}
