import { type Request, type Response, Router } from "express";
import type { z } from "zod";
import { ConflictError, NotFoundError } from "../../../errors.ts";
import type { CheckResult, CheckStep } from "../../../ldap/directory.ts";
import { flash } from "../../../lib/flash.ts";
import { formView } from "../../../middleware/form-view.ts";
import { input, validate } from "../../../middleware/validate.ts";
import { listAllTeams } from "../../../services/teams.ts";
import {
  addLdapDefaultTeam,
  addLdapGroupMapping,
  addLdapServer,
  findLdapServer,
  type LdapOptions,
  type LdapServerView,
  listLdapDefaultTeams,
  listLdapGroupMappings,
  listLdapServers,
  moveLdapServer,
  readLdapOptions,
  removeLdapDefaultTeam,
  removeLdapGroupMapping,
  removeLdapServer,
  saveLdapOptions,
  testLdapServer,
  updateLdapServer,
} from "../../../services/ldap-settings.ts";
import { actorOf } from "../../actor.ts";
import { fieldErrorsOf, typedValues } from "../../form-values.ts";
import type { RouteDeps } from "../../deps.ts";
import {
  CA_MAX_BYTES,
  DefaultTeamSchema,
  EmptySchema,
  GroupMappingSchema,
  LDAP_DEFAULTS,
  LdapOptionsSchema,
  LdapServerSchema,
  LdapServerUpdateSchema,
  LdapTestSchema,
  MappingParams,
  MoveSchema,
  ServerParams,
  TeamParams,
} from "./ldap-schemas.ts";

/**
 * Administration → Settings → LDAP (DESIGN §3.4, TrueCommand §1.6): the servers sign-in tries in order, the
 * Configuration switches, the LDAP Default Teams and the LDAP Group Mappings. The service audits every change;
 * the bind password is never sent back to a page.
 */

const LDAP_PATH = "/admin/settings/ldap";

type Section = "options" | "defaultTeam" | "mapping";
type ServerParamsOut = z.infer<typeof ServerParams>;

// Presenting -------------------------------------------------------------------------------------------------

/** Text cut after each ".", "," and "/", so that a table cell may wrap a long URL or DN there (<wbr> in the view). */
function breakable(text: string): string[] {
  return text.split(/(?<=[.,/])/);
}

/** How a server's connection is protected, in words; `warning` marks the ones to look at. */
function presentServer(server: LdapServerView, index: number, count: number) {
  const ldaps = server.url.toLowerCase().startsWith("ldaps://");
  const tls = ldaps ? "LDAPS" : server.startTls ? "StartTLS" : "None — passwords in clear";
  return {
    id: server.id,
    url: server.url,
    baseDn: server.baseDn,
    urlParts: breakable(server.url),
    baseDnParts: breakable(server.baseDn),
    position: index + 1,
    first: index === 0,
    last: index === count - 1,
    tls,
    tlsWarning: !ldaps && !server.startTls,
    verification: !ldaps && !server.startTls ? "Not used (no TLS)" : server.verifyCertificate ? "On" : "Off — not verified",
    verificationWarning: (ldaps || server.startTls) && !server.verifyCertificate,
  };
}

const STEP_ORDER: CheckStep[] = ["connection", "tls", "bind", "search", "groups"];
const STEP_LABELS: Record<CheckStep, string> = {
  connection: "Connection",
  tls: "TLS",
  bind: "Bind",
  search: "Search",
  groups: "Groups",
};

/**
 * A test result as the page shows it: every step the test reached with "Passed" or "Failed" in words, and the
 * steps after a failure (or after a test without a username) as "Not tried", with the reason.
 */
function presentCheck(result: CheckResult, username: string) {
  const reached = new Set(result.steps.map((s) => s.step));
  const last = Math.max(...result.steps.map((s) => STEP_ORDER.indexOf(s.step)), -1);
  const failed = result.steps.find((s) => !s.ok);
  const steps = result.steps.map((s) => ({ label: STEP_LABELS[s.step], state: s.ok ? "passed" : "failed", status: s.ok ? "Passed" : "Failed", message: s.message }));
  for (const step of STEP_ORDER.slice(last + 1)) {
    if (reached.has(step)) continue;
    const why = failed ? `The ${STEP_LABELS[failed.step]} step failed first.` : "Give a Test username to look a person and their groups up.";
    steps.push({ label: STEP_LABELS[step], state: "skipped", status: "Not tried", message: why });
  }
  return {
    ok: result.ok,
    username,
    summary: result.ok
      ? username
        ? `Test LDAP config passed: ${username} was found and their groups were read.`
        : "Test LDAP config passed: Gatehouse can connect, bind and search the Domain."
      : `Test LDAP config failed at the ${failed ? STEP_LABELS[failed.step] : "last"} step.`,
    steps,
  };
}

/** The form's fields for a stored server; checkboxes "on" or absent, as a browser sends them. */
function serverValues(server: LdapServerView | undefined): Record<string, string> {
  if (!server) {
    return { url: "", caCertificate: "", verifyCertificate: "on", baseDn: "", groupSearchBase: "", bindDn: "", testUsername: "", ...LDAP_DEFAULTS };
  }
  const values: Record<string, string> = {
    url: server.url,
    caCertificate: server.caCertificate,
    baseDn: server.baseDn,
    groupSearchBase: server.groupSearchBase,
    userIdField: server.userIdField,
    groupIdField: server.groupIdField,
    bindDn: server.bindDn,
    emailAttribute: server.emailAttribute,
    fullNameAttribute: server.fullNameAttribute,
    testUsername: "",
    version: String(server.version),
  };
  if (server.startTls) values.startTls = "on";
  if (server.verifyCertificate) values.verifyCertificate = "on";
  return values;
}

function optionValues(value: LdapOptions, version: number): Record<string, string> {
  const values: Record<string, string> = { version: String(version) };
  if (value.allowUserCreation) values.allowUserCreation = "on";
  if (value.removeUnmappedTeams) values.removeUnmappedTeams = "on";
  return values;
}

/** The teams a multi-select sent (none, one or several), as strings, to show them chosen again. */
function typedTeamIds(req: Request): string[] {
  const raw = (req.body ?? {}) as Record<string, unknown>;
  const value = raw.teamIds;
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.filter((v): v is string => typeof v === "string").slice(0, 1000);
}

/** What a form re-shows: the typed values (never a password), and whether "Remove the stored bind password" was ticked. */
function typedServerValues(req: Request): Record<string, string> {
  const values = typedValues(req);
  const body = (req.body ?? {}) as Record<string, unknown>;
  if (typeof body.removeBindPassword === "string") values.removeBindPassword = body.removeBindPassword;
  // A CA bundle may be longer than what typedValues keeps; cut short, it would no longer be a certificate.
  if (typeof body.caCertificate === "string" && body.caCertificate.length <= CA_MAX_BYTES) values.caCertificate = body.caCertificate;
  return values;
}

function typedBindPassword(req: Request): boolean {
  const body = (req.body ?? {}) as Record<string, unknown>;
  return typeof body.bindPassword === "string" && body.bindPassword !== "";
}

function joinNames(names: string[]): string {
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

function ordinal(n: number): string {
  const words = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"];
  return words[n - 1] ?? `number ${n}`;
}

// Routes -----------------------------------------------------------------------------------------------------

/** Mounted under /admin/settings/ldap, behind requireAdmin. */
export function ldapSettingsRouter({ db, keys }: Pick<RouteDeps, "db" | "keys">): Router {
  const router = Router();

  // The settings page ------------------------------------------------------------------------------------

  const renderMain = async (
    res: Response,
    status: number,
    form: { section?: Section; values?: Record<string, string>; teamIds?: string[]; errors?: Record<string, string>; message?: string | null; stale?: LdapOptions } = {},
  ) => {
    const [servers, options, defaultTeams, mappings, teams] = await Promise.all([
      listLdapServers(db),
      readLdapOptions(db),
      listLdapDefaultTeams(db),
      listLdapGroupMappings(db),
      listAllTeams(db),
    ]);
    const isDefault = new Set(defaultTeams.map((t) => t.id));
    res.status(status).render("admin/settings/ldap", {
      title: "LDAP",
      servers: servers.map((server, index) => presentServer(server, index, servers.length)),
      optionValues: form.section === "options" && form.values ? form.values : optionValues(options.value, options.version),
      defaultTeams,
      joinableTeams: teams.filter((t) => !isDefault.has(t.id)).map((t) => ({ id: t.id, name: t.name })),
      teams: teams.map((t) => ({ id: t.id, name: t.name })),
      mappings,
      mappingValues: form.section === "mapping" && form.values ? form.values : {},
      mappingTeamIds: form.section === "mapping" ? (form.teamIds ?? []) : [],
      errors: form.errors ?? {},
      message: form.message ?? null,
      stale: form.stale ?? null,
    });
  };

  const mainForm = (section: Section) =>
    formView(async (req, res, error) => {
      const typed = typedValues(req);
      if (error instanceof ConflictError && section === "options") {
        // Someone saved meanwhile: their choices are summarised, the typed ones kept with the current version.
        const current = await readLdapOptions(db);
        return renderMain(res, 409, {
          section,
          values: { ...typed, version: String(current.version) },
          message: `${error.message} Your choices are kept.`,
          stale: current.value,
        });
      }
      await renderMain(res, error.status, { section, values: typed, teamIds: typedTeamIds(req), errors: fieldErrorsOf(error), message: error.message });
    });

  router.get("/", (_req, res) => renderMain(res, 200));

  router.post("/", mainForm("options"), validate({ body: LdapOptionsSchema }), async (req, res) => {
    const { body } = input<z.infer<typeof LdapOptionsSchema>>(res);
    await saveLdapOptions(db, actorOf(req), body.version, body.value);
    const creation = body.value.allowUserCreation
      ? "a first LDAP sign-in now creates a User account"
      : "only accounts that already exist can sign in with LDAP";
    const removal = body.value.removeUnmappedTeams ? "mapped teams the directory no longer lists are removed at sign-in" : "teams are never removed at sign-in";
    flash(req, "success", `LDAP configuration saved: ${creation}; ${removal}.`);
    res.redirect(303, `${LDAP_PATH}#configuration`);
  });

  // LDAP Default Teams

  router.post("/default-teams", mainForm("defaultTeam"), validate({ body: DefaultTeamSchema }), async (req, res) => {
    const { body } = input<z.infer<typeof DefaultTeamSchema>>(res);
    const { added, teamName } = await addLdapDefaultTeam(db, actorOf(req), body.teamId);
    flash(
      req,
      "success",
      added ? `Team ${teamName} added to the LDAP Default Teams: accounts that LDAP creates from now on join it.` : `Team ${teamName} was already an LDAP Default Team.`,
    );
    res.redirect(303, `${LDAP_PATH}#default-teams`);
  });

  router.post("/default-teams/:teamId/remove", validate({ params: TeamParams }), mainForm("defaultTeam"), validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, z.infer<typeof TeamParams>>(res);
    const team = (await listLdapDefaultTeams(db)).find((t) => t.id === params.teamId);
    const { removed } = await removeLdapDefaultTeam(db, actorOf(req), params.teamId);
    flash(
      req,
      "success",
      removed && team
        ? `Team ${team.name} removed from the LDAP Default Teams. Accounts already in the team stay in it.`
        : "That team was not an LDAP Default Team; nothing changed.",
    );
    res.redirect(303, `${LDAP_PATH}#default-teams`);
  });

  // LDAP Group Mappings

  router.post("/mappings", mainForm("mapping"), validate({ body: GroupMappingSchema }), async (req, res) => {
    const { body } = input<z.infer<typeof GroupMappingSchema>>(res);
    const { added } = await addLdapGroupMapping(db, actorOf(req), body.groupName, body.teamIds);
    const teams = added.length === 1 ? `team ${added[0]}` : `teams ${joinNames(added)}`;
    flash(
      req,
      "success",
      added.length > 0
        ? `Directory group ${body.groupName} now maps to ${teams}: its members join at their next LDAP sign-in.`
        : `Directory group ${body.groupName} already maps to the chosen teams; nothing changed.`,
    );
    res.redirect(303, `${LDAP_PATH}#group-mappings`);
  });

  router.post("/mappings/:id/remove", validate({ params: MappingParams }), mainForm("mapping"), validate({ body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, z.infer<typeof MappingParams>>(res);
    const removed = await removeLdapGroupMapping(db, actorOf(req), params.id);
    flash(req, "success", removed ? `Mapping ${removed.groupName} → ${removed.teamName} removed.` : "That mapping was already removed; nothing changed.");
    res.redirect(303, `${LDAP_PATH}#group-mappings`);
  });

  // Servers ------------------------------------------------------------------------------------------------

  type CheckView = ReturnType<typeof presentCheck>;

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
