import type { z } from "zod";
import type { Db } from "../../db/index.ts";
import type { Actor } from "../../types/user.ts";
import { actorOf } from "../actor.ts";
import { type Access, type Operation, operation, pageOf, pageWindow, send, sendPage } from "./operation.ts";
import { DeleteQuery, IdPath, ListQuery } from "./schemas.ts";

type Doc = { summary: string; description?: string };
type ListPage = z.infer<typeof ListQuery>;

/**
 * The five operations of a named record of the catalogue (teams, system groups, systems): list, create, read,
 * change and delete, their paths, ids and documents. Who may do what is decided by the services they call; `access`
 * only says which token the route asks for before that (any signed-in token, or an administrator's).
 */
export interface NamedRecordsSpec<Body, UpdateBody extends { version: number }> {
  tag: string;
  /** "/teams": the collection; a record is at "/teams/:id". */
  path: string;
  /** "Team" and "Teams", for the operation ids: listTeams, createTeam, getTeam, updateTeam, deleteTeam. */
  one: string;
  many: string;
  view: z.ZodType;
  summaryView?: z.ZodType;
  createBody: z.ZodType<Body>;
  updateBody: z.ZodType<UpdateBody>;
  access: { list: Access; read: Access; update: Access };
  docs: {
    list: Doc & { answer: string };
    create: Doc & { answer: string; conflict: string };
    read: Doc & { answer: string };
    update: Doc & { answer: string; conflict: string };
    delete: Doc;
  };
  list(db: Db, actor: Actor, page: ListPage): Promise<{ items: unknown[]; total: number }>;
  create(db: Db, actor: Actor, body: Body): Promise<{ id: number }>;
  read(db: Db, actor: Actor, id: number): Promise<{ id: number; version: number }>;
  update(db: Db, actor: Actor, id: number, version: number, changes: Omit<UpdateBody, "version">): Promise<unknown>;
  remove(db: Db, actor: Actor, id: number, version: number): Promise<unknown>;
}

export function namedRecordOperations<Body, UpdateBody extends { version: number }>(db: Db, spec: NamedRecordsSpec<Body, UpdateBody>): Operation[] {
  const { docs } = spec;
  return [
    operation({
      method: "get",
      path: spec.path,
      operationId: `list${spec.many}`,
      summary: docs.list.summary,
      description: docs.list.description,
      tag: spec.tag,
      access: spec.access.list,
      query: ListQuery,
      responses: { 200: { description: docs.list.answer, schema: pageOf(spec.summaryView ?? spec.view) } },
      handler: async (req, res, { query }) => {
        const { items, total } = await spec.list(db, actorOf(req), query);
        sendPage(res, spec.summaryView ?? spec.view, items, total, query);
      },
    }),

    operation({
      method: "post",
      path: spec.path,
      operationId: `create${spec.one}`,
      summary: docs.create.summary,
      description: docs.create.description,
      tag: spec.tag,
      access: "admin",
      body: spec.createBody,
      responses: { 201: { description: docs.create.answer, schema: spec.view }, 409: { description: docs.create.conflict } },
      handler: async (req, res, { body }) => {
        const created = await spec.create(db, actorOf(req), body as Body);
        res.location(`/api/v1${spec.path}/${created.id}`);
        send(res, 201, spec.view, created);
      },
    }),

    operation({
      method: "get",
      path: `${spec.path}/:id`,
      operationId: `get${spec.one}`,
      summary: docs.read.summary,
      description: docs.read.description,
      tag: spec.tag,
      access: spec.access.read,
      params: IdPath,
      responses: { 200: { description: docs.read.answer, schema: spec.view } },
      handler: async (req, res, { params }) => send(res, 200, spec.view, await spec.read(db, actorOf(req), params.id)),
    }),

    operation({
      method: "patch",
      path: `${spec.path}/:id`,
      operationId: `update${spec.one}`,
      summary: docs.update.summary,
      description: docs.update.description,
      tag: spec.tag,
      access: spec.access.update,
      params: IdPath,
      body: spec.updateBody,
      responses: { 200: { description: docs.update.answer, schema: spec.view }, 409: { description: docs.update.conflict } },
      handler: async (req, res, { params, body }) => {
        const { version, ...changes } = body as UpdateBody;
        send(res, 200, spec.view, await spec.update(db, actorOf(req), params.id, version, changes));
      },
    }),

    operation({
      method: "delete",
      path: `${spec.path}/:id`,
      operationId: `delete${spec.one}`,
      summary: docs.delete.summary,
      description: docs.delete.description,
      tag: spec.tag,
      access: "admin",
      params: IdPath,
      query: DeleteQuery,
      responses: { 204: { description: "Deleted." }, 409: { description: "Changed since `version`." } },
      handler: async (req, res, { params, query }) => {
        const actor = actorOf(req);
        await spec.remove(db, actor, params.id, query.version ?? (await spec.read(db, actor, params.id)).version);
        res.status(204).end();
      },
    }),
  ];
}

/** The page window of a list query, for a service's `limit` and `offset`. */
export function listWindow(page: ListPage): { search: string; limit: number; offset: number } {
  return { search: page.q, ...pageWindow(page) };
}
