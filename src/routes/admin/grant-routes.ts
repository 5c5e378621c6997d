import { type Request, type Response, Router } from "express";
import { z } from "zod";
import type { Db } from "../../db/index.ts";
import { flash } from "../../lib/flash.ts";
import { idParam } from "../../lib/fields.ts";
import { input, validate } from "../../middleware/validate.ts";
import { addGrant, changeGrant, removeGrant, type Subject, type Target } from "../../services/grants.ts";
import { actorOf } from "../actor.ts";

const CHOOSE_PERMISSION = 'Choose "read" or "read/write".';

/** A string first, so that a repeated field (an array no form sends) is a 400 like any other malformed shape. */
export const PermissionField = z.string({ error: CHOOSE_PERMISSION }).pipe(z.enum(["read", "read/write"], { error: CHOOSE_PERMISSION }));

const AddSystemGrant = z.strictObject({ systemId: idParam, permission: PermissionField.default("read") });
const AddGroupGrant = z.strictObject({ groupId: idParam, permission: PermissionField.default("read") });
const ChangeGrant = z.strictObject({ permission: PermissionField });
const Empty = z.strictObject({});
const SubjectParams = z.object({ id: idParam });
const GrantParams = z.object({ id: idParam, targetId: idParam });

/**
 * The "System access" and "System groups" sections, the same on a user's page and a team's page:
 * POST /:id/systems (add), /:id/systems/:targetId (change permission), /:id/systems/:targetId/remove, and the same for groups.
 * Errors land back on the subject's page through its form renderer.
 */
export function grantRoutes(db: Db, kind: Subject["kind"], pageOf: (id: number) => string, withFormView: (req: Request, res: Response, next: () => void) => void): Router {
  const router = Router();
  const subjectOf = (res: Response): Subject => ({ kind, id: input<unknown, unknown, { id: number }>(res).params.id });

  for (const targetKind of ["system", "group"] as const) {
    const path = targetKind === "system" ? "systems" : "groups";
    const noun = targetKind === "system" ? "System" : "Group";

    router.post(`/:id/${path}`, validate({ params: SubjectParams }), withFormView, validate({ body: targetKind === "system" ? AddSystemGrant : AddGroupGrant }), async (req, res) => {
      const subject = subjectOf(res);
      const body = input<{ systemId?: number; groupId?: number; permission: "read" | "read/write" }>(res).body;
      const target: Target = { kind: targetKind, id: (targetKind === "system" ? body.systemId : body.groupId)! };
      const { added, targetName } = await addGrant(db, actorOf(req), subject, target, body.permission);
      flash(req, "success", added ? `${noun} ${targetName} added with ${body.permission}.` : `${noun} ${targetName} was already granted; nothing changed.`);
      res.redirect(303, `${pageOf(subject.id)}#${path}`);
    });

    router.post(`/:id/${path}/:targetId`, validate({ params: GrantParams }), withFormView, validate({ body: ChangeGrant }), async (req, res) => {
      const { params, body } = input<z.infer<typeof ChangeGrant>, unknown, z.infer<typeof GrantParams>>(res);
      const subject: Subject = { kind, id: params.id };
      const { targetName, changed } = await changeGrant(db, actorOf(req), subject, { kind: targetKind, id: params.targetId }, body.permission);
      flash(req, "success", changed ? `${noun} ${targetName} is now ${body.permission}.` : `${noun} ${targetName} was already ${body.permission}.`);
      res.redirect(303, `${pageOf(subject.id)}#${path}`);
    });

    router.post(`/:id/${path}/:targetId/remove`, validate({ params: GrantParams }), withFormView, validate({ body: Empty }), async (req, res) => {
      const { params } = input<unknown, unknown, z.infer<typeof GrantParams>>(res);
      const subject: Subject = { kind, id: params.id };
      const { removed, targetName } = await removeGrant(db, actorOf(req), subject, { kind: targetKind, id: params.targetId });
      flash(req, "success", removed ? `Access to ${targetName ?? `that ${targetKind}`} removed.` : "That access was already removed.");
      res.redirect(303, `${pageOf(subject.id)}#${path}`);
    });
  }
  return router;
}
