import type Provider from "oidc-provider";
import { knexAdapterFactory } from "../../auth/oidc/adapter.ts";
import type { Config } from "../../config.ts";
import type { Db } from "../../db/index.ts";
import type { SecretKeys } from "../../lib/app-secret.ts";
import type { Logger } from "../../lib/logger.ts";
import { findOidcClientByClientId } from "../../services/oidc-clients.ts";
import { BuiltFromSigningKeys, signingJwks } from "../../services/signing-keys.ts";
import { clientMetadataOf, createOidcProvider } from "./provider.ts";

type Built = { provider: Provider; callback: ReturnType<Provider["callback"]> };

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

  private async build(): Promise<Built> {
    const { config, db, keys, logger } = this.deps;
    const adapter = knexAdapterFactory(db, {
      findClient: async (clientId) => {
        const client = await findOidcClientByClientId(db, clientId);
        return client ? clientMetadataOf(client) : undefined;
      },
    });
    const provider = createOidcProvider({ config, db, logger, jwks: await signingJwks(db, keys), cookieKeys: this.cookieKeys, adapter });
    return { provider, callback: provider.callback() };
  }
}
