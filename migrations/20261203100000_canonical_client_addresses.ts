import type { Knex } from "knex";

/**
 * Client addresses written before src/lib/client-address.ts existed may be IPv4-mapped IPv6 (`::ffff:a.b.c.d`).
 * They become `a.b.c.d`, so that the log, the sessions list and the downloads show one address per client and the
 * per-address throttles count both spellings as one: where a counter exists under both keys, the two are merged
 * (failures added, the earlier window, the later block).
 */
const MAPPED = String.raw`^(reset:)?::ffff:[0-9]{1,3}(\.[0-9]{1,3}){3}$`;
const CANONICAL_KEY = "regexp_replace(key, '::ffff:', '', 'i')";
const ADDRESS_SCOPES = ["ip", "code_send_ip"];

export async function up(knex: Knex): Promise<void> {
  for (const table of ["audit_events", "sessions"]) {
    await knex.raw(`UPDATE ${table} SET client_ip = regexp_replace(client_ip, '^::ffff:', '', 'i') WHERE client_ip ~* ?`, [
      String.raw`^::ffff:[0-9]{1,3}(\.[0-9]{1,3}){3}$`,
    ]);
  }
  await knex.raw(
    `UPDATE login_failures AS kept
        SET failures = kept.failures + mapped.failures,
            window_started_at = LEAST(kept.window_started_at, mapped.window_started_at),
            last_failed_at = GREATEST(kept.last_failed_at, mapped.last_failed_at),
            blocked_until = GREATEST(kept.blocked_until, mapped.blocked_until)
       FROM login_failures AS mapped
      WHERE mapped.scope = ANY(?) AND mapped.key ~* ?
        AND kept.scope = mapped.scope AND kept.key = regexp_replace(mapped.key, '::ffff:', '', 'i')`,
    [ADDRESS_SCOPES, MAPPED],
  );
  await knex.raw(
    `DELETE FROM login_failures AS mapped
      WHERE mapped.scope = ANY(?) AND mapped.key ~* ?
        AND EXISTS (SELECT 1 FROM login_failures kept WHERE kept.scope = mapped.scope AND kept.key = ${CANONICAL_KEY.replace("key", "mapped.key")})`,
    [ADDRESS_SCOPES, MAPPED],
  );
  await knex.raw(`UPDATE login_failures SET key = ${CANONICAL_KEY} WHERE scope = ANY(?) AND key ~* ?`, [ADDRESS_SCOPES, MAPPED]);
}

export async function down(): Promise<void> {
  // The mapped spelling carried nothing the canonical one lacks; there is nothing to restore.
}
