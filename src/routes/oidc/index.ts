import { type NextFunction, type Request, type Response, Router } from "express";
import { z } from "zod";
import { requireSignedIn } from "../../middleware/require-auth.ts";
import { validate } from "../../middleware/validate.ts";
import type { OidcProviderHolder } from "./holder.ts";
import { finishSignIn, INTERACTION_PATH, OIDC_ROUTES } from "./provider.ts";

const PROVIDER_PATHS = new Set<string>([...Object.values(OIDC_ROUTES), "/.well-known/openid-configuration"]);

function isProviderPath(path: string): boolean {
  if (PROVIDER_PATHS.has(path)) return true;
  // The authorization endpoint's resume step (/oidc/auth/:uid) and the logout confirmation (/oidc/session/end/…).
  return path.startsWith(`${OIDC_ROUTES.authorization}/`) || path.startsWith(`${OIDC_ROUTES.end_session}/`);
}

/**
 * The provider's endpoints: after the console's session (the sign-in step is the console's) and before the body
 * parsers (the provider reads its own bodies).
 */
export function oidcProviderMiddleware(holder: OidcProviderHolder) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!isProviderPath(req.path)) {
      next();
      return;
    }
    // The provider ends its answer with res.end; a console sign-out it started (provider.ts) finishes first.
    const end = res.end.bind(res) as (...args: unknown[]) => Response;
    res.end = ((...args: unknown[]) => {
      const waiting = res.locals.consoleSignOut as Promise<void> | undefined;
      if (!waiting) return end(...args);
      void waiting.then(() => end(...args));
      return res;
    }) as Response["end"];
    holder.get().then(({ callback }) => callback(req, res), next);
  };
}

const InteractionParams = z.object({ uid: z.string().min(1).max(100) });

/**
 * Where the provider sends a browser that must sign in (or whose console account changed): the console's own
 * sign-in first (requireSignedIn leads there and back, 2FA included), then the provider is told who it is and that
 * the system's client has the scopes it asked for (no consent screen for a system's own client). Whether the person
 * may sign in to that system is the provider's system_access check (provider.ts), decided when it resumes.
 */
export function oidcInteractionRouter(holder: OidcProviderHolder): Router {
  const router = Router();
  router.get(`${INTERACTION_PATH}/:uid`, requireSignedIn, validate({ params: InteractionParams }), async (req: Request, res: Response) => {
    const { provider } = await holder.get();
    const location = await finishSignIn(provider, req, res, String(req.user!.id));
    // A page that moves on by itself rather than a redirect: after the sign-in form, a redirect chain ending at the
    // system's address would be part of the form's navigation, which the console's CSP (form-action 'self') refuses.
    res.set("Refresh", `0; url=${location}`);
    res.render("oidc/continue", { title: "Signing you in", location });
  });
  return router;
}
