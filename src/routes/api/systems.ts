import type { Request } from "express";
import { accessLevel } from "../../access/resolver.ts";
import { ForbiddenError, NotFoundError } from "../../errors.ts";
import { groupsContainingSystem } from "../../services/system-groups.ts";
import { createSystem, deleteSystem, findSystemById, listAccessibleSystems, updateSystem } from "../../services/systems.ts";
import { PERMISSION_BY_LEVEL } from "../../types/access.ts";
import type { System } from "../../types/catalog.ts";
import { actorOf } from "../actor.ts";
import type { RouteDeps } from "../deps.ts";
import { type Operation, operation, pageOf, pageWindow, send, sendPage } from "./operation.ts";
import { DeleteQuery, IdPath, ListQuery, SystemCreateBody, SystemSummaryView, SystemUpdateBody, SystemView } from "./schemas.ts";

const TAG = "Systems";
const NO_SYSTEM = "There is no such system.";

/** A system the caller cannot read is not found, exactly as a missing id (catalogue A1): no name leaks. */
async function readableSystem(req: Request, db: RouteDeps["db"], id: number): Promise<{ system: System; level: 1 | 2 }> {
  const level = await accessLevel(db, req.user!.id, id);
  const system = level ? await findSystemById(db, id) : undefined;
  if (!level || !system) throw new NotFoundError(NO_SYSTEM);
  return { system, level };
}

export function systemOperations({ db }: RouteDeps): Operation[] {
  /** Group names are an administrator's business: the console shows them to no one else either. */
  const systemView = async (req: Request, system: System, level: 1 | 2) => ({
    ...system,
    permission: PERMISSION_BY_LEVEL[level],
    ...(req.user!.isAdmin ? { groups: await groupsContainingSystem(db, system.id) } : {}),
  });

  return [
    operation({
      method: "get",
      path: "/systems",
      operationId: "listSystems",
      summary: "List the systems the account can access",
      description: "With the account's effective permission on each; administrators get every system at read/write.",
      tag: TAG,
      access: "token",
      query: ListQuery,
      responses: { 200: { description: "One page of systems, by name.", schema: pageOf(SystemSummaryView) } },
      handler: async (req, res, { query }) => {
        const { systems, total } = await listAccessibleSystems(db, req.user!, { search: query.q, ...pageWindow(query) });
        sendPage(res, SystemSummaryView, systems.map((s) => ({ ...s, permission: PERMISSION_BY_LEVEL[s.level] })), total, query);
      },
    }),

    operation({
      method: "post",
      path: "/systems",
      operationId: "createSystem",
      summary: "Add a system",
      tag: TAG,
      access: "admin",
      body: SystemCreateBody,
      responses: { 201: { description: "The new system.", schema: SystemView }, 409: { description: "A system with that name exists." } },
      handler: async (req, res, { body }) => {
        const system = await createSystem(db, actorOf(req), body);
        res.location(`/api/v1/systems/${system.id}`);
        send(res, 201, SystemView, await systemView(req, system, 2));
      },
    }),

    operation({
      method: "get",
      path: "/systems/:id",
      operationId: "getSystem",
      summary: "Read a system",
      description: "Only a system the account can access; any other id is not found.",
      tag: TAG,
      access: "token",
      params: IdPath,
      responses: { 200: { description: "The system and the account's permission on it.", schema: SystemView } },
      handler: async (req, res, { params }) => {
        const { system, level } = await readableSystem(req, db, params.id);
        send(res, 200, SystemView, await systemView(req, system, level));
      },
    }),

    operation({
      method: "patch",
      path: "/systems/:id",
      operationId: "updateSystem",
      summary: "Change a system",
      description: "Administrators change every field. An account with read/write changes description and notes only; with read, nothing.",
      tag: TAG,
      access: "token",
      params: IdPath,
      body: SystemUpdateBody,
      responses: { 200: { description: "The system as saved.", schema: SystemView }, 409: { description: "Changed since `version`, or the name is taken." } },
      handler: async (req, res, { params, body }) => {
        const { level } = await readableSystem(req, db, params.id);
        const { version, ...fields } = body;
        if (level < 2) throw new ForbiddenError("You have read access to this system; changing it needs read/write.");
        if (!req.user!.isAdmin && (fields.name !== undefined || fields.host !== undefined))
          throw new ForbiddenError("Only administrators can change a system's name or host; read/write covers description and notes.");
        const changes = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
        const system = await updateSystem(db, actorOf(req), params.id, version, changes);
        send(res, 200, SystemView, await systemView(req, system, level));
      },
    }),

    operation({
      method: "delete",
      path: "/systems/:id",
      operationId: "deleteSystem",
      summary: "Delete a system",
      description: "Its group links and every grant on it go with it.",
      tag: TAG,
      access: "admin",
      params: IdPath,
      query: DeleteQuery,
      responses: { 204: { description: "Deleted." }, 409: { description: "Changed since `version`." } },
      handler: async (req, res, { params, query }) => {
        const current = await findSystemById(db, params.id);
        if (!current) throw new NotFoundError(NO_SYSTEM);
        await deleteSystem(db, actorOf(req), params.id, query.version ?? current.version);
        res.status(204).end();
      },
    }),
  ];
}
