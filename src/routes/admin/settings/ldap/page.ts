import { type Request, type Response, Router } from "express";
import type { z } from "zod";
import { flash } from "../../../../lib/flash.ts";
import { formView } from "../../../../middleware/form-view.ts";
import { input, validate } from "../../../../middleware/validate.ts";
import {
  type LdapOptions,
  listLdapDefaultTeams,
  listLdapGroupMappings,
  listLdapServers,
  readLdapOptions,
  saveLdapOptions,
} from "../../../../services/ldap-settings.ts";
import { listAllTeams } from "../../../../services/teams.ts";
import { actorOf } from "../../../actor.ts";
import type { RouteDeps } from "../../../deps.ts";
import { fieldErrorsOf, typedValues } from "../../../form-values.ts";
import { settingsFormView } from "../../settings-form-view.ts";
import { LdapOptionsSchema } from "./schemas-page.ts";
import { presentServer } from "./server-views.ts";

export const LDAP_PATH = "/admin/settings/ldap";

type Section = "options" | "defaultTeam" | "mapping";

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

/** The settings page, with the form of `section` as typed and its errors when one of its forms failed. */
export async function renderLdapPage(
  db: RouteDeps["db"],
  res: Response,
  status: number,
  form: { section?: Section; values?: Record<string, string>; teamIds?: string[]; errors?: Record<string, string>; message?: string | null; stale?: LdapOptions } = {},
): Promise<void> {
  const [servers, options, defaultTeams, mappings, teams] = await Promise.all([
    listLdapServers(db),
    readLdapOptions(db),
    listLdapDefaultTeams(db),
    listLdapGroupMappings(db),
    listAllTeams(db, actorOf(res.req)),
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
}

/** The error view of the LDAP Default Teams and LDAP Group Mappings forms, which save no version. */
export function pageSectionForm(db: RouteDeps["db"], section: "defaultTeam" | "mapping") {
  return formView((req, res, error) =>
    renderLdapPage(db, res, error.status, { section, values: typedValues(req), teamIds: typedTeamIds(req), errors: fieldErrorsOf(error), message: error.message }),
  );
}

/** The settings page and its Configuration switches. */
export function ldapPageRouter(db: RouteDeps["db"]): Router {
  const router = Router();

  const optionsForm = settingsFormView({
    current: async () => {
      const current = await readLdapOptions(db);
      return { version: current.version, stale: current.value };
    },
    kept: "Your choices are kept.",
    render: (_req, res, status, form) => renderLdapPage(db, res, status, { section: "options", ...form }),
  });

  router.get("/", (_req, res) => renderLdapPage(db, res, 200));

  router.post("/", optionsForm, validate({ body: LdapOptionsSchema }), async (req, res) => {
    const { body } = input<z.infer<typeof LdapOptionsSchema>>(res);
    await saveLdapOptions(db, actorOf(req), body.version, body.value);
    const creation = body.value.allowUserCreation
      ? "a first LDAP sign-in now creates a User account"
      : "only accounts that already exist can sign in with LDAP";
    const removal = body.value.removeUnmappedTeams ? "mapped teams the directory no longer lists are removed at sign-in" : "teams are never removed at sign-in";
    flash(req, "success", `LDAP configuration saved: ${creation}; ${removal}.`);
    res.redirect(303, `${LDAP_PATH}#configuration`);
  });

  return router;
}
