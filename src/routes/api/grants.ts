import { apiAccess } from "../../presenters/api.ts";
import { explainAccessOf } from "../../services/effective-access.ts";
import { existingGrantParty, grantsHeldBy, removeGrant, setGrant, type Subject } from "../../services/grants.ts";
import { PERMISSION_BY_LEVEL } from "../../types/access.ts";
import { actorOf } from "../actor.ts";
import type { RouteDeps } from "../deps.ts";
import { type Operation, operation, pageOf, PageQuery, pageWindow, send, sendPage } from "./operation.ts";
import { AccessQuery, AccessView, GrantBody, GrantChangeView, GrantPath, GrantView, IdPath } from "./schemas.ts";

const SUBJECTS = [
  { kind: "user", path: "users", noun: "user" },
  { kind: "team", path: "teams", noun: "team" },
] as const;
const TARGETS = [
  { kind: "system", path: "systems", noun: "system" },
  { kind: "group", path: "groups", noun: "system group" },
] as const;

export function grantOperations({ db }: RouteDeps): Operation[] {
  const operations: Operation[] = [];
  for (const subjectKind of SUBJECTS) {
    operations.push(
      operation({
        method: "get",
        path: `/${subjectKind.path}/:id/grants`,
        operationId: `list${subjectKind.kind === "user" ? "User" : "Team"}Grants`,
        summary: `List a ${subjectKind.noun}'s grants`,
        description: "The grants held directly, on systems then on system groups, each by name. Effective access is at /access.",
        tag: "Grants",
        access: "admin",
        params: IdPath,
        query: PageQuery,
        responses: { 200: { description: "One page of grants.", schema: pageOf(GrantView) } },
        handler: async (req, res, { params, query }) => {
          const subject: Subject = { kind: subjectKind.kind, id: params.id };
          await existingGrantParty(db, actorOf(req), subject);
          const held = await grantsHeldBy(db, actorOf(req), subject);
          const all = [
            ...held.systems.map((g) => ({ target: { kind: "system" as const, id: g.targetId, name: g.targetName }, permission: PERMISSION_BY_LEVEL[g.level] })),
            ...held.groups.map((g) => ({ target: { kind: "group" as const, id: g.targetId, name: g.targetName }, permission: PERMISSION_BY_LEVEL[g.level] })),
          ];
          const { limit, offset } = pageWindow(query);
          sendPage(res, GrantView, all.slice(offset, offset + limit), all.length, query);
        },
      }),
    );

    for (const targetKind of TARGETS) {
      const name = `${subjectKind.kind === "user" ? "User" : "Team"}${targetKind.kind === "system" ? "System" : "Group"}Grant`;
      const path = `/${subjectKind.path}/:id/grants/${targetKind.path}/:targetId`;
      operations.push(
        operation({
          method: "put",
          path,
          operationId: `set${name}`,
          summary: `Grant a ${subjectKind.noun} access to a ${targetKind.noun}`,
          description: "Creates the grant (201) or sets its permission (200). The same rules and audit events as the console.",
          tag: "Grants",
          access: "admin",
          params: GrantPath,
          body: GrantBody,
          responses: { 201: { description: "Granted.", schema: GrantChangeView }, 200: { description: "The grant existed; its permission is now the one sent.", schema: GrantChangeView } },
          handler: async (req, res, { params, body }) => {
            const subject: Subject = { kind: subjectKind.kind, id: params.id };
            await existingGrantParty(db, actorOf(req), subject);
            await existingGrantParty(db, actorOf(req), { kind: targetKind.kind, id: params.targetId });
            const result = await setGrant(db, actorOf(req), subject, { kind: targetKind.kind, id: params.targetId }, body.permission);
            send(res, result.created ? 201 : 200, GrantChangeView, {
              target: { kind: targetKind.kind, id: params.targetId, name: result.targetName },
              permission: body.permission,
              created: result.created,
              changed: result.changed,
            });
          },
        }),
        operation({
          method: "delete",
          path,
          operationId: `remove${name}`,
          summary: `Take away a ${subjectKind.noun}'s grant on a ${targetKind.noun}`,
          description: "Idempotent: not an error when there was no grant.",
          tag: "Grants",
          access: "admin",
          params: GrantPath,
          responses: { 204: { description: "No grant (any more)." } },
          handler: async (req, res, { params }) => {
            const subject: Subject = { kind: subjectKind.kind, id: params.id };
            await existingGrantParty(db, actorOf(req), subject);
            await removeGrant(db, actorOf(req), subject, { kind: targetKind.kind, id: params.targetId });
            res.status(204).end();
          },
        }),
      );
    }
  }

  operations.push(
    operation({
      method: "get",
      path: "/access",
      operationId: "getEffectiveAccess",
      summary: "Effective access of a user to a system, and why",
      description:
        "The permission the resolver computes (the most permissive grant of the four sources) and every grant that contributes, " +
        "the deciding one marked. Anyone but an administrator may ask only about their own account and a system they can access; " +
        "anything else is not found.",
      tag: "Access",
      access: "token",
      query: AccessQuery,
      responses: { 200: { description: "The permission and its explanation.", schema: AccessView } },
      handler: async (req, res, { query }) => {
        const { user, system, access } = await explainAccessOf(db, actorOf(req), query.user, query.system);
        send(res, 200, AccessView, apiAccess(user, system, access, req.user!.id === user.id ? "self" : "admin"));
      },
    }),
  );
  return operations;
}
