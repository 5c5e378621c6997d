import { Router } from "express";
import { EmptySchema } from "../../../lib/fields.ts";
import { flash } from "../../../lib/flash.ts";
import { validate } from "../../../middleware/validate.ts";
import { presentTime } from "../../../presenters/time.ts";
import { listSigningKeys, RETIRED_KEY_PUBLISHED_SECONDS, rotateSigningKeys } from "../../../services/signing-keys.ts";
import { actorOf } from "../../actor.ts";
import type { RouteDeps } from "../../deps.ts";

const PAGE = "/admin/settings/signing-keys";
const WINDOW_HOURS = RETIRED_KEY_PUBLISHED_SECONDS / 3600;

/**
 * Administration → Settings → Signing keys: the keys the OpenID Connect provider signs with, and "Rotate signing
 * keys" behind a confirmation page. Mounted under /admin/settings/signing-keys, behind requireAdmin.
 */
export function signingKeysRouter({ db, keys }: Pick<RouteDeps, "db" | "keys">): Router {
  const router = Router();

  router.get("/", async (req, res) => {
    const rows = await listSigningKeys(db, keys, actorOf(req));
    res.render("admin/settings/signing-keys", {
      title: "Signing keys",
      windowHours: WINDOW_HOURS,
      signingKeys: rows.map((k) => ({ kid: k.kid, alg: k.alg, status: k.status, created: presentTime(k.createdAt), publishedUntil: presentTime(k.publishedUntil) })),
    });
  });

  router.get("/rotate", (_req, res) => {
    res.render("admin/settings/signing-keys-rotate", { title: "Rotate the signing keys?", windowHours: WINDOW_HOURS });
  });

  router.post("/rotate", validate({ body: EmptySchema }), async (req, res) => {
    const result = await rotateSigningKeys(db, keys, actorOf(req));
    const until = presentTime(result.retiredPublishedUntil)?.text ?? "";
    const kept = result.retired.length > 0 ? ` The previous keys stay published for verification until ${until}.` : "";
    flash(req, "success", `Signing keys rotated: new tokens are signed with ${result.created.map((k) => `${k.kid} (${k.alg})`).join(" and ")}.${kept}`);
    res.redirect(303, PAGE);
  });

  return router;
}
