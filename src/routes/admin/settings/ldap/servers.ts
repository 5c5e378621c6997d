import { type Response, Router } from "express";
import { EmptySchema } from "../../../../lib/fields.ts";
import type { z } from "zod";
import { ConflictError, NotFoundError } from "../../../../errors.ts";
import { flash } from "../../../../lib/flash.ts";
import { formView } from "../../../../middleware/form-view.ts";
import { input, validate } from "../../../../middleware/validate.ts";
import {
  addLdapServer,
  findLdapServer,
  type LdapServerView,
  listLdapServers,
  moveLdapServer,
  removeLdapServer,
  testLdapServer,
  updateLdapServer,
} from "../../../../services/ldap-settings.ts";
import { actorOf } from "../../../actor.ts";
import type { RouteDeps } from "../../../deps.ts";
import { fieldErrorsOf, typedValues } from "../../../form-values.ts";
import { LDAP_PATH } from "./page.ts";
import { LdapServerSchema, LdapServerUpdateSchema, LdapTestSchema, MoveSchema, ServerParams } from "./schemas-server.ts";
import { type CheckView, ordinal, presentCheck, serverValues, typedBindPassword, typedServerValues } from "./server-views.ts";

type ServerParamsOut = z.infer<typeof ServerParams>;

/** The servers sign-in tries, in order: adding, editing, testing, moving and removing one. */
export function ldapServersRouter({ db, keys }: Pick<RouteDeps, "db" | "keys">): Router {
  const router = Router();

  const renderServer = async (
    res: Response,
    status: number,
    form: {
      server?: LdapServerView;
      values?: Record<string, string>;
      errors?: Record<string, string>;
      message?: string | null;
      stale?: LdapServerView;
      check?: CheckView;
      retypePassword?: boolean;
    } = {},
  ) => {
    const server = form.server;
    const values = form.values ?? serverValues(server);
    res.status(status).render("admin/settings/ldap-server", {
      title: server ? `Edit LDAP server ${server.url}` : "Add LDAP server",
      server: server ? { id: server.id, url: server.url, hasBindPassword: server.hasBindPassword } : null,
      values,
      errors: form.errors ?? {},
      message: form.message ?? null,
      stale: form.stale ?? null,
      check: form.check ?? null,
      retypePassword: form.retypePassword ?? false,
      insecure: /^ldap:\/\//i.test(values.url ?? "") && !values.startTls,
    });
  };

  const loadServer = (res: Response) => findLdapServer(db, input<unknown, unknown, ServerParamsOut>(res).params.id);

  const newServerForm = formView((req, res, error) =>
    renderServer(res, error.status, { values: typedServerValues(req), errors: fieldErrorsOf(error), message: error.message }),
  );

  const editServerForm = formView(async (req, res, error) => {
    const server = await loadServer(res);
    const typed = typedServerValues(req);
    if (error instanceof ConflictError) {
      return renderServer(res, 409, {
        server,
        values: { ...typed, version: String(server.version) },
        message: `${error.message} Your input is kept${typedBindPassword(req) ? "; type the Bind password again" : ""}.`,
        stale: server,
      });
    }
    await renderServer(res, error.status, { server, values: typed, errors: fieldErrorsOf(error), message: error.message });
  });

  router.get("/servers/new", (_req, res) => renderServer(res, 200));

  router.post("/servers", newServerForm, validate({ body: LdapServerSchema }), async (req, res) => {
    const { body } = input<z.infer<typeof LdapServerSchema>>(res);
    const server = await addLdapServer(db, actorOf(req), keys, body.server);
    flash(req, "success", `LDAP server ${server.url} added. Use Test LDAP config to check it.`);
    res.redirect(303, `${LDAP_PATH}#servers`);
  });

  // "Test LDAP config" on the form: the typed values, not saved.
  router.post("/servers/new/test", newServerForm, validate({ body: LdapServerSchema }), async (req, res) => {
    const { body } = input<z.infer<typeof LdapServerSchema>>(res);
    const result = await testLdapServer(db, keys, { input: body.server }, body.testUsername || undefined);
    await renderServer(res, 200, { values: typedServerValues(req), check: presentCheck(result, body.testUsername), retypePassword: typedBindPassword(req) });
  });

  router.get("/servers/:id", validate({ params: ServerParams }), async (_req, res) => renderServer(res, 200, { server: await loadServer(res) }));

  router.post("/servers/:id", validate({ params: ServerParams }), editServerForm, validate({ body: LdapServerUpdateSchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof LdapServerUpdateSchema>, unknown, ServerParamsOut>(res);
    const server = await updateLdapServer(db, actorOf(req), keys, params.id, body.version, body.server);
    const password = body.server.removeBindPassword ? " The stored bind password was removed." : body.server.bindPassword ? " The new bind password is stored." : "";
    flash(req, "success", `LDAP server ${server.url} saved.${password}`);
    res.redirect(303, `${LDAP_PATH}#servers`);
  });

  router.post("/servers/:id/edit/test", validate({ params: ServerParams }), editServerForm, validate({ body: LdapServerUpdateSchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof LdapServerUpdateSchema>, unknown, ServerParamsOut>(res);
    const server = await loadServer(res);
    const result = await testLdapServer(db, keys, { input: body.server, id: params.id }, body.testUsername || undefined);
    await renderServer(res, 200, {
      server,
      values: typedServerValues(req),
      check: presentCheck(result, body.testUsername),
      retypePassword: typedBindPassword(req),
    });
  });

  // The test page of a stored server.

  const renderTest = async (res: Response, status: number, form: { values?: Record<string, string>; errors?: Record<string, string>; message?: string | null; check?: CheckView } = {}) => {
    const server = await loadServer(res);
    res.status(status).render("admin/settings/ldap-test", {
      title: `Test LDAP config: ${server.url}`,
      server: { id: server.id, url: server.url, baseDn: server.baseDn, userIdField: server.userIdField },
      values: form.values ?? { testUsername: "" },
      errors: form.errors ?? {},
      message: form.message ?? null,
      check: form.check ?? null,
    });
  };

  router.get("/servers/:id/test", validate({ params: ServerParams }), (_req, res) => renderTest(res, 200));

  router.post(
    "/servers/:id/test",
    validate({ params: ServerParams }),
    formView((req, res, error) => renderTest(res, error.status, { values: typedValues(req), errors: fieldErrorsOf(error), message: error.message })),
    validate({ body: LdapTestSchema }),
    async (_req, res) => {
      const { params, body } = input<z.infer<typeof LdapTestSchema>, unknown, ServerParamsOut>(res);
      const result = await testLdapServer(db, keys, { id: params.id }, body.testUsername || undefined);
      await renderTest(res, 200, { values: { testUsername: body.testUsername }, check: presentCheck(result, body.testUsername) });
    },
  );

  // Order and removal.

  router.post("/servers/:id/move", validate({ params: ServerParams }), validate({ body: MoveSchema }), async (req, res) => {
    const { params, body } = input<z.infer<typeof MoveSchema>, unknown, ServerParamsOut>(res);
    const before = await listLdapServers(db);
    const server = before.find((s) => s.id === params.id);
    if (!server) throw new NotFoundError();
    await moveLdapServer(db, actorOf(req), params.id, body.direction);
    const after = await listLdapServers(db);
    const position = after.findIndex((s) => s.id === params.id) + 1;
    const moved = position !== before.findIndex((s) => s.id === params.id) + 1;
    flash(
      req,
      "success",
      moved
        ? `LDAP server ${server.url} moved ${body.direction}: it is now tried ${ordinal(position)}.`
        : `LDAP server ${server.url} is already tried ${body.direction === "up" ? "first" : "last"}; nothing changed.`,
    );
    res.redirect(303, `${LDAP_PATH}#servers`);
  });

  router.get("/servers/:id/remove", validate({ params: ServerParams }), async (_req, res) => {
    const server = await loadServer(res);
    const count = (await listLdapServers(db)).length;
    res.render("admin/settings/ldap-remove", {
      title: `Remove LDAP server ${server.url}?`,
      server: { id: server.id, url: server.url, baseDn: server.baseDn, hasBindPassword: server.hasBindPassword },
      onlyServer: count === 1,
    });
  });

  router.post("/servers/:id/remove", validate({ params: ServerParams }), validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, ServerParamsOut>(res);
    const removed = await removeLdapServer(db, actorOf(req), params.id);
    const rest = (await listLdapServers(db)).length;
    flash(
      req,
      "success",
      rest === 0
        ? `LDAP server ${removed.url} removed. No LDAP server is left: nobody can sign in with LDAP until one is added; local accounts are not affected.`
        : `LDAP server ${removed.url} removed.`,
    );
    res.redirect(303, `${LDAP_PATH}#servers`);
  });

  return router;
}
