import { Router } from "express";
import { z } from "zod";
import { requireSignedIn } from "../middleware/require-auth.ts";
import { validate } from "../middleware/validate.ts";

export const KEEPALIVE_PATH = "/session/keepalive";

const EmptySchema = z.strictObject({});

/**
 * "Stay signed in" in the idle warning (public/js/idle-warning.js). The request itself restarts the idle clock
 * (middleware/session-timeouts.ts); the answer is an empty 204. A session that already expired gets what any
 * request without a valid session gets (a 401, or a 403 for the token that died with it), and the page goes to sign-in.
 */
export function keepaliveRouter(): Router {
  const router = Router();
  router.post(KEEPALIVE_PATH, requireSignedIn, validate({ body: EmptySchema }), (_req, res) => {
    res.status(204).end();
  });
  return router;
}
