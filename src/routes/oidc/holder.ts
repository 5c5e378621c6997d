import Provider from "oidc-provider";
import { knexAdapterFactory } from "../../auth/oidc/adapter.ts";
import type { Config } from "../../config.ts";
import type { Db } from "../../db/index.ts";
import type { SecretKeys } from "../../lib/app-secret.ts";
import type { Logger } from "../../lib/logger.ts";
import { findOidcClientByClientId } from "../../services/oidc-clients.ts";
import { signingJwks, signingKeysVersion } from "../../services/signing-keys.ts";
import { clientMetadataOf, createOidcProvider } from "./provider.ts";

/** oidc-provider's own method (lib/models/client.js), which its type definitions leave out. */
interface LogoutCapable {
  backchannelLogout(sub: string, sid: string | undefined): Promise<void>;
}

/** How often an instance asks whether the signing keys changed (a rotation elsewhere): at most this stale. */
const KEYS_CHECK_MS = 30_000;

/**
 * The provider of this process, built on first use from the signing keys in the database and built again when they
 * change (a rotation on any instance). Its state is all in the database (src/auth/oidc/adapter.ts), so a rebuilt
 * provider, or another instance, answers for the same sessions and tokens.
 */
export class OidcProviderHolder {
  private current: { version: string; provider: Provider; callback: ReturnType<Provider["callback"]> } | undefined;
  private building: Promise<void> | undefined;
  private checkedAt = 0;

  constructor(
    private readonly deps: { config: Config; db: Db; keys: SecretKeys; logger: Logger },
    private readonly cookieKeys: string[],
  ) {}

  async get(): Promise<{ provider: Provider; callback: ReturnType<Provider["callback"]> }> {
    if (this.current && Date.now() - this.checkedAt < KEYS_CHECK_MS) return this.current;
    this.building ??= this.refresh().finally(() => {
      this.building = undefined;
    });
    await this.building;
    if (!this.current) throw new Error("the OpenID Connect provider could not be built");
    return this.current;
  }

  /**
   * Posts a queued logout token (services/oidc-logout.ts) through the provider, which makes and signs it as it does
   * on its own sign-out page: the keys of its ID tokens, `typ` logout+jwt, the `sid` the ID token carried.
   */
  async deliverLogoutToken(notice: { clientId: string; accountId: string; sid: string | null }): Promise<"sent" | "no address"> {
    const { provider } = await this.get();
    const client = (await provider.Client.find(notice.clientId)) as (InstanceType<Provider["Client"]> & LogoutCapable) | undefined;
    if (!client?.backchannelLogoutUri) return "no address";
    await client.backchannelLogout(notice.accountId, notice.sid ?? undefined);
    return "sent";
  }

  private async refresh(): Promise<void> {
    const { config, db, keys, logger } = this.deps;
    const version = await signingKeysVersion(db);
    this.checkedAt = Date.now();
    if (this.current?.version === version) return;
    const adapter = knexAdapterFactory(db, {
      findClient: async (clientId) => {
        const client = await findOidcClientByClientId(db, clientId);
        return client ? clientMetadataOf(client) : undefined;
      },
      // The provider's sessions are saved while it answers a browser's request: the console session is that request's.
      consoleSessionId: () => (Provider.ctx?.req as { sessionID?: string } | undefined)?.sessionID,
    });
    const provider = createOidcProvider({ config, db, logger, jwks: await signingJwks(db, keys), cookieKeys: this.cookieKeys, adapter });
    this.current = { version, provider, callback: provider.callback() };
  }
}

