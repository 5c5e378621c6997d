import { Router } from "express";
import type { RouteDeps } from "../../../deps.ts";
import { ldapTeamMappingsRouter } from "./mappings.ts";
import { ldapPageRouter } from "./page.ts";
import { ldapServersRouter } from "./servers.ts";

/**
 * Administration → Settings → LDAP (docs/domain.md, "LDAP"; TrueCommand's LDAP settings): the servers sign-in tries in order, the
 * Configuration switches, the LDAP Default Teams and the LDAP Group Mappings. The service audits every change;
 * the bind password is never sent back to a page.
 */

/** Mounted under /admin/settings/ldap, behind requireAdmin. */
export function ldapSettingsRouter({ db, keys }: Pick<RouteDeps, "db" | "keys">): Router {
  const router = Router();
  router.use(ldapPageRouter(db));
  router.use(ldapTeamMappingsRouter(db));
  router.use(ldapServersRouter({ db, keys }));
  return router;
}
