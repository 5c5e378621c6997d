import { type Request, type Response, Router } from "express";
import { z } from "zod";
import { canonicalAddress } from "../../lib/client-address.ts";
import { proxyMatcher } from "../../lib/trusted-proxies.ts";
import { input, validate } from "../../middleware/validate.ts";
import {
  answerForGateSession,
  answerForToken,
  completeGateSignIn,
  type GateAnswer,
  type GatedRequest,
  noteGateAnswer,
} from "../../services/gate.ts";
import { GateAssertions } from "../../services/gate-assertions.ts";
import { actorOf } from "../actor.ts";
import type { RouteDeps } from "../deps.ts";

/** `Bearer <token>`: the scheme in any case, one token, nothing after it (as middleware/api-token-auth.ts reads it). */
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The handshake's code as the callback gets it: anything but one string is no code (refused like a wrong one). */
const CallbackQuery = z.object({ code: z.string().max(100).catch("").default("") });

/** Where the request the proxy asks about was going, or why it cannot be told. */
type Target = { ok: true; request: GatedRequest; url: string } | { ok: false; problem: string };

function targetOf(url: string | undefined, method: string | undefined, upgrade: string | undefined): Target {
  if (!url) return { ok: false, problem: "missing_original_url" };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, problem: "bad_original_url" };
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return { ok: false, problem: "bad_original_url" };
  // No method named: the strictest reading (read/write), never the most lenient.
  return {
    ok: true,
    url: parsed.toString(),
    request: { hostKey: parsed.host, method: method ?? "", websocket: /\bwebsocket\b/i.test(upgrade ?? ""), path: parsed.pathname },
  };
}

/** nginx auth_request: X-Original-URL and X-Original-Method (see the README's "Gate" section for the location). */
function authRequestTarget(req: Request): Target {
  return targetOf(req.get("x-original-url"), req.get("x-original-method"), req.get("upgrade"));
}

/** Traefik, Caddy and HAProxy: the original request in X-Forwarded-Proto, -Host, -Uri and -Method. */
function forwardAuthTarget(req: Request): Target {
  const proto = req.get("x-forwarded-proto")?.split(",")[0]?.trim();
  const host = req.get("x-forwarded-host")?.split(",")[0]?.trim();
  if (!proto || !host) return { ok: false, problem: "missing_forwarded_host" };
  return targetOf(`${proto}://${host}${req.get("x-forwarded-uri") ?? "/"}`, req.get("x-forwarded-method"), req.get("upgrade"));
}

/** Header values go out as UTF-8 bytes, which is what upstream applications written for Authelia's headers read. */
function headerValue(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1");
}

/** The refusal as a page a person can read: which system, what they tried, their permission now, who to ask. */
function renderRefusal(res: Response, result: Extract<GateAnswer, { status: 403 }>, request: GatedRequest | undefined, consoleUrl: string): void {
  // Mounted before helmet: the page carries its own headers, stricter than the console's (no script, no style).
  res.set({
    "Cache-Control": "no-store",
    "X-Gatehouse-Reason": result.reason,
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
  });
  res.status(403).render("gate/refused", {
    title: result.refused ? `Not allowed on ${result.refused.systemName}` : "Not allowed",
    refused: result.refused ?? null,
    reason: result.reason,
    tried: request ? `${request.method ? `${request.method.toUpperCase()} ` : ""}${request.path}` : null,
    consoleUrl,
  });
}

/**
 * The proxy's answer, written directly: it is asked before every request to a system, and Express's `send` would
 * hash each body for an ETag nobody revalidates (a proxy's question is never cached: no-store).
 */
function reply(res: Response, status: number, headers: Record<string, string>, text: string): void {
  // A Buffer, not a string: Node joins unsent headers to a string body and encodes both as UTF-8, which would
  // mangle the headers' bytes (Remote-Name carries UTF-8 bytes as latin1 characters).
  const body = Buffer.from(text, "utf8");
  res.writeHead(status, { ...headers, "Cache-Control": "no-store", "Content-Type": "text/plain; charset=utf-8", "Content-Length": String(body.length) });
  res.end(body);
}

/** What the proxy is told: a 200 carries who it is twice, in the Remote-* headers and signed in `X-Gatehouse-Jwt`. */
type ProxyAnswer = Exclude<GateAnswer, { status: 200 }> | (Extract<GateAnswer, { status: 200 }> & { jwt: string });

function answer(res: Response, result: ProxyAnswer): void {
  if (result.status === 200) {
    const { identity } = result;
    const headers: Record<string, string> = {
      "Remote-User": headerValue(identity.username),
      "Remote-Name": headerValue(identity.name),
      "Remote-Groups": headerValue(identity.groups.join(",")),
      "Remote-Permission": identity.permission,
      "X-Gatehouse-Jwt": result.jwt,
    };
    if (identity.email) headers["Remote-Email"] = headerValue(identity.email);
    reply(res, 200, headers, "allowed\n");
  } else if (result.status === 401) {
    reply(res, 401, { "WWW-Authenticate": 'Bearer realm="gatehouse"' }, "Sign in to Gatehouse first.\n");
  } else {
    reply(res, 403, { "X-Gatehouse-Reason": result.reason }, `Refused by Gatehouse: ${result.reason}.\n`);
  }
}

/**
 * The gate cookie: host-only on the system's host (no Domain), so it never reaches another system or the console;
 * `__Host-` on https, where the prefix makes the browser insist on Secure, Path=/ and no Domain.
 */
const GATE_COOKIE = { https: "__Host-gatehouse-gate", http: "gatehouse-gate" } as const;

function gateCookieOf(req: Request): string | undefined {
  const header = req.get("cookie") ?? "";
  for (const part of header.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === GATE_COOKIE.https || name === GATE_COOKIE.http) return value.join("=");
  }
  return undefined;
}

/** What the request shows of who is asking: a personal API token (a script) or else a gate cookie (a browser). */
type Credential = { token: string } | { cookie: string } | null;

function credentialOf(req: Request): Credential {
  const token = BEARER.exec(req.get("authorization") ?? "")?.[1];
  if (token) return { token };
  const cookie = gateCookieOf(req);
  return cookie ? { cookie } : null;
}

/** A browser's own navigation (not a script's call): it can follow a redirect to the sign-in and back. */
function isBrowserNavigation(req: Request): boolean {
  return /\btext\/html\b/i.test(req.get("accept") ?? "");
}

/**
 * The gate: reverse proxies in front of a system's web address ask here before each request. Mounted before the
 * console's session, so the console's cookie is never read at the gate. Forwarded headers are believed only from
 * the trusted proxies (loopback unless GATE_TRUSTED_PROXIES names others); anyone else is refused. The answer is
 * 200, 401 or 403, never a redirect on auth-request (nginx treats one as an error); a 200 says who it is in the
 * Remote-* headers and, signed, in X-Gatehouse-Jwt (services/gate-assertions.ts).
 * A browser signs in through /gate/start (routes/gate/start.ts) and the handshake below, which leaves a gate cookie
 * on the system's host; a script sends a personal API token.
 */
export function gateRouter({ config, db, keys, gateCounters }: Pick<RouteDeps, "config" | "db" | "keys" | "gateCounters">): Router {
  const router = Router();
  const trusted = proxyMatcher(config.gateTrustedProxies);
  const assertions = new GateAssertions(db, keys, config.baseUrl);
  const answerFor = (credential: Credential, request: GatedRequest): Promise<GateAnswer> =>
    credential === null
      ? Promise.resolve({ status: 401 })
      : "token" in credential
        ? answerForToken(db, keys, credential.token, request)
        : answerForGateSession(db, credential.cookie, request);

  const handle = (target: (req: Request) => Target, browserRedirects: boolean) => async (req: Request, res: Response) => {
    if (!trusted(canonicalAddress(req.socket.remoteAddress))) return answer(res, { status: 403, reason: "untrusted_proxy" });
    const found = target(req);
    if (!found.ok) return reply(res, 403, { "X-Gatehouse-Reason": found.problem }, `Refused by Gatehouse: the proxy sent no usable address (${found.problem}).\n`);
    const decided = await answerFor(credentialOf(req), found.request);
    const result: ProxyAnswer =
      decided.status === 200 ? { ...decided, jwt: await assertions.assertionFor(decided.assertion.audience, decided.assertion.claims) } : decided;
    await noteGateAnswer(db, gateCounters, actorOf(req), result, found.request);
    if (result.status === 403 && browserRedirects && isBrowserNavigation(req)) {
      // forward-auth passes this body on to the browser: a page, not a bare status.
      return renderRefusal(res, result, found.request, config.baseUrl);
    }
    if (result.status === 401 && browserRedirects && isBrowserNavigation(req)) {
      // forward-auth: the proxy passes this answer to the browser, which goes to sign in and comes back (nginx's
      // auth_request cannot pass a redirect on; its configuration sends the 401 to /gate/start instead).
      const method = found.request.method.toUpperCase();
      res.set("Cache-Control", "no-store");
      return res.redirect(method === "GET" || method === "HEAD" ? 302 : 303, `${config.baseUrl}/gate/start?${new URLSearchParams({ rd: found.url })}`);
    }
    answer(res, result);
  };

  router.all("/gate/auth-request", handle(authRequestTarget, false));
  router.all("/gate/forward-auth", handle(forwardAuthTarget, true));

  /**
   * The handshake's second half, on the system's own host (the proxy routes /.gatehouse/ here): the code from
   * /gate/start is used up and the browser gets the host-only gate cookie, then goes where it wanted to.
   */
  router.get("/.gatehouse/callback", validate({ query: CallbackQuery }), async (req: Request, res: Response) => {
    res.set("Cache-Control", "no-store");
    if (!trusted(canonicalAddress(req.socket.remoteAddress))) return answer(res, { status: 403, reason: "untrusted_proxy" });
    const proto = (req.get("x-forwarded-proto")?.split(",")[0]?.trim() ?? "http").toLowerCase() === "https" ? "https" : "http";
    const host = req.get("x-forwarded-host")?.split(",")[0]?.trim() || req.get("host") || "";
    let hostKey = "";
    try {
      hostKey = new URL(`${proto}://${host}`).host;
    } catch {
      hostKey = "";
    }
    const { code } = input<unknown, z.infer<typeof CallbackQuery>>(res).query;
    const done = hostKey ? await completeGateSignIn(db, actorOf(req), code, hostKey) : undefined;
    if (!done) {
      return res
        .status(400)
        .type("text/plain")
        .send("This sign-in link has expired or was already used. Open the system's address again to sign in.\n");
    }
    res.cookie(GATE_COOKIE[proto], done.cookieValue, {
      httpOnly: true,
      secure: proto === "https",
      sameSite: "lax",
      path: "/",
      expires: done.expiresAt,
    });
    res.redirect(302, done.returnTo);
  });
  /**
   * nginx's `error_page 403 = /.gatehouse/denied` after a refusal: auth_request drops the refusal's body, so the
   * page is made again here from the same facts (the original address in X-Original-URL, the person's cookie).
   */
  router.get("/.gatehouse/denied", async (req: Request, res: Response) => {
    res.set("Cache-Control", "no-store");
    if (!trusted(canonicalAddress(req.socket.remoteAddress))) return answer(res, { status: 403, reason: "untrusted_proxy" });
    const found = authRequestTarget(req);
    const credential = credentialOf(req);
    if (!found.ok || !credential) return renderRefusal(res, { status: 403, reason: "no_access" }, undefined, config.baseUrl);
    // nginx's internal redirect turns the refused request into a GET, so its method is gone: if reading is refused,
    // that was it; if reading is allowed, the refusal was of a change.
    const asRead = await answerFor(credential, { ...found.request, method: "GET" });
    const result = asRead.status === 200 ? await answerFor(credential, { ...found.request, method: "POST" }) : asRead;
    const refusal: Extract<GateAnswer, { status: 403 }> =
      result.status === 403 ? result : { status: 403, reason: asRead.status === 200 ? "read_only" : "no_access" };
    renderRefusal(res, refusal, { ...found.request, method: "" }, config.baseUrl);
  });
  return router;
}
