import {
  addSystemToGroup,
  createGroup,
  deleteGroup,
  existingGroup,
  listGroupSystemsPage,
  listGroupsPage,
  removeSystemFromGroup,
  updateGroup,
} from "../../services/system-groups.ts";
import { existingSystem } from "../../services/systems.ts";
import { actorOf } from "../actor.ts";
import type { RouteDeps } from "../deps.ts";
import { listWindow, namedRecordOperations } from "./named-records.ts";
import { type Operation, operation, pageOf, PageQuery, pageWindow, send, sendPage } from "./operation.ts";
import { GroupLinkView, GroupSystemPath, GroupSystemView, GroupView, IdPath, NamedBody, NamedUpdateBody } from "./schemas.ts";

const TAG = "System groups";

/** System groups are an administrator's tool: every operation needs an administrator's token. */
export function groupOperations({ db }: RouteDeps): Operation[] {
  return [
    ...namedRecordOperations(db, {
      tag: TAG,
      path: "/groups",
      one: "Group",
      many: "Groups",
      view: GroupView,
      createBody: NamedBody,
      updateBody: NamedUpdateBody,
      access: { list: "admin", read: "admin", update: "admin" },
      docs: {
        list: { summary: "List system groups", answer: "One page of groups, by name." },
        create: { summary: "Create a system group", answer: "The new group.", conflict: "A group with that name exists." },
        read: { summary: "Read a system group", answer: "The group." },
        update: { summary: "Rename a system group or change its description", answer: "The group as saved.", conflict: "Changed since `version`, or the name is taken." },
        delete: { summary: "Delete a system group", description: "Its links and the grants on it go with it; the systems stay." },
      },
      list: async (db, actor, page) => {
        const { groups, total } = await listGroupsPage(db, actor, listWindow(page));
        return { items: groups, total };
      },
      create: createGroup,
      read: existingGroup,
      update: updateGroup,
      remove: deleteGroup,
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
      handler: async (req, res, { params, query }) => {
        const actor = actorOf(req);
        await existingGroup(db, actor, params.id);
        const { systems, total } = await listGroupSystemsPage(db, actor, params.id, pageWindow(query));
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
        const actor = actorOf(req);
        const [group, system] = await Promise.all([existingGroup(db, actor, params.id), existingSystem(db, actor, params.systemId)]);
        const { added } = await addSystemToGroup(db, actor, params.id, params.systemId);
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
