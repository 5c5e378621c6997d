import { explainAccess } from "../../access/resolver.ts";
import { NotFoundError } from "../../errors.ts";
import { apiAccess } from "../../presenters/api.ts";
import { findUser } from "../../services/accounts.ts";
import { grantsHeldBy, removeGrant, setGrant, type Subject } from "../../services/grants.ts";
import { findGroupById } from "../../services/system-groups.ts";
import { findSystemById } from "../../services/systems.ts";
import { findTeamById } from "../../services/teams.ts";
import { PERMISSION_BY_LEVEL } from "../../types/access.ts";
import { actorOf } from "../actor.ts";
import type { RouteDeps } from "../deps.ts";
import { type Operation, operation, pageOf, PageQuery, pageWindow, send, sendPage } from "./operation.ts";
import { AccessQuery, AccessView, GrantBody, GrantChangeView, GrantPath, GrantView, IdPath } from "./schemas.ts";

const SUBJECTS = [
  { kind: "user", path: "users", noun: "user", missing: "There is no such user." },
  { kind: "team", path: "teams", noun: "team", missing: "There is no such team." },
] as const;
const TARGETS = [
  { kind: "system", path: "systems", noun: "system", missing: "There is no such system." },
  { kind: "group", path: "groups", noun: "system group", missing: "There is no such system group." },
] as const;

export function grantOperations({ db }: RouteDeps): Operation[] {
  const subjectExists = async (subject: Subject, missing: string) => {
    const found = subject.kind === "user" ? await findUser(db, subject.id) : await findTeamById(db, subject.id);
    if (!found) throw new NotFoundError(missing);
  };
  const targetName = async (kind: "system" | "group", id: number, missing: string): Promise<string> => {
    const found = kind === "system" ? await findSystemById(db, id) : await findGroupById(db, id);
    if (!found) throw new NotFoundError(missing);
    return found.name;
  };

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
        handler: async (_req, res, { params, query }) => {
          const subject: Subject = { kind: subjectKind.kind, id: params.id };
          await subjectExists(subject, subjectKind.missing);
          const held = await grantsHeldBy(db, subject);
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
            await subjectExists(subject, subjectKind.missing);
            await targetName(targetKind.kind, params.targetId, targetKind.missing);
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
            await subjectExists(subject, subjectKind.missing);
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
        const me = req.user!;
        if (!me.isAdmin && me.id !== query.user) throw new NotFoundError("There is no such user.");
        const [user, system] = await Promise.all([findUser(db, query.user), findSystemById(db, query.system)]);
        if (!user) throw new NotFoundError("There is no such user.");
        if (!system) throw new NotFoundError("There is no such system.");
        const access = await explainAccess(db, user, system.id);
        if (!me.isAdmin && access.permission === "none") throw new NotFoundError("There is no such system.");
        send(res, 200, AccessView, apiAccess(user, system, access, me.id === user.id ? "self" : "admin"));
      },
    }),
  );
  return operations;
}
