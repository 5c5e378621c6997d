import type { Request, RequestHandler, Response, Router } from "express";
import { z } from "zod";
import type { Config } from "../../../config.ts";
import type { Db } from "../../../db/index.ts";
import { EmptySchema, versionField } from "../../../lib/fields.ts";
import { flash } from "../../../lib/flash.ts";
import { backchannelLogoutUriTextField, redirectUrisTextField } from "../../../lib/redirect-uris.ts";
import { input, validate } from "../../../middleware/validate.ts";
import { presentOidcClient, presentOidcSetup } from "../../../presenters/oidc-client.ts";
import {
  changeOidcClientAddresses,
  disableOidcClient,
  enableOidcClient,
  findOidcClientOfSystem,
  type OidcClientView,
  rotateOidcClientSecret,
} from "../../../services/oidc-clients.ts";
import { existingSystem } from "../../../services/systems.ts";
import type { System } from "../../../types/catalog.ts";
import type { Actor } from "../../../types/user.ts";
import { actorOf } from "../../actor.ts";
import { IdParams } from "../catalog-schemas.ts";

export const EnableSignInSchema = z.strictObject({ redirectUris: redirectUrisTextField, backchannelLogoutUri: backchannelLogoutUriTextField });
export const AddressesSchema = EnableSignInSchema.extend({ version: versionField });

type IdInput = { id: number };

/** The "Sign in with Gatehouse" section of a system's administrators' page. */
export async function signInSection(db: Db, actor: Actor, system: System, config: Config) {
  const client = await findOidcClientOfSystem(db, actor, system.id);
  return { client: client ? presentOidcClient(client) : null, setup: presentOidcSetup(config.baseUrl) };
}

/**
 * The client id and the new secret, on the page the form's POST answers with. It is rendered, not redirected to:
 * the secret is shown this once and is never put in a session or a flash message to survive a redirect.
 */
function renderSecret(res: Response, config: Config, system: System, client: OidcClientView, clientSecret: string, made: "enabled" | "rotated") {
  res.render("admin/systems/oidc-client-secret", {
    title: made === "enabled" ? `Sign in with Gatehouse enabled for ${system.name}` : `New client secret for ${system.name}`,
    system,
    made,
    clientId: client.clientId,
    clientSecret,
    redirectUris: client.redirectUris,
    backchannelLogoutUri: client.backchannelLogoutUri,
    setup: presentOidcSetup(config.baseUrl),
  });
}

/**
 * The section's forms under /admin/systems/:id/oidc-client: enable, save the redirect URIs, and rotate the secret
 * or disable sign-in, each of those two after a confirmation page. Errors come back to the system's page through
 * `pageForm`, with what was typed in the redirect URIs kept.
 */
export function addOidcClientRoutes(router: Router, pageForm: RequestHandler, { db, config }: { db: Db; config: Config }): void {
  const back = (id: number) => `/admin/systems/${id}#sign-in`;
  const system = (req: Request, res: Response) => existingSystem(db, actorOf(req), input<unknown, unknown, IdInput>(res).params.id);

  router.post("/:id/oidc-client", validate({ params: IdParams }), pageForm, validate({ body: EnableSignInSchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof EnableSignInSchema>, unknown, IdInput>(res);
    const { client, clientSecret } = await enableOidcClient(db, actorOf(req), params.id, body);
    renderSecret(res, config, await system(req, res), client, clientSecret, "enabled");
  });

  router.post("/:id/oidc-client/redirect-uris", validate({ params: IdParams }), pageForm, validate({ body: AddressesSchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof AddressesSchema>, unknown, IdInput>(res);
    const { changed } = await changeOidcClientAddresses(db, actorOf(req), params.id, body, body.version);
    const { name } = await system(req, res);
    flash(req, "success", changed ? `Sign-in addresses of ${name} saved.` : `The sign-in addresses of ${name} were already these; nothing changed.`);
    res.redirect(303, back(params.id));
  });

  /** A confirmation page for an action on the client; with sign-in off, back to the system's page saying so. */
  const confirmation = (view: "oidc-client-rotate" | "oidc-client-disable", title: (name: string) => string) => async (req: Request, res: Response) => {
    const found = await system(req, res);
    const client = await findOidcClientOfSystem(db, actorOf(req), found.id);
    if (!client) {
      flash(req, "error", `Sign in with Gatehouse is not enabled for ${found.name}.`);
      return res.redirect(303, back(found.id));
    }
    res.render(`admin/systems/${view}`, { title: title(found.name), system: found, clientId: client.clientId });
  };

  router.get("/:id/oidc-client/rotate", validate({ params: IdParams }), confirmation("oidc-client-rotate", (name) => `Rotate the client secret of ${name}?`));

  router.post("/:id/oidc-client/rotate", validate({ params: IdParams }), pageForm, validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, IdInput>(res);
    const { client, clientSecret } = await rotateOidcClientSecret(db, actorOf(req), params.id);
    renderSecret(res, config, await system(req, res), client, clientSecret, "rotated");
  });

  router.get("/:id/oidc-client/disable", validate({ params: IdParams }), confirmation("oidc-client-disable", (name) => `Disable sign-in with Gatehouse for ${name}?`));

  router.post("/:id/oidc-client/disable", validate({ params: IdParams }), pageForm, validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, IdInput>(res);
    const { systemName, removedClientId } = await disableOidcClient(db, actorOf(req), params.id);
    flash(
      req,
      "success",
      removedClientId
        ? `Sign in with Gatehouse disabled for ${systemName}: client ${removedClientId} deleted.`
        : `Sign in with Gatehouse was already off for ${systemName}.`,
    );
    res.redirect(303, back(params.id));
  });
}
