import { Router } from "express";
import type { RouteDeps } from "./deps.ts";
import { requireSignedIn } from "../middleware/require-auth.ts";
import { apiDocsRouter } from "./api/index.ts";
import { adminGroupsRouter } from "./admin/groups/index.ts";
import { adminLogsRouter } from "./admin/logs/index.ts";
import { adminReportsRouter } from "./admin/reports/index.ts";
import { adminSettingsRouter } from "./admin/settings/index.ts";
import { adminSystemsRouter } from "./admin/systems/index.ts";
import { adminTeamsRouter } from "./admin/teams/index.ts";
import { adminUserImportRouter } from "./admin/users/import.ts";
import { adminUsersRouter } from "./admin/users/index.ts";
import { authRouter } from "./auth/index.ts";
import { profileRouter } from "./profile/index.ts";
import { setupRouter } from "./setup/index.ts";
import { gateStartRouter } from "./gate/start.ts";
import { oidcInteractionRouter } from "./oidc/index.ts";
import { systemsRouter } from "./systems/index.ts";

export function appRouter(deps: RouteDeps): Router {
  const router = Router();
  router.use(setupRouter(deps));
  router.use(authRouter(deps));
  router.get("/", requireSignedIn, (req, res) => {
    res.render("home/index", { title: "Home", isAdmin: req.user?.isAdmin ?? false });
  });
  router.use(profileRouter(deps));
  router.use(systemsRouter(deps));
  router.use(gateStartRouter(deps));
  router.use(oidcInteractionRouter(deps.oidc));
  router.get("/admin", (_req, res) => res.redirect(303, "/admin/users"));
  // Before the users router, whose /:id would take "import" for an id.
  router.use("/admin/users/import", adminUserImportRouter(deps));
  router.use("/admin/users", adminUsersRouter(deps));
  router.use("/admin/teams", adminTeamsRouter(deps));
  router.use("/admin/groups", adminGroupsRouter(deps));
  router.use("/admin/systems", adminSystemsRouter(deps));
  router.use("/admin/settings", adminSettingsRouter(deps));
  router.use("/admin/logs", adminLogsRouter(deps));
  router.use("/admin/reports", adminReportsRouter(deps));
  router.use(apiDocsRouter(deps));
  return router;
}
