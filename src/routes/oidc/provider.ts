import type { Request, Response } from "express";
import Provider, { type Configuration, errors, interactionPolicy, type KoaContextWithOIDC } from "oidc-provider";
import type { Config } from "../../config.ts";
import type { Db } from "../../db/index.ts";
import type { Logger } from "../../lib/logger.ts";
import { actorOf } from "../actor.ts";
import {
  checkClientSecret,
  claimsOf,
  OIDC_SCOPE_CLAIMS,
  type OidcAccess,
  oidcAccessOf,
  recordOidcRefusal,
  recordOidcSignIn,
} from "../../services/oidc.ts";
import { findOidcClientByClientId, OIDC_CLIENT_PROFILE } from "../../services/oidc-clients.ts";

/**
 * "Sign in with Gatehouse": an OpenID Connect provider (oidc-provider) whose issuer is the console's BASE_URL. Its
 * endpoints live under /oidc/ and discovery at /.well-known/openid-configuration; routes/oidc/index.ts mounts it after the
 * console's session (so the sign-in step is the console's own) and before the body parsers (it reads its own).
 * Every client belongs to one system (services/oidc-clients.ts); whether a person may sign in to it, refresh or
 * read userinfo is services/oidc.ts's answer, computed at each of those requests.
 */

export const OIDC_ROUTES = {
  authorization: "/oidc/auth",
  token: "/oidc/token",
  userinfo: "/oidc/me",
  jwks: "/oidc/jwks",
  end_session: "/oidc/session/end",
  revocation: "/oidc/token/revocation",
  introspection: "/oidc/token/introspection",
  pushed_authorization_request: "/oidc/request",
  registration: "/oidc/reg",
  backchannel_authentication: "/oidc/backchannel",
  code_verification: "/oidc/device",
  device_authorization: "/oidc/device/auth",
  challenge: "/oidc/challenge",
} as const;

/** Where the provider sends a browser that must sign in first (routes/oidc handles it with the console's session). */
export const INTERACTION_PATH = "/oidc/interaction";

/** Access tokens live 10 minutes: a lost grant stops a system's API calls within that, and each refresh asks again. */
const ACCESS_TOKEN_SECONDS = 600;
const CODE_SECONDS = 60;
const ID_TOKEN_SECONDS = 3600;
const REFRESH_TOKEN_SECONDS = 14 * 24 * 3600;

export interface OidcProviderDeps {
  config: Config;
  db: Db;
  logger: Logger;
  /** The signing keys as private JWKs, current first (services/signing-keys.ts). */
  jwks: { keys: Record<string, unknown>[] };
  /** Keys for the provider's own cookies (derived from APP_SECRET). */
  cookieKeys: string[];
  /** oidc-provider's storage: one table for every model, clients answered from Gatehouse's own (src/auth/oidc/adapter.ts). */
  adapter: NonNullable<Configuration["adapter"]>;
}

/** The token endpoint's answer once an address has guessed too many secrets of a client (429, as for passwords). */
class TooManyClientSecretGuesses extends errors.OIDCProviderError {
  constructor() {
    super(429, "invalid_client");
    this.error_description = "Too many wrong client secrets from this address: try again in 15 minutes.";
  }
}

/** A console page (the console's frame and escaping) as the provider's answer, through Express's renderer. */
async function renderPage(ctx: KoaContextWithOIDC, view: string, locals: Record<string, unknown>): Promise<void> {
  const res = consoleRequest(ctx).res;
  ctx.body = await new Promise<string>((resolve, reject) =>
    res?.render(view, locals, (error: Error | null, rendered?: string) => (error ? reject(error) : resolve(rendered ?? ""))),
  );
  ctx.type = "html";
}

/** Widens the console's CSP (set by helmet) so that this page's form may lead on to `origin`. */
function allowFormActionTo(ctx: KoaContextWithOIDC, origin: string): void {
  const policy = String(ctx.response.get("Content-Security-Policy") ?? "");
  if (policy) ctx.set("Content-Security-Policy", policy.replace("form-action 'self'", `form-action 'self' ${origin}`));
}

/** The console's request under the provider's context: its session and signed-in account (passport). */
function consoleRequest(ctx: KoaContextWithOIDC): Request {
  return ctx.req as unknown as Request;
}

/** The client metadata of a system's client: confidential, code flow with PKCE, refresh tokens. */
export function clientMetadataOf(client: { clientId: string; secretDigest: string; redirectUris: string[]; backchannelLogoutUri: string | null }): Record<string, unknown> {
  return {
    client_id: client.clientId,
    // The digest stands where the secret would: compareClientSecret (below) compares digests, so the secret itself
    // is never stored. It is never used as an HMAC key either: only ES256 and RS256 are enabled.
    client_secret: client.secretDigest,
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.redirectUris,
    grant_types: [...OIDC_CLIENT_PROFILE.grantTypes],
    response_types: [...OIDC_CLIENT_PROFILE.responseTypes],
    // Either method is accepted for a client registered with this one (oidc-provider's client authentication).
    token_endpoint_auth_method: "client_secret_basic",
    // With an address, the ID token carries `sid`, which the logout token repeats (services/oidc-logout.ts).
    ...(client.backchannelLogoutUri ? { backchannel_logout_uri: client.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
  };
}

/**
 * The end of the sign-in step for a browser the provider sent to the console (routes/oidc/index.ts): the account
 * signed in, and the system's client granted the scopes it asked for, without a consent screen (a system's own
 * client). Reuses the interaction's grant when it is this account's. Returns where the browser goes on to.
 */
export async function finishSignIn(provider: Provider, req: Request, res: Response, accountId: string): Promise<string> {
  const details = await provider.interactionDetails(req, res);
  const clientId = String(details.params.client_id ?? "");
  const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  const grant = existing && existing.accountId === accountId ? existing : new provider.Grant({ accountId, clientId });
  grant.addOIDCScope(String(details.params.scope ?? "openid"));
  const grantId = await grant.save();
  return provider.interactionResult(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
}

export function createOidcProvider({ config, db, logger, jwks, cookieKeys, adapter }: OidcProviderDeps): Provider {
  // Asked once per request and reused within it (the provider asks for the account several times while answering
  // one request); every new request asks the resolver again.
  const askedIn = new WeakMap<object, Map<string, Promise<OidcAccess>>>();
  const accessFor = (ctx: KoaContextWithOIDC, accountId: string, clientId: string): Promise<OidcAccess> => {
    const asked = askedIn.get(ctx.req) ?? new Map<string, Promise<OidcAccess>>();
    askedIn.set(ctx.req, asked);
    const key = `${accountId} ${clientId}`;
    const access = asked.get(key) ?? oidcAccessOf(db, Number(accountId), clientId);
    asked.set(key, access);
    return access;
  };
  const { Check, base } = interactionPolicy;
  const policy = base();
  // The provider's own sign-in state follows the console's: a browser signed out of the console, or signed in as
  // someone else since, goes through the console's sign-in again.
  policy.get("login")?.checks.add(
    new Check("console_session", "the console is not signed in as this account", (ctx) => {
      const user = consoleRequest(ctx).user;
      return !user || String(user.id) !== ctx.oidc.session?.accountId;
    }),
  );
  // No consent screen for a system's own client; instead, no access to the system means no code.
  policy.get("consent")?.checks.add(
    new Check("system_access", "the account has no access to this system", async (ctx) => {
      const accountId = ctx.oidc.session?.accountId;
      const clientId = ctx.oidc.client?.clientId;
      if (!accountId || !clientId) return Check.REQUEST_PROMPT;
      const access = await accessFor(ctx, accountId, clientId);
      if (!access.allowed) {
        await recordOidcRefusal(db, actorOf(consoleRequest(ctx)), "oidc.refused", access);
        throw new errors.AccessDenied(
          access.reason === "disabled" ? "this account is disabled" : `you have no access to ${access.system?.name ?? "this system"} in Gatehouse`,
        );
      }
      return Check.NO_NEED_TO_PROMPT;
    }),
  );

  const configuration: Configuration = {
    adapter,
    clients: [],
    jwks: jwks as Configuration["jwks"],
    cookies: {
      keys: cookieKeys,
      long: { httpOnly: true, sameSite: "lax", signed: true },
      short: { httpOnly: true, sameSite: "lax", signed: true },
    },
    routes: OIDC_ROUTES,
    interactions: {
      policy,
      url: (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}`,
    },
    scopes: Object.keys(OIDC_SCOPE_CLAIMS),
    claims: Object.fromEntries(Object.entries(OIDC_SCOPE_CLAIMS).map(([scope, claims]) => [scope, [...claims]])),
    // The claims in the ID token as well as at userinfo: systems that read only the ID token get the permission too.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    responseTypes: [...OIDC_CLIENT_PROFILE.responseTypes],
    clientDefaults: {
      grant_types: [...OIDC_CLIENT_PROFILE.grantTypes],
      response_types: [...OIDC_CLIENT_PROFILE.responseTypes],
      token_endpoint_auth_method: "client_secret_basic",
      id_token_signed_response_alg: "RS256",
    },
    enabledJWA: {
      idTokenSigningAlgValues: ["ES256", "RS256"],
      userinfoSigningAlgValues: ["ES256", "RS256"],
      clientAuthSigningAlgValues: ["ES256", "RS256"],
    },
    clientAuthMethods: [...OIDC_CLIENT_PROFILE.tokenEndpointAuthMethods],
    // Refresh tokens for the code flow, without offline_access; they end with the provider's session (bound to the
    // console's), and each use is another question to the resolver (findAccount).
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    expiresWithSession: async () => true,
    rotateRefreshToken: true,
    ttl: {
      AccessToken: ACCESS_TOKEN_SECONDS,
      AuthorizationCode: CODE_SECONDS,
      IdToken: ID_TOKEN_SECONDS,
      RefreshToken: REFRESH_TOKEN_SECONDS,
      Interaction: 3600,
      Session: config.session.absoluteHours * 3600,
      Grant: REFRESH_TOKEN_SECONDS,
    },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // A system's "Sign out" asks first, on the console's own page; yes signs the person out of Gatehouse.
        logoutSource: async (ctx, form) => {
          const xsrf = /name="xsrf" value="([^"]+)"/.exec(form)?.[1] ?? "";
          const returnTo = ctx.oidc.session?.state?.postLogoutRedirectUri;
          const clientId = ctx.oidc.client?.clientId;
          const system = clientId ? await findOidcClientByClientId(db, clientId) : undefined;
          await renderPage(ctx, "oidc/sign-out", { title: "Sign out of Gatehouse?", action: `${OIDC_ROUTES.end_session}/confirm`, xsrf, systemName: system?.systemName ?? null });
          // The answer leads back to the system's registered address: the form may go on there, and only there.
          if (typeof returnTo === "string") allowFormActionTo(ctx, new URL(returnTo).origin);
        },
        postLogoutSuccessSource: async (ctx) => {
          await renderPage(ctx, "oidc/signed-out", { title: "Signed out" });
        },
      },
      backchannelLogout: { enabled: true },
    },
    // Browsers never call the token endpoint: these are confidential clients on servers.
    clientBasedCORS: () => false,
    // The provider's only outgoing requests for these clients are logout tokens to the back-channel addresses that
    // administrators register, which are usually on the fleet's private network: its default fetch refuses private
    // and loopback addresses (its guard against requests steered by clients that register themselves, which
    // Gatehouse does not allow), so that guard is left out here.
    fetch: (url, init) => {
      const { dispatcher: _guard, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
      return globalThis.fetch(url, rest);
    },
    async findAccount(ctx, sub, token) {
      const clientId = token?.clientId ?? ctx.oidc.client?.clientId;
      if (!clientId) return undefined;
      const access = await accessFor(ctx, sub, clientId);
      // At the authorization endpoint the account is only being recognised: the consent check above refuses it
      // with access_denied, which a system can show (an undefined account would send the browser to sign in again).
      const authorizing = ctx.oidc.route === "authorization" || ctx.oidc.route === "resume";
      if (!access.allowed && !(authorizing && access.person)) {
        if (ctx.oidc.route === "token" && ctx.oidc.params?.grant_type === "refresh_token")
          await recordOidcRefusal(db, actorOf(consoleRequest(ctx)), "oidc.refresh_refused", access);
        return undefined;
      }
      const person = access.person;
      if (!person) return undefined;
      return { accountId: sub, claims: async () => claimsOf(person) as { sub: string } };
    },
    renderError: async (ctx, out) => {
      await renderPage(ctx, "oidc/error", { title: "Sign-in could not continue", problem: String(out.error_description ?? out.error ?? "") });
    },
  };

  const provider = new Provider(config.baseUrl, configuration);
  provider.proxy = config.trustProxy > 0;

  // The stored "secret" is its digest (clientMetadataOf): compare the presented secret by its digest, in constant
  // time, and count wrong ones per client and address (services/oidc.ts).
  const compare = async function (this: { clientId: string }, actual: string): Promise<boolean> {
    const ctx = Provider.ctx;
    const clientIp = ctx ? (consoleRequest(ctx).ip ?? "") : "";
    const result = await checkClientSecret(db, this.clientId, actual, clientIp);
    if (result === "throttled") throw new TooManyClientSecretGuesses();
    return result === "ok";
  };
  Object.defineProperty(provider.Client.prototype, "compareClientSecret", { value: compare });

  provider.on("authorization.success", (ctx: KoaContextWithOIDC) => {
    const accountId = ctx.oidc.session?.accountId;
    const clientId = ctx.oidc.client?.clientId;
    if (!accountId || !clientId) return;
    void accessFor(ctx, accountId, clientId)
      .then((access) => (access.allowed ? recordOidcSignIn(db, actorOf(consoleRequest(ctx)), access) : undefined))
      .catch((error: unknown) => logger.error({ err: error }, "could not record a sign-in through OpenID Connect"));
  });
  // Yes on the sign-out page ends the console's session too: one sign-in, one sign-out.
  provider.on("end_session.success", (ctx: KoaContextWithOIDC) => {
    const req = consoleRequest(ctx);
    if (!ctx.oidc.params?.logout || !req.session) return;
    // The answer waits for it (routes/oidc/index.ts): the browser's next request must find the session gone.
    const res = req.res;
    if (res)
      res.locals.consoleSignOut = new Promise<void>((resolve) =>
        req.session.destroy((error) => {
          if (error) logger.warn({ err: error }, "could not end the console session");
          resolve();
        }),
      );
  });
  provider.on("backchannel.error", (_ctx: unknown, error: unknown, client: { clientId: string }) =>
    logger.warn({ err: error, clientId: client.clientId }, "back-channel logout: the system did not take the notice"),
  );
  provider.on("server_error", (_ctx: unknown, error: unknown) => logger.error({ err: error }, "OpenID Connect provider error"));
  return provider;
}
