import type { Db } from "../../db/index.ts";
import * as store from "../../repositories/oidc-payloads.ts";

/**
 * oidc-provider's storage adapter on our database: one instance per model of the provider (it constructs
 * `new Adapter("AccessToken")`, `new Adapter("Session")`, …), all of them rows of one table
 * (migrations/20261203160000_create_oidc_payloads.ts). It keeps the meaning of the provider's own in-memory adapter
 * (node_modules/oidc-provider/lib/adapters/memory_adapter.js), so that the provider behaves the same on it, but
 * shared by every instance that uses the database, and with expiry judged by the database's clock.
 */

/** An object as the provider stores it; the fields named here are the ones the adapter looks rows up by. */
export type OidcPayload = store.OidcPayloadJson & {
  grantId?: string;
  userCode?: string;
  uid?: string;
  accountId?: string;
  clientId?: string;
  /** When a single-use object was used, in seconds since the epoch: what the provider checks to refuse a reuse. */
  consumed?: number;
};

/** The methods the provider calls on an adapter. */
export interface OidcAdapter {
  upsert(id: string, payload: OidcPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<OidcPayload | undefined>;
  findByUserCode(userCode: string): Promise<OidcPayload | undefined>;
  findByUid(uid: string): Promise<OidcPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

export interface OidcAdapterOptions {
  /**
   * Answers the provider's `Client` model from Gatehouse's own records instead of this table: the client's metadata
   * as the provider reads it (`client_id`, `client_secret`, `redirect_uris`, …), or undefined when there is no such
   * client (or it may not sign anyone in now). With it, the provider cannot write clients (no dynamic registration).
   */
  findClient?: (clientId: string) => Promise<OidcPayload | undefined>;
}

/** The models whose objects hang on a grant: revoking the grant deletes them all, as the memory adapter does. */
const GRANT_MODELS = [
  "AccessToken",
  "AuthorizationCode",
  "RefreshToken",
  "DeviceCode",
  "BackchannelAuthenticationRequest",
  "PreAuthorizedCode",
] as const;

function text(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

export class KnexOidcAdapter implements OidcAdapter {
  constructor(
    private readonly db: Db,
    readonly model: string,
    private readonly options: OidcAdapterOptions = {},
  ) {}

  /** The `Client` model, when Gatehouse answers it (OidcAdapterOptions.findClient). */
  private get delegatedClient(): ((clientId: string) => Promise<OidcPayload | undefined>) | undefined {
    return this.model === "Client" ? this.options.findClient : undefined;
  }

  private refuseClientWrite(): void {
    if (this.delegatedClient) throw new Error("OpenID Connect clients are Gatehouse's own records; the provider cannot write them.");
  }

  async upsert(id: string, payload: OidcPayload, expiresIn?: number): Promise<void> {
    this.refuseClientWrite();
    await store.upsertOidcPayload(this.db, {
      model: this.model,
      id,
      payload,
      expiresIn: typeof expiresIn === "number" ? expiresIn : undefined,
      grantId: text(payload.grantId),
      userCode: text(payload.userCode),
      uid: text(payload.uid),
      accountId: text(payload.accountId),
      clientId: text(payload.clientId),
      consumedAt: typeof payload.consumed === "number" ? payload.consumed : null,
    });
  }

  async find(id: string): Promise<OidcPayload | undefined> {
    const delegated = this.delegatedClient;
    if (delegated) return delegated(id);
    return withConsumed(await store.selectOidcPayload(this.db, this.model, id));
  }

  async findByUid(uid: string): Promise<OidcPayload | undefined> {
    if (this.delegatedClient) return undefined;
    return withConsumed(await store.selectOidcPayloadByUid(this.db, this.model, uid));
  }

  async findByUserCode(userCode: string): Promise<OidcPayload | undefined> {
    if (this.delegatedClient) return undefined;
    return withConsumed(await store.selectOidcPayloadByUserCode(this.db, this.model, userCode));
  }

  /**
   * Marks the object used (the provider then finds it with `consumed` set). Atomic, and the first use's time stays;
   * refusing a reuse is the provider's own check of `consumed` on the next find (a code used twice revokes its grant).
   */
  async consume(id: string): Promise<void> {
    if (this.delegatedClient) return;
    await store.consumeOidcPayload(this.db, this.model, id);
  }

  async destroy(id: string): Promise<void> {
    this.refuseClientWrite();
    await store.deleteOidcPayload(this.db, this.model, id);
  }

  /** Every code and token of the grant, whichever model's adapter is asked (the grant itself is the provider's to destroy). */
  async revokeByGrantId(grantId: string): Promise<void> {
    await store.deleteOidcPayloadsOfGrant(this.db, grantId, GRANT_MODELS);
  }
}

function withConsumed(stored: store.StoredOidcPayload | undefined): OidcPayload | undefined {
  if (!stored) return undefined;
  const payload = stored.payload as OidcPayload;
  if (stored.consumedAt !== null) payload.consumed = stored.consumedAt;
  return payload;
}

/** What oidc-provider's `adapter` option takes: a class it constructs with a model's name. */
export type OidcAdapterClass = new (model: string) => KnexOidcAdapter;

/** The `adapter` option of the provider's configuration: every model on `db`, `Client` through `findClient` when given. */
export function knexAdapterFactory(db: Db, options: OidcAdapterOptions = {}): OidcAdapterClass {
  return class extends KnexOidcAdapter {
    constructor(model: string) {
      super(db, model, options);
    }
  };
}
