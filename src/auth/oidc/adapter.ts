import type { Adapter, AdapterPayload } from "oidc-provider";
import type { Db } from "../../db/index.ts";
import * as store from "../../repositories/oidc-payloads.ts";

/**
 * oidc-provider's storage adapter on our database: one instance per model of the provider (it constructs
 * `new Adapter("AccessToken")`, `new Adapter("Session")`, …), all of them rows of one table
 * (migrations/20261203160000_create_oidc_payloads.ts). It keeps the meaning of the provider's own in-memory adapter
 * (node_modules/oidc-provider/lib/adapters/memory_adapter.js), so that the provider behaves the same on it, but
 * shared by every instance that uses the database, and with expiry judged by the database's clock.
 */

export interface OidcAdapterOptions {
  /**
   * Answers the provider's `Client` model from Gatehouse's own records instead of this table: the client's metadata
   * as the provider reads it (`client_id`, `client_secret`, `redirect_uris`, …), or undefined when there is no such
   * client (or it may not sign anyone in now). With it, the provider cannot write clients (no dynamic registration).
   */
  findClient?: (clientId: string) => Promise<AdapterPayload | undefined>;
  /**
   * The console session of the request being answered, stored with each provider session saved during it, so that
   * ending that console session ends the provider session too (migrations/20261203190000_add_oidc_backchannel_logout.ts).
   */
  consoleSessionId?: () => string | undefined;
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

export class KnexOidcAdapter implements Adapter {
  constructor(
    private readonly db: Db,
    readonly model: string,
    private readonly options: OidcAdapterOptions = {},
  ) {}

  /** The `Client` model, when Gatehouse answers it (OidcAdapterOptions.findClient). */
  private get delegatedClient(): ((clientId: string) => Promise<AdapterPayload | undefined>) | undefined {
    return this.model === "Client" ? this.options.findClient : undefined;
  }

  private refuseClientWrite(): void {
    if (this.delegatedClient) throw new Error("OpenID Connect clients are Gatehouse's own records; the provider cannot write them.");
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
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
      consoleSessionId: this.model === "Session" ? (this.options.consoleSessionId?.() ?? null) : null,
    });
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const delegated = this.delegatedClient;
    if (delegated) return delegated(id);
    return withConsumed(await store.selectOidcPayload(this.db, this.model, id));
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    if (this.delegatedClient) return undefined;
    return withConsumed(await store.selectOidcPayloadByUid(this.db, this.model, uid));
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
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

function withConsumed(stored: store.StoredOidcPayload | undefined): AdapterPayload | undefined {
  if (!stored) return undefined;
  const payload = stored.payload as AdapterPayload;
  if (stored.consumedAt !== null) payload.consumed = stored.consumedAt;
  return payload;
}

/**
 * The `adapter` option of the provider's configuration (a class it constructs with a model's name): every model on
 * `db`, `Client` through `findClient` when given.
 */
export function knexAdapterFactory(db: Db, options: OidcAdapterOptions = {}): new (model: string) => KnexOidcAdapter {
  return class extends KnexOidcAdapter {
    constructor(model: string) {
      super(db, model, options);
    }
  };
}
