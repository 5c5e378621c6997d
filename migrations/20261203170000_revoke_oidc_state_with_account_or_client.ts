import type { Knex } from "knex";

/**
 * What the systems hold through "Sign in with Gatehouse" (oidc_payloads: the provider's sessions, grants, codes and
 * tokens) ends with the account's sessions and with the client, in the same transaction as the change, whichever
 * path makes it: ending sessions (sign out everywhere, by an administrator), a password, role or 2FA change (each
 * bumps session_version), disabling or deleting the account, disabling a system's sign-in or deleting the system
 * (the client row goes by cascade). A trigger rather than a call in each service, so that no path can forget it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION revoke_oidc_payloads_of_account() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM oidc_payloads WHERE account_id = OLD.id::text;
      RETURN NULL;
    END;
    $$`);
  await knex.raw(`
    CREATE TRIGGER users_revoke_oidc_payloads_on_change
      AFTER UPDATE OF session_version, disabled ON users
      FOR EACH ROW
      WHEN (NEW.session_version IS DISTINCT FROM OLD.session_version OR (NEW.disabled AND NOT OLD.disabled))
      EXECUTE FUNCTION revoke_oidc_payloads_of_account()`);
  await knex.raw(`
    CREATE TRIGGER users_revoke_oidc_payloads_on_delete
      AFTER DELETE ON users
      FOR EACH ROW EXECUTE FUNCTION revoke_oidc_payloads_of_account()`);
  await knex.raw(`
    CREATE FUNCTION revoke_oidc_payloads_of_client() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM oidc_payloads WHERE client_id = OLD.client_id;
      RETURN NULL;
    END;
    $$`);
  await knex.raw(`
    CREATE TRIGGER oidc_clients_revoke_oidc_payloads_on_delete
      AFTER DELETE ON oidc_clients
      FOR EACH ROW EXECUTE FUNCTION revoke_oidc_payloads_of_client()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw("DROP TRIGGER oidc_clients_revoke_oidc_payloads_on_delete ON oidc_clients");
  await knex.raw("DROP FUNCTION revoke_oidc_payloads_of_client()");
  await knex.raw("DROP TRIGGER users_revoke_oidc_payloads_on_delete ON users");
  await knex.raw("DROP TRIGGER users_revoke_oidc_payloads_on_change ON users");
  await knex.raw("DROP FUNCTION revoke_oidc_payloads_of_account()");
}
