import { type Request, Router } from "express";
import { z } from "zod";
import type { Db } from "../../db/index.ts";
import { flash } from "../../lib/flash.ts";
import { requireSignedIn } from "../../middleware/require-auth.ts";
import { input, validate } from "../../middleware/validate.ts";
import { presentTime, type TimeView } from "../../presenters/time.ts";
import { describeUserAgent } from "../../presenters/user-agent.ts";
import {
  endOtherOwnSessions,
  endOwnSession,
  listOwnSessions,
  type SessionDefaults,
  type SessionSummary,
} from "../../services/sessions.ts";
import { signedInActor } from "../actor.ts";
import { continueSession } from "../../auth/establish-session.ts";
import type { RouteDeps } from "../deps.ts";

const SessionParams = z.strictObject({ handle: z.string().regex(/^[0-9a-f]{64}$/) });
const EmptySchema = z.strictObject({});

/** What the Profile's Sessions section shows of one session. */
export interface SessionView {
  handle: string;
  current: boolean;
  browser: string;
  address: string;
  started: TimeView;
  lastSeen: TimeView;
  /** "Firefox on Linux, 10.0.0.5": names the session in its Sign out button. */
  label: string;
}

/** Stored in one form already (src/lib/client-address.ts); only its absence needs words. */
function presentAddress(ip: string | null): string {
  return ip ?? "Unknown address";
}

export function presentSessions(list: SessionSummary[]): SessionView[] {
  const views = list.map((s) => {
    const browser = describeUserAgent(s.userAgent);
    const address = presentAddress(s.clientIp);
    const started = presentTime(s.createdAt) as TimeView;
    return { handle: s.handle, current: s.current, browser, address, started, lastSeen: presentTime(s.lastSeenAt) as TimeView, label: `${browser}, ${address}` };
  });
  // Two sessions from the same browser and address would have buttons of the same name: say when each started.
  const seen = new Map<string, number>();
  for (const v of views) seen.set(v.label, (seen.get(v.label) ?? 0) + 1);
  return views.map((v) => ((seen.get(v.label) ?? 0) > 1 ? { ...v, label: `${v.label}, started ${v.started.text}` } : v));
}

/** The Profile's Sessions section: the signed-in account's live sessions. */
export async function loadSessionsView(db: Db, defaults: SessionDefaults, req: Request): Promise<SessionView[]> {
  return presentSessions(await listOwnSessions(db, req.user!.id, req.sessionID, defaults));
}

function sessionsSentence(count: number): string {
  return count === 1 ? "1 other session" : `${count} other sessions`;
}

export function profileSessionsRouter({ db, config }: RouteDeps): Router {
  const router = Router();
  const defaults = config.session;
  router.use("/profile/sessions", requireSignedIn);

  router.post("/profile/sessions/sign-out-everywhere", validate({ body: EmptySchema }), async (req, res) => {
    const { ended, user } = await endOtherOwnSessions(db, signedInActor(req), req.sessionID, defaults);
    await continueSession(req, user);
    flash(
      req,
      "success",
      ended === 0
        ? "You had no other sessions. This session stays signed in."
        : `Signed out ${sessionsSentence(ended)}. This session stays signed in.`,
    );
    res.redirect(303, "/profile#sessions");
  });

  router.post("/profile/sessions/:handle/sign-out", validate({ params: SessionParams, body: EmptySchema }), async (req, res) => {
    const { params } = input<unknown, unknown, z.infer<typeof SessionParams>>(res);
    const ended = await endOwnSession(db, signedInActor(req), { handle: params.handle, currentSid: req.sessionID }, defaults);
    const [view] = presentSessions([ended]);
    flash(req, "success", `Signed out the session from ${view?.browser}, ${view?.address}.`);
    res.redirect(303, "/profile#sessions");
  });

  return router;
}
