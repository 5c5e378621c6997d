import type { Queryable } from "../db/index.ts";

/**
 * The OpenID Connect clients of systems (table oidc_clients): one per system at most, keyed by the system. Only
 * the digest of a client's secret is stored.
 */

export interface OidcClientRow {
  systemId: number;
  clientId: string;
  secretDigest: string;
  redirectUris: string[];
  backchannelLogoutUri: string | null;
  createdAt: Date;
  updatedAt: Date;
  secretRotatedAt: Date | null;
  version: number;
}

interface Row {
  system_id: string | number;
  client_id: string;
  secret_digest: string;
  /** text[]: pg and PGlite both hand it over as an array. */
  redirect_uris: string[];
  backchannel_logout_uri: string | null;
  created_at: Date | string;
  updated_at: Date | string;
  secret_rotated_at: Date | string | null;
  version: number;
}

const COLUMNS = ["system_id", "client_id", "secret_digest", "redirect_uris", "backchannel_logout_uri", "created_at", "updated_at", "secret_rotated_at", "version"] as const;

function toRow(row: Row): OidcClientRow {
  return {
    systemId: Number(row.system_id),
    clientId: row.client_id,
    secretDigest: row.secret_digest,
    redirectUris: row.redirect_uris,
    backchannelLogoutUri: row.backchannel_logout_uri,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    secretRotatedAt: row.secret_rotated_at === null ? null : new Date(row.secret_rotated_at),
    version: row.version,
  };
}

function first(rows: Row[]): OidcClientRow | undefined {
  return rows[0] ? toRow(rows[0]) : undefined;
}

export async function selectOidcClientOfSystem(db: Queryable, systemId: number): Promise<OidcClientRow | undefined> {
  const row = (await db("oidc_clients").select(COLUMNS).where({ system_id: systemId }).first()) as Row | undefined;
  return row ? toRow(row) : undefined;
}

/** The client with this client id, and the name of its system: what the provider asks when a client presents itself. */
export async function selectOidcClientByClientId(db: Queryable, clientId: string): Promise<(OidcClientRow & { systemName: string }) | undefined> {
  const row = (await db("oidc_clients as c")
    .join("systems as s", "s.id", "c.system_id")
    .select(COLUMNS.map((column) => `c.${column}`))
    .select("s.name as system_name")
    .where("c.client_id", clientId)
    .first()) as (Row & { system_name: string }) | undefined;
  return row ? { ...toRow(row), systemName: row.system_name } : undefined;
}

/** The system's id and name, its row locked for the rest of the transaction: one change to its client at a time. */
export async function lockSystemOfClient(trx: Queryable, systemId: number): Promise<{ id: number; name: string } | undefined> {
  const row = (await trx("systems").select("id", "name").where({ id: systemId }).forUpdate().first()) as { id: string | number; name: string } | undefined;
  return row ? { id: Number(row.id), name: row.name } : undefined;
}

/** Undefined when the system already has a client (its key decides, so a double submit yields one client). */
export async function insertOidcClient(
  db: Queryable,
  client: { systemId: number; clientId: string; secretDigest: string; redirectUris: string[]; backchannelLogoutUri: string | null },
): Promise<OidcClientRow | undefined> {
  const rows = await db("oidc_clients")
    .insert({
      system_id: client.systemId,
      client_id: client.clientId,
      secret_digest: client.secretDigest,
      redirect_uris: client.redirectUris,
      backchannel_logout_uri: client.backchannelLogoutUri,
    })
    .onConflict("system_id")
    .ignore()
    .returning<Row[]>(COLUMNS as unknown as string[]);
  return first(rows);
}

/**
 * Sets the redirect URIs and the back-channel logout URI; undefined when there is no client or `expectedVersion`
 * (when given) is no longer the stored one.
 */
export async function updateOidcClientAddresses(
  db: Queryable,
  systemId: number,
  addresses: { redirectUris: string[]; backchannelLogoutUri: string | null },
  expectedVersion?: number,
): Promise<OidcClientRow | undefined> {
  const query = db("oidc_clients").where({ system_id: systemId });
  if (expectedVersion !== undefined) query.andWhere({ version: expectedVersion });
  const rows = await query
    .update({
      redirect_uris: addresses.redirectUris,
      backchannel_logout_uri: addresses.backchannelLogoutUri,
      updated_at: db.fn.now(),
      version: db.raw("version + 1"),
    })
    .returning<Row[]>(COLUMNS as unknown as string[]);
  return first(rows);
}

/** Replaces the secret's digest; undefined when the system has no client. */
export async function updateOidcClientSecret(db: Queryable, systemId: number, secretDigest: string): Promise<OidcClientRow | undefined> {
  const rows = await db("oidc_clients")
    .where({ system_id: systemId })
    .update({ secret_digest: secretDigest, secret_rotated_at: db.fn.now(), updated_at: db.fn.now(), version: db.raw("version + 1") })
    .returning<Row[]>(COLUMNS as unknown as string[]);
  return first(rows);
}

/** Removes the system's client; returns it as it was, or undefined when there was none. */
export async function deleteOidcClient(db: Queryable, systemId: number): Promise<OidcClientRow | undefined> {
  const rows = await db("oidc_clients")
    .where({ system_id: systemId })
    .delete()
    .returning<Row[]>(COLUMNS as unknown as string[]);
  return first(rows);
}
