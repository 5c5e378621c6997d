import type { Router } from "express";
import { z } from "zod";
import { paginationView } from "../../../lib/pagination.ts";
import { presentAccess } from "../../../presenters/access.ts";
import { gateConfigurations } from "../../../presenters/gate-config.ts";
import { presentTime } from "../../../presenters/time.ts";
import { gateTrafficOf } from "../../../services/gate.ts";
import {
  findSystemById,
  listSystemsPage,
  systemRecords,
  systemAccessOverview,
  updateSystem,
} from "../../../services/systems.ts";
import type { System } from "../../../types/catalog.ts";
import type { RouteDeps } from "../../deps.ts";
import { catalogPages } from "../catalog-pages.ts";
import { SystemFieldsSchema, SystemUpdateSchema, searchField } from "../catalog-schemas.ts";
import { addOidcClientRoutes, signInSection } from "./oidc-client.ts";

const PER_PAGE = 50;

const ListQuery = z.object({
  q: searchField,
  page: z.coerce.number().int().min(1).max(1_000_000).catch(1).default(1),
});

export function adminSystemsRouter({ db, config }: RouteDeps): Router {
  const { router, pageForm } = catalogPages<System, z.infer<typeof SystemFieldsSchema>, z.infer<typeof ListQuery>>(db, {
    kind: "system",
    noun: "System",
    path: "/admin/systems",
    views: "admin/systems",
    createSchema: SystemFieldsSchema,
    updateSchema: SystemUpdateSchema,
    afterCreate: "",
    savedValues: (system) => ({
      name: system.name,
      host: system.host,
      webAddress: system.webAddress ?? "",
      gateMode: system.gateMode,
      description: system.description,
      notes: system.notes,
      version: String(system.version),
    }),
    // An error of the details form keeps what was typed there; one of the sign-in's addresses keeps what was typed in
    // them (the section shows it over the saved addresses); the other forms leave the page as saved.
    valuesAfterError: (typed, saved) =>
      "name" in typed
        ? typed
        : "redirectUris" in typed
          ? { ...saved, redirectUris: typed.redirectUris, backchannelLogoutUri: typed.backchannelLogoutUri ?? "" }
          : undefined,
    listQuery: ListQuery,
    list: async (db, actor, query) => {
      const { systems, total } = await listSystemsPage(db, actor, { search: query.q.trim(), limit: PER_PAGE, offset: (query.page - 1) * PER_PAGE });
      const link = (page: number) => `/admin/systems?${new URLSearchParams({ ...(query.q ? { q: query.q } : {}), page: String(page) })}`;
      return { title: "Systems", systems, total, query, pagination: paginationView(query.page, total, PER_PAGE, link) };
    },
    records: { ...systemRecords, find: findSystemById, update: updateSystem },
    sections: async (db, actor, system) => {
      const [{ groups, access }, traffic, signIn] = await Promise.all([
        systemAccessOverview(db, actor, system.id),
        gateTrafficOf(db, actor, system.id),
        signInSection(db, actor, system, config),
      ]);
      return {
        groups,
        access: access.map(({ user, effective }) => ({ id: user.id, username: user.username, ...presentAccess(effective, "admin") })),
        gate: { today: traffic.today, lastAccess: traffic.lastAccessAt ? presentTime(traffic.lastAccessAt) : null, configurations: gateConfigurations(system, config.baseUrl) },
        signIn,
      };
    },
  });
  addOidcClientRoutes(router, pageForm, { db, config });
  return router;
}
