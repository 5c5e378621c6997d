import { type Request, type Response, Router } from "express";
import { z } from "zod";
import { flash } from "../../lib/flash.ts";
import { requireSignedIn } from "../../middleware/require-auth.ts";
import { input, validate } from "../../middleware/validate.ts";
import { startGateSignIn } from "../../services/gate.ts";
import type { RouteDeps } from "../deps.ts";

const StartQuery = z.object({ rd: z.string().max(4000).catch("").default("") });

/**
 * `rd` as the proxy wrote it. nginx cannot escape `$request_uri`, so its redirect reads `?rd=https://host/p?a=1&b=2`:
 * when the value starts with an unescaped scheme, everything after `rd=` is the address, `&` included (it is already
 * in the form a request line has). An escaped value (Caddy, Traefik, the tests) is read as a normal parameter.
 */
function rawReturnAddress(originalUrl: string): { rd: string } | undefined {
  const query = originalUrl.slice(originalUrl.indexOf("?") + 1);
  const match = /^rd=(https?:\/\/.*)$/is.exec(originalUrl.includes("?") ? query : "");
  return match ? { rd: match[1]! } : undefined;
}

/**
 * /gate/start?rd=<the address the person wanted>: where a proxy sends a browser without a gate cookie. The normal
 * sign-in (2FA included) comes first when there is no console session (requireSignedIn leads there and back), then
 * the browser goes on to the system's own host with a single-use code (routes/gate/index.ts takes it there), by a
 * page that refreshes to it (the Refresh header and a link).
 */
export function gateStartRouter({ db }: RouteDeps): Router {
  const router = Router();
  router.get("/gate/start", requireSignedIn, validate({ query: StartQuery }), async (req: Request, res: Response) => {
    const unescaped = rawReturnAddress(req.originalUrl);
    const query = unescaped ? StartQuery.parse(unescaped) : input<unknown, z.infer<typeof StartQuery>>(res).query;
    const endsAt = req.session.cookie.expires ?? new Date(Date.now() + (req.session.cookie.maxAge ?? 0));
    const start = await startGateSignIn(db, req.user!, { sid: req.sessionID, endsAt }, query.rd);
    if (start.kind === "handshake") {
      // A page that moves on by itself rather than a redirect: after the sign-in form, a redirect to another host
      // would be part of the form's navigation, which the console's CSP (form-action 'self') rightly refuses.
      res.set("Cache-Control", "no-store").set("Refresh", `0; url=${start.location}`);
      return res.status(200).render("gate/continue", { title: `Opening ${start.system.name}`, system: start.system, location: start.location });
    }
    if (start.kind === "no-access") {
      return res.status(403).render("gate/no-access", { title: `No access to ${start.system.name}`, system: start.system });
    }
    flash(req, "error", "That address is not the web address of any system in Gatehouse, so there is nothing to sign in to. Here are the systems you can reach.");
    res.redirect(303, "/systems");
  });
  return router;
}
