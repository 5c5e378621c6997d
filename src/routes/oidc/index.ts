import { type NextFunction, type Request, type Response, Router } from "express";
import type Provider from "oidc-provider";
import { z } from "zod";
import { knexAdapterFactory } from "../../auth/oidc/adapter.ts";
import { requireSignedIn } from "../../middleware/require-auth.ts";
import { validate } from "../../middleware/validate.ts";
import { findOidcClientByClientId } from "../../services/oidc-clients.ts";
import { signingJwks, signingKeysVersion } from "../../services/signing-keys.ts";
import type { RouteDeps } from "../deps.ts";
import { clientMetadataOf, createOidcProvider, INTERACTION_PATH, OIDC_ROUTES } from "./provider.ts";

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
    private readonly deps: Pick<RouteDeps, "config" | "db" | "keys" | "logger">,
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
    });
    const provider = createOidcProvider({ config, db, logger, jwks: await signingJwks(db, keys), cookieKeys: this.cookieKeys, adapter });
    this.current = { version, provider, callback: provider.callback() };
  }
}

const PROVIDER_PATHS = new Set<string>([...Object.values(OIDC_ROUTES), "/.well-known/openid-configuration"]);

function isProviderPath(path: string): boolean {
  if (PROVIDER_PATHS.has(path)) return true;
  // The authorization endpoint's resume step (/oidc/auth/:uid) and the logout confirmation (/oidc/session/end/…).
  return path.startsWith(`${OIDC_ROUTES.authorization}/`) || path.startsWith(`${OIDC_ROUTES.end_session}/`);
}

/**
 * The provider's endpoints: after the console's session (the sign-in step is the console's) and before the body
 * parsers (the provider reads its own bodies).
 */
export function oidcProviderMiddleware(holder: OidcProviderHolder) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!isProviderPath(req.path)) {
      next();
      return;
    }
    holder.get().then(({ callback }) => callback(req, res), next);
  };
}

const InteractionParams = z.object({ uid: z.string().min(1).max(100) });

/**
 * Where the provider sends a browser that must sign in (or whose console account changed): the console's own
 * sign-in first (requireSignedIn leads there and back, 2FA included), then the provider is told who it is and that
 * the system's client has the scopes it asked for (no consent screen for a system's own client). Whether the person
 * may sign in to that system is the provider's system_access check (provider.ts), decided when it resumes.
 */
export function oidcInteractionRouter(holder: OidcProviderHolder): Router {
  const router = Router();
  router.get(`${INTERACTION_PATH}/:uid`, requireSignedIn, validate({ params: InteractionParams }), async (req: Request, res: Response) => {
    const { provider } = await holder.get();
    const details = await provider.interactionDetails(req, res);
    const accountId = String(req.user!.id);
    const clientId = String(details.params.client_id ?? "");
    const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    const grant = existing && existing.accountId === accountId ? existing : new provider.Grant({ accountId, clientId });
    grant.addOIDCScope(String(details.params.scope ?? "openid"));
    const grantId = await grant.save();
    const location = await provider.interactionResult(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
    // A page that moves on by itself rather than a redirect: after the sign-in form, a redirect chain ending at the
    // system's address would be part of the form's navigation, which the console's CSP (form-action 'self') refuses.
    res.set("Refresh", `0; url=${location}`);
    res.render("oidc/continue", { title: "Signing you in", location });
  });
  return router;
}
