import type { Db } from "../../db/index.ts";
import { createSystem, deleteSystem, groupsShownWith, listAccessibleSystems, readSystem, updateSystem } from "../../services/systems.ts";
import { PERMISSION_BY_LEVEL } from "../../types/access.ts";
import type { System } from "../../types/catalog.ts";
import type { Actor } from "../../types/user.ts";
import type { RouteDeps } from "../deps.ts";
import { listWindow, namedRecordOperations } from "./named-records.ts";
import type { Operation } from "./operation.ts";
import { SystemCreateBody, SystemSummaryView, SystemUpdateBody, SystemView } from "./schemas.ts";

/** The system as the API shows it to this actor: its permission on it, and its groups for an administrator. */
async function asSeenBy(db: Db, actor: Actor, system: System, level: 1 | 2) {
  const groups = await groupsShownWith(db, actor, system.id);
  return { ...system, permission: PERMISSION_BY_LEVEL[level], ...(groups ? { groups } : {}) };
}

export function systemOperations({ db }: RouteDeps): Operation[] {
  return namedRecordOperations(db, {
    tag: "Systems",
    path: "/systems",
    one: "System",
    many: "Systems",
    view: SystemView,
    summaryView: SystemSummaryView,
    createBody: SystemCreateBody,
    updateBody: SystemUpdateBody,
    access: { list: "token", read: "token", update: "token" },
    docs: {
      list: {
        summary: "List the systems the account can access",
        description: "With the account's effective permission on each; administrators get every system at read/write.",
        answer: "One page of systems, by name.",
      },
      create: { summary: "Add a system", answer: "The new system.", conflict: "A system with that name exists." },
      read: { summary: "Read a system", description: "Only a system the account can access; any other id is not found.", answer: "The system and the account's permission on it." },
      update: {
        summary: "Change a system",
        description: "Administrators change every field. An account with read/write changes description and notes only; with read, nothing.",
        answer: "The system as saved.",
        conflict: "Changed since `version`, or the name is taken.",
      },
      delete: { summary: "Delete a system", description: "Its group links and every grant on it go with it." },
    },
    list: async (db, actor, page) => {
      const { systems, total } = await listAccessibleSystems(db, actor, listWindow(page));
      return { items: systems.map((s) => ({ ...s, permission: PERMISSION_BY_LEVEL[s.level] })), total };
    },
    create: async (db, actor, body) => asSeenBy(db, actor, await createSystem(db, actor, body), 2),
    read: async (db, actor, id) => {
      const { system, level } = await readSystem(db, actor, id);
      return asSeenBy(db, actor, system, level);
    },
    update: async (db, actor, id, version, changes) => {
      const { level } = await readSystem(db, actor, id, "change-notes");
      return asSeenBy(db, actor, await updateSystem(db, actor, id, version, changes), level);
    },
    remove: deleteSystem,
  });
}
