import { NotFoundError } from "../../errors.ts";
import { apiOidcClient } from "../../presenters/oidc-client.ts";
import {
  disableOidcClient,
  findOidcClientOfSystem,
  rotateOidcClientSecret,
  SIGN_IN_OFF,
  setOidcClient,
} from "../../services/oidc-clients.ts";
import { existingSystem } from "../../services/systems.ts";
import { actorOf } from "../actor.ts";
import type { RouteDeps } from "../deps.ts";
import { type Operation, operation, send } from "./operation.ts";
import { IdPath, OidcClientBody, OidcClientView, OidcClientWithSecretView } from "./schemas.ts";

const TAG = "Sign in with Gatehouse";
const SYSTEM_PATH = IdPath.extend({ id: IdPath.shape.id.meta({ description: "The system's id." }) });

/**
 * A system's OpenID Connect client, as on its administrators' page (section "Sign in with Gatehouse"): the same
 * services, rules and audit events. Administrators only.
 */
export function oidcClientOperations({ db, config }: RouteDeps): Operation[] {
  const path = "/systems/:id/oidc-client";
  return [
    operation({
      method: "get",
      path,
      operationId: "getSystemOidcClient",
      summary: "Read a system's OpenID Connect client",
      description: "Not found when sign-in with Gatehouse is off for the system. Never the secret.",
      tag: TAG,
      access: "admin",
      params: SYSTEM_PATH,
      responses: { 200: { description: "The client.", schema: OidcClientView } },
      handler: async (req, res, { params }) => {
        const actor = actorOf(req);
        await existingSystem(db, actor, params.id);
        const client = await findOidcClientOfSystem(db, actor, params.id);
        if (!client) throw new NotFoundError(SIGN_IN_OFF);
        send(res, 200, OidcClientView, apiOidcClient(client, config.baseUrl));
      },
    }),

    operation({
      method: "put",
      path,
      operationId: "setSystemOidcClient",
      summary: "Enable sign-in with Gatehouse, or change its addresses",
      description:
        "Makes the system's client when it has none (201, with `clientSecret`, shown this once) or replaces its redirect URIs and, when given, its back-channel logout URI (200, without the secret). " +
        "Confidential client: authorization code flow, PKCE S256 required, client_secret_basic or client_secret_post.",
      tag: TAG,
      access: "admin",
      params: SYSTEM_PATH,
      body: OidcClientBody,
      responses: {
        201: { description: "Sign-in enabled: the new client and its secret.", schema: OidcClientWithSecretView },
        200: { description: "The client existed; its addresses are now the ones sent.", schema: OidcClientView },
      },
      handler: async (req, res, { params, body }) => {
        const result = await setOidcClient(db, actorOf(req), params.id, body);
        if (result.clientSecret !== undefined) {
          res.location(`/api/v1/systems/${params.id}/oidc-client`);
          send(res, 201, OidcClientWithSecretView, { ...apiOidcClient(result.client, config.baseUrl), clientSecret: result.clientSecret });
        } else send(res, 200, OidcClientView, apiOidcClient(result.client, config.baseUrl));
      },
    }),

    operation({
      method: "post",
      path: `${path}/secret`,
      operationId: "rotateSystemOidcClientSecret",
      summary: "Rotate a system's client secret",
      description: "A new secret, returned this once; the old one stops working at once. Not found when sign-in is off.",
      tag: TAG,
      access: "admin",
      params: SYSTEM_PATH,
      responses: { 200: { description: "The client and its new secret.", schema: OidcClientWithSecretView } },
      handler: async (req, res, { params }) => {
        const { client, clientSecret } = await rotateOidcClientSecret(db, actorOf(req), params.id);
        send(res, 200, OidcClientWithSecretView, { ...apiOidcClient(client, config.baseUrl), clientSecret });
      },
    }),

    operation({
      method: "delete",
      path,
      operationId: "disableSystemOidcClient",
      summary: "Disable sign-in with Gatehouse for a system",
      description: "Deletes the client; what was issued to it stops working. Idempotent: not an error when sign-in was already off.",
      tag: TAG,
      access: "admin",
      params: SYSTEM_PATH,
      responses: { 204: { description: "Sign-in is off (now)." } },
      handler: async (req, res, { params }) => {
        await disableOidcClient(db, actorOf(req), params.id);
        res.status(204).end();
      },
    }),
  ];
}
