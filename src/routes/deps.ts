import type { GatehousePassport } from "../auth/passport.ts";
import type { Config } from "../config.ts";
import type { Db } from "../db/index.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import type { Logger } from "../lib/logger.ts";
import type { GateCounters } from "../services/gate.ts";
import type { OidcProviderHolder } from "./oidc/holder.ts";
import type { MailOutbox } from "../services/mail-outbox.ts";
import type { OidcLogoutNotices } from "../services/oidc-logout.ts";

/** What every router is built from: the configuration and the long-lived services of one process. */
export interface RouteDeps {
  config: Config;
  db: Db;
  passport: GatehousePassport;
  keys: SecretKeys;
  mailOutbox: MailOutbox;
  gateCounters: GateCounters;
  /** Sends systems their back-channel logout tokens; runSoon() after a sign-out, so that they need not wait. */
  oidcLogoutNotices: OidcLogoutNotices;
  logger: Logger;
  /** The OpenID Connect provider of this process (routes/oidc). */
  oidc: OidcProviderHolder;
}
