import Provider from "oidc-provider";
import { knexAdapterFactory } from "../../auth/oidc/adapter.ts";
import type { Config } from "../../config.ts";
import type { Db } from "../../db/index.ts";
import type { SecretKeys } from "../../lib/app-secret.ts";
import type { Logger } from "../../lib/logger.ts";
import { findOidcClientByClientId } from "../../services/oidc-clients.ts";
import { BuiltFromSigningKeys, signingJwks } from "../../services/signing-keys.ts";
import { clientMetadataOf, createOidcProvider } from "./provider.ts";

type Built = { provider: Provider; callback: ReturnType<Provider["callback"]> };

/** oidc-provider's own method (lib/models/client.js), which its type definitions leave out. */
interface LogoutCapable {
  backchannelLogout(sub: string, sid: string | undefined): Promise<void>;
}

/**
 * The provider of this process, built on first use from the signing keys in the database and built again when they
 * change (a rotation on any instance, seen within SIGNING_KEYS_CHECK_MS). Its state is all in the database
 * (src/auth/oidc/adapter.ts), so a rebuilt provider, or another instance, answers for the same sessions and tokens.
 */
export class OidcProviderHolder {
  private readonly built: BuiltFromSigningKeys<Built>;

  constructor(
    private readonly deps: { config: Config; db: Db; keys: SecretKeys; logger: Logger },
    private readonly cookieKeys: string[],
  ) {
    this.built = new BuiltFromSigningKeys(deps.db, () => this.build());
  }

  get(): Promise<Built> {
    return this.built.get();
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

  private async build(): Promise<Built> {
    const { config, db, keys, logger } = this.deps;
    const adapter = knexAdapterFactory(db, {
      findClient: async (clientId) => {
        const client = await findOidcClientByClientId(db, clientId);
        return client ? clientMetadataOf(client) : undefined;
      },
      // The provider's sessions are saved while it answers a browser's request: the console session is that request's.
      consoleSessionId: () => (Provider.ctx?.req as { sessionID?: string } | undefined)?.sessionID,
    });
    const provider = createOidcProvider({ config, db, logger, jwks: await signingJwks(db, keys), cookieKeys: this.cookieKeys, adapter });
    return { provider, callback: provider.callback() };
  }
}
