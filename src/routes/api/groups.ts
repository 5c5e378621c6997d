import { NotFoundError } from "../../errors.ts";
import {
  addSystemToGroup,
  createGroup,
  deleteGroup,
  findGroupById,
  listGroupSystemsPage,
  listGroupsPage,
  removeSystemFromGroup,
  updateGroup,
} from "../../services/system-groups.ts";
import { findSystemById } from "../../services/systems.ts";
import { actorOf } from "../actor.ts";
import type { RouteDeps } from "../deps.ts";
import { type Operation, operation, pageOf, PageQuery, pageWindow, send, sendPage } from "./operation.ts";
import { DeleteQuery, GroupLinkView, GroupSystemPath, GroupSystemView, GroupView, IdPath, ListQuery, NamedBody, NamedUpdateBody } from "./schemas.ts";

const TAG = "System groups";
const NO_GROUP = "There is no such system group.";

/** System groups are an administrator's tool: every operation needs an administrator's token. */
export function groupOperations({ db }: RouteDeps): Operation[] {
  const existingGroup = async (id: number) => {
    const group = await findGroupById(db, id);
    if (!group) throw new NotFoundError(NO_GROUP);
    return group;
  };

  return [
    operation({
      method: "get",
      path: "/groups",
      operationId: "listGroups",
      summary: "List system groups",
      tag: TAG,
      access: "admin",
      query: ListQuery,
      responses: { 200: { description: "One page of groups, by name.", schema: pageOf(GroupView) } },
      handler: async (_req, res, { query }) => {
        const { groups, total } = await listGroupsPage(db, { search: query.q, ...pageWindow(query) });
        sendPage(res, GroupView, groups, total, query);
      },
    }),

    operation({
      method: "post",
      path: "/groups",
      operationId: "createGroup",
      summary: "Create a system group",
      tag: TAG,
      access: "admin",
      body: NamedBody,
      responses: { 201: { description: "The new group.", schema: GroupView }, 409: { description: "A group with that name exists." } },
      handler: async (req, res, { body }) => {
        const group = await createGroup(db, actorOf(req), body);
        res.location(`/api/v1/groups/${group.id}`);
        send(res, 201, GroupView, group);
      },
    }),

    operation({
      method: "get",
      path: "/groups/:id",
      operationId: "getGroup",
      summary: "Read a system group",
      tag: TAG,
      access: "admin",
      params: IdPath,
      responses: { 200: { description: "The group.", schema: GroupView } },
      handler: async (_req, res, { params }) => send(res, 200, GroupView, await existingGroup(params.id)),
    }),

    operation({
      method: "patch",
      path: "/groups/:id",
      operationId: "updateGroup",
      summary: "Rename a system group or change its description",
      tag: TAG,
      access: "admin",
      params: IdPath,
      body: NamedUpdateBody,
      responses: { 200: { description: "The group as saved.", schema: GroupView }, 409: { description: "Changed since `version`, or the name is taken." } },
      handler: async (req, res, { params, body }) => {
        const current = await existingGroup(params.id);
        const group = await updateGroup(db, actorOf(req), params.id, body.version, {
          name: body.name ?? current.name,
          description: body.description ?? current.description,
        });
        send(res, 200, GroupView, group);
      },
    }),

    operation({
      method: "delete",
      path: "/groups/:id",
      operationId: "deleteGroup",
      summary: "Delete a system group",
      description: "Its links and the grants on it go with it; the systems stay.",
      tag: TAG,
      access: "admin",
      params: IdPath,
      query: DeleteQuery,
      responses: { 204: { description: "Deleted." }, 409: { description: "Changed since `version`." } },
      handler: async (req, res, { params, query }) => {
        const current = await existingGroup(params.id);
        await deleteGroup(db, actorOf(req), params.id, query.version ?? current.version);
        res.status(204).end();
      },
    }),

    operation({
      method: "get",
      path: "/groups/:id/systems",
      operationId: "listGroupSystems",
      summary: "List the systems in a group",
      tag: TAG,
      access: "admin",
      params: IdPath,
      query: PageQuery,
      responses: { 200: { description: "One page of systems, by name.", schema: pageOf(GroupSystemView) } },
      handler: async (_req, res, { params, query }) => {
        await existingGroup(params.id);
        const { systems, total } = await listGroupSystemsPage(db, params.id, pageWindow(query));
        sendPage(res, GroupSystemView, systems, total, query);
      },
    }),

    operation({
      method: "put",
      path: "/groups/:id/systems/:systemId",
      operationId: "addSystemToGroup",
      summary: "Put a system in a group",
      description: "Idempotent: 200 when it was there already.",
      tag: TAG,
      access: "admin",
      params: GroupSystemPath,
      responses: { 201: { description: "Added.", schema: GroupLinkView }, 200: { description: "Already in the group.", schema: GroupLinkView } },
      handler: async (req, res, { params }) => {
        const [group, system] = await Promise.all([existingGroup(params.id), findSystemById(db, params.systemId)]);
        if (!system) throw new NotFoundError("There is no such system.");
        const { added } = await addSystemToGroup(db, actorOf(req), params.id, params.systemId);
        send(res, added ? 201 : 200, GroupLinkView, { group: { id: group.id, name: group.name }, system: { id: system.id, name: system.name }, added });
      },
    }),

    operation({
      method: "delete",
      path: "/groups/:id/systems/:systemId",
      operationId: "removeSystemFromGroup",
      summary: "Take a system out of a group",
      description: "Idempotent: not an error when it was not there.",
      tag: TAG,
      access: "admin",
      params: GroupSystemPath,
      responses: { 204: { description: "Not in the group (any more)." } },
      handler: async (req, res, { params }) => {
        await removeSystemFromGroup(db, actorOf(req), params.id, params.systemId);
        res.status(204).end();
      },
    }),
  ];
}
