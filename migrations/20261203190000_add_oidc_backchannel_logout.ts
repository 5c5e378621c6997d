import type { Knex } from "knex";

/**
 * Back-channel logout (OpenID Connect Back-Channel Logout 1.0): a system may register an address to which Gatehouse
 * posts a signed logout token when a person's sign-in to it ends, so that the system ends its own session too.
 *
 * - oidc_clients.backchannel_logout_uri: that address, or null.
 * - oidc_payloads.console_session_id: the console session (sessions.sid) a provider session was last saved under
 *   (src/auth/oidc/adapter.ts), so that ending the console session ends the provider session of that browser.
 * - oidc_logout_notices: logout tokens still to be sent (services/oidc-logout.ts sends them, with retries). Rows are
 *   written here, in the transaction that ends the session, whichever path ends it; the send happens after commit.
 * - end_oidc_sessions(account, console session): deletes the live provider sessions of an account or of a console
 *   session, what was issued under them (grants, codes, tokens), and queues a notice for each client of theirs with
 *   an address. Called by the triggers: a console session deleted before its time (Sign out, signing out one
 *   session from Profile, idle expiry), and the account's triggers of 20261203170000 (signing out everywhere, a
 *   password or role change, disabling, deleting), whose function is replaced here to call it first.
 *   The provider's own sign-out page (RP-initiated logout) sends its notices itself before it deletes its session.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw("ALTER TABLE oidc_clients ADD COLUMN backchannel_logout_uri text NULL");
  await knex.raw(
    "ALTER TABLE oidc_clients ADD CONSTRAINT oidc_clients_backchannel_logout_uri_length CHECK (char_length(backchannel_logout_uri) BETWEEN 1 AND 2000)",
  );
  await knex.raw("ALTER TABLE oidc_payloads ADD COLUMN console_session_id text NULL");
  await knex.raw("CREATE INDEX oidc_payloads_console_session_id_index ON oidc_payloads (console_session_id) WHERE console_session_id IS NOT NULL");

  await knex.schema.createTable("oidc_logout_notices", (t) => {
    t.bigIncrements("id").primary();
    t.text("client_id").notNullable();
    t.text("account_id").notNullable();
    t.text("sid").nullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.integer("attempts").notNullable().defaultTo(0);
    t.timestamp("next_attempt_at", { useTz: true }).notNullable().defaultTo(knex.fn.now()).index();
    t.text("last_error").nullable();
  });

  await knex.raw(`
    CREATE FUNCTION end_oidc_sessions(p_account_id text, p_console_session_id text) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      IF p_account_id IS NULL AND p_console_session_id IS NULL THEN
        RETURN;
      END IF;
      WITH ended AS (
        DELETE FROM oidc_payloads s
         WHERE s.model = 'Session'
           AND (p_account_id IS NULL OR s.account_id = p_account_id)
           AND (p_console_session_id IS NULL OR s.console_session_id = p_console_session_id)
           AND (s.expires_at IS NULL OR s.expires_at > now())
        RETURNING s.account_id, s.payload
      ), authorizations AS (
        SELECT e.account_id, a.key AS client_id, a.value->>'sid' AS sid, a.value->>'grantId' AS grant_id
          FROM ended e
          CROSS JOIN LATERAL json_each(COALESCE(e.payload->'authorizations', '{}'::json)) a
      ), revoked AS (
        DELETE FROM oidc_payloads p
         USING authorizations z
         WHERE z.grant_id IS NOT NULL AND (p.grant_id = z.grant_id OR (p.model = 'Grant' AND p.id = z.grant_id))
      )
      INSERT INTO oidc_logout_notices (client_id, account_id, sid)
      SELECT z.client_id, z.account_id, z.sid
        FROM authorizations z
        JOIN oidc_clients c ON c.client_id = z.client_id
       WHERE c.backchannel_logout_uri IS NOT NULL AND z.account_id IS NOT NULL;
    END;
    $$`);

  await knex.raw(`
    CREATE OR REPLACE FUNCTION revoke_oidc_payloads_of_account() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM end_oidc_sessions(OLD.id::text, NULL);
      DELETE FROM oidc_payloads WHERE account_id = OLD.id::text;
      RETURN NULL;
    END;
    $$`);

  await knex.raw(`
    CREATE FUNCTION end_oidc_sessions_of_console_session() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM end_oidc_sessions(NULL, OLD.sid);
      RETURN NULL;
    END;
    $$`);
  // Only a session ended before its time: the cleanup of expired sessions ends no one's sign-in to a system.
  await knex.raw(`
    CREATE TRIGGER sessions_end_oidc_sessions_on_delete
      AFTER DELETE ON sessions
      FOR EACH ROW
      WHEN (OLD.expires_at > now())
      EXECUTE FUNCTION end_oidc_sessions_of_console_session()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw("DROP TRIGGER sessions_end_oidc_sessions_on_delete ON sessions");
  await knex.raw("DROP FUNCTION end_oidc_sessions_of_console_session()");
  await knex.raw(`
    CREATE OR REPLACE FUNCTION revoke_oidc_payloads_of_account() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM oidc_payloads WHERE account_id = OLD.id::text;
      RETURN NULL;
    END;
    $$`);
  await knex.raw("DROP FUNCTION end_oidc_sessions(text, text)");
  await knex.schema.dropTable("oidc_logout_notices");
  await knex.raw("DROP INDEX oidc_payloads_console_session_id_index");
  await knex.raw("ALTER TABLE oidc_payloads DROP COLUMN console_session_id");
  await knex.raw("ALTER TABLE oidc_clients DROP CONSTRAINT oidc_clients_backchannel_logout_uri_length");
  await knex.raw("ALTER TABLE oidc_clients DROP COLUMN backchannel_logout_uri");
}
