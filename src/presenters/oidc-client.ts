import { redirectUrisText } from "../lib/redirect-uris.ts";
import { OIDC_CLIENT_PROFILE, type OidcClientView, oidcDiscoveryUrl, oidcIssuer } from "../services/oidc-clients.ts";
import { presentTime, type TimeView } from "./time.ts";

/** What a system's own OpenID Connect settings need besides its client id and secret, in the words they use. */
export interface OidcSetupView {
  issuer: string;
  discoveryUrl: string;
  /** "openid profile email groups". */
  scopes: string;
  pkce: string;
  clientAuthentication: string;
  permissionClaim: string;
}

export function presentOidcSetup(baseUrl: string): OidcSetupView {
  return {
    issuer: oidcIssuer(baseUrl),
    discoveryUrl: oidcDiscoveryUrl(baseUrl),
    scopes: OIDC_CLIENT_PROFILE.scopes.join(" "),
    pkce: `required, ${OIDC_CLIENT_PROFILE.pkceMethod}`,
    clientAuthentication: OIDC_CLIENT_PROFILE.tokenEndpointAuthMethods.join(" or "),
    permissionClaim: OIDC_CLIENT_PROFILE.permissionClaim,
  };
}

/** A system's client on its administrators' page. */
export interface OidcClientSectionView {
  clientId: string;
  redirectUris: string[];
  /** The textarea's text as saved: one URI per line. */
  redirectUrisText: string;
  /** The field's text as saved: "" for none. */
  backchannelLogoutUri: string;
  created: TimeView;
  secretRotated: TimeView | null;
  version: number;
}

export function presentOidcClient(client: OidcClientView): OidcClientSectionView {
  return {
    clientId: client.clientId,
    redirectUris: client.redirectUris,
    redirectUrisText: redirectUrisText(client.redirectUris),
    backchannelLogoutUri: client.backchannelLogoutUri ?? "",
    created: presentTime(client.createdAt) as TimeView,
    secretRotated: presentTime(client.secretRotatedAt),
    version: client.version,
  };
}

/** A system's client as the REST API shows it: never its secret's digest. */
export function apiOidcClient(client: OidcClientView, baseUrl: string) {
  return {
    clientId: client.clientId,
    redirectUris: client.redirectUris,
    backchannelLogoutUri: client.backchannelLogoutUri,
    issuer: oidcIssuer(baseUrl),
    createdAt: client.createdAt.toISOString(),
    secretRotatedAt: client.secretRotatedAt?.toISOString() ?? null,
  };
}
