import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { csrfSync } from "csrf-sync";
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import session from "express-session";
import helmet from "helmet";
import { createPassport } from "./auth/passport.ts";
import { DbSessionStore } from "./auth/session-store.ts";
import type { Config } from "./config.ts";
import type { Db } from "./db/index.ts";
import { canonicaliseClientAddresses } from "./lib/client-address.ts";
import { gateRouter } from "./routes/gate/index.ts";
import { OidcProviderHolder } from "./routes/oidc/holder.ts";
import { oidcProviderMiddleware } from "./routes/oidc/index.ts";
import { GateCounters } from "./services/gate.ts";
import { deriveKey, deriveSecretKeys } from "./lib/app-secret.ts";
import { takeFlash } from "./lib/flash.ts";
import type { Logger } from "./lib/logger.ts";
import { adminTwoFactorGate } from "./middleware/admin-two-factor.ts";
import { errorHandler, notFound } from "./middleware/error-handler.ts";
import { fileUpload } from "./middleware/file-upload.ts";
import { jsonBody } from "./middleware/json-body.ts";
import { originCheck } from "./middleware/origin-check.ts";
import { pendingSignInGate } from "./middleware/pending-sign-in.ts";
import { requestLog } from "./middleware/request-log.ts";
import { sessionTimeouts } from "./middleware/session-timeouts.ts";
import { setupGate } from "./middleware/setup-gate.ts";
import { presentCurrentUser } from "./presenters/user.ts";
import { healthRouter } from "./routes/health.ts";
import { API_BASE, apiRouter } from "./routes/api/index.ts";
import { appRouter } from "./routes/index.ts";
import { keepaliveRouter } from "./routes/keepalive.ts";
import { MailOutbox } from "./services/mail-outbox.ts";
import { OidcLogoutNotices } from "./services/oidc-logout.ts";
import { IMPORT_MAX_BYTES } from "./services/user-import.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
/** Where static files are served: their request lines are logged at debug (middleware/request-log.ts). */
const STATIC_PREFIXES = ["/css/", "/js/"];
const picoDir = path.dirname(createRequire(import.meta.url).resolve("@picocss/pico/css/pico.min.css"));

export interface AppDeps {
  config: Config;
  db: Db;
  logger: Logger;
  /** The one secret every key derives from (cookies, one-time codes, stored secrets). */
  appSecret: string;
}

export interface App {
  app: Express;
  sessionStore: DbSessionStore;
  /** Sends queued mail; requests send their own messages at once, and `start()` retries the rest. */
  mailOutbox: MailOutbox;
  /** Allowed gate requests, counted in this process and saved every few seconds (start and stop it with the server). */
  gateCounters: GateCounters;
  /** Sends systems their back-channel logout tokens (start and stop it with the server). */
  oidcLogoutNotices: OidcLogoutNotices;
}

/**
 * express-session sends a response's headers before its store write finishes, so a browser can follow a redirect
 * with the old session: a new sign-in looks signed out, and a flash message is lost for good when that next
 * request writes its own session back. For a session that carries an account, a message or a step in progress (2FA), save first.
 */
function saveSessionBeforeRedirect(req: Request, res: Response, next: NextFunction): void {
  const redirect = res.redirect.bind(res) as (...args: unknown[]) => void;
  res.redirect = ((...args: unknown[]) => {
    const session = req.session;
    const carriesState = session?.passport?.user || session?.flash?.length || session?.pendingSignIn || session?.pendingPasswordChange || session?.pendingTotp || session?.recoveryCodesToShow;
    if (!session || !carriesState) return redirect(...args);
    session.save((err) => (err ? next(err) : redirect(...args)));
  }) as Response["redirect"];
  next();
}

export function createApp({ config, db, logger, appSecret }: AppDeps): App {
  const app = express();
  const sessionSecret = deriveKey(appSecret, "session-cookie").toString("base64url");
  const keys = deriveSecretKeys(appSecret);
  const mailOutbox = new MailOutbox(db, keys, logger);
  const gateCounters = new GateCounters(db, logger);
  app.disable("x-powered-by");
  if (config.trustProxy > 0) app.set("trust proxy", config.trustProxy);
  canonicaliseClientAddresses(app);
  const views = path.join(root, "views");
  app.set("views", views);
  app.set("view engine", "ejs");
  // Templates include each other by absolute names ("/partials/head") under `root`: a relative include costs a
  // check on disk at every render (fs.existsSync in ejs), 3% of a /systems page's CPU (bench:http).
  app.set("view options", { root: views });
  if (config.env === "production") {
    app.enable("view cache");
    // The line bookkeeping was a fifth of the CPU of a /systems page (bench:http); template errors then name no line.
    app.set("view options", { root: views, compileDebug: false });
  }

  // What every template expects, set before anything can fail: a body too large or unreadable is refused
  // before the session is even read, and its error page renders with these (anonymous, no flash).
  app.use((req: Request, res: Response, next: NextFunction) => {
    res.locals.currentUser = null;
    res.locals.flash = [];
    res.locals.currentPath = req.path;
    res.locals.csrfToken = () => "";
    res.locals.sessionExpired = false;
    next();
  });

  app.use(requestLog(logger, { quietPrefixes: STATIC_PREFIXES }));
  // The gate, first: proxies ask it before every request to a system, so it skips what only the console's pages
  // need (helmet's headers, static files, sessions); it never reads the console's cookie (routes/gate).
  app.use(gateRouter({ config, db, keys, gateCounters }));

  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          baseUri: ["'none'"],
          objectSrc: ["'none'"],
          frameAncestors: ["'none'"],
          formAction: ["'self'"],
          scriptSrc: ["'self'"],
          scriptSrcAttr: ["'none'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", "data:"],
          fontSrc: ["'self'"],
          ...(config.secureCookies ? { upgradeInsecureRequests: [] } : {}),
        },
      },
      strictTransportSecurity: config.secureCookies ? { maxAge: 31_536_000, includeSubDomains: true } : false,
      referrerPolicy: { policy: "same-origin" },
      frameguard: { action: "deny" },
    }),
  );

  // Mounted on the folders public/ has, so that a page request does not look for a file of its name on disk first.
  // A name under them that is not a file is a 404 from here (fallthrough: false), before sessions and the setup
  // gate: a scanner's guesses cost no database query and no redirect (docs/security.md H1).
  app.use("/css/pico", express.static(picoDir, { maxAge: "7d", fallthrough: false }));
  for (const folder of ["css", "js"])
    app.use(`/${folder}`, express.static(path.join(root, "public", folder), { maxAge: config.env === "production" ? "1h" : 0, fallthrough: false }));
  app.use(healthRouter(db));

  const passport = createPassport(db, { keys, logger });
  const oidc = new OidcProviderHolder({ config, db, keys, logger }, [deriveKey(appSecret, "oidc-cookies").toString("base64url")]);
  const oidcLogoutNotices = new OidcLogoutNotices(db, (notice) => oidc.deliverLogoutToken(notice), logger);
  const routeDeps = { config, db, passport, keys, mailOutbox, gateCounters, oidcLogoutNotices, logger, oidc };
  // Before sessions and CSRF: the API authenticates each request by its bearer token alone, and reads its own JSON.
  app.use(API_BASE, apiRouter(routeDeps));

  const cookieName = config.secureCookies ? "__Host-sid" : "gatehouse.sid";
  app.set("sessionCookieName", cookieName);
  const sessionStore = new DbSessionStore(db, config.session.absoluteHours * 3_600_000);
  app.use(
    session({
      name: cookieName,
      secret: sessionSecret,
      store: sessionStore,
      resave: false,
      saveUninitialized: false,
      // Not rolling: the cookie's expiry is the absolute limit, the same on every response, so it is sent again only
      // with a session that changed (at least once a minute while in use: lastSeenAt), not signed for each request.
      rolling: false,
      proxy: config.trustProxy > 0,
      cookie: {
        httpOnly: true,
        sameSite: "lax",
        secure: config.secureCookies,
        path: "/",
        maxAge: config.session.absoluteHours * 3_600_000,
      },
    }),
  );

  app.use(passport.initialize());
  app.use(passport.session());
  app.use(saveSessionBeforeRedirect);
  app.use(sessionTimeouts(config, db));
  // "Sign in with Gatehouse": after the session (its sign-in step is the console's), before the body parsers (the
  // provider reads its own).
  app.use(oidcProviderMiddleware(oidc));

  app.use(express.urlencoded({ extended: false, limit: "100kb", parameterLimit: 1000 }));
  app.use(jsonBody);

  app.use((_req: Request, res: Response, next: NextFunction) => {
    // Signed-in pages must not come back from the browser's cache after sign-out (the Back button).
    res.set("Cache-Control", "no-store");
    next();
  });

  const csrf = csrfSync({
    size: 32,
    getTokenFromRequest: (req) => (req.body?._csrf as string | undefined) ?? (req.get("x-csrf-token") || undefined),
  });
  // Before the cross-site checks, so that their 403 page shows the signed-in account as on any other page.
  app.use((req: Request, res: Response, next: NextFunction) => {
    res.locals.csrfToken = () => csrf.generateToken(req);
    res.locals.currentUser = presentCurrentUser(req.user);
    res.locals.flash = takeFlash(req);
    next();
  });
  // The one multipart form: read before the CSRF check so that its token is found among the form's fields.
  app.use("/admin/users/import", fileUpload({ maxFileBytes: IMPORT_MAX_BYTES, maxRequestBytes: 4 * IMPORT_MAX_BYTES }));
  app.use(originCheck(config));
  app.use(csrf.csrfSynchronisedProtection);
  app.use((req: Request, _res: Response, next: NextFunction) => {
    if (req.body && typeof req.body === "object") delete req.body._csrf;
    next();
  });

  app.use(setupGate(db));
  app.use(pendingSignInGate);
  // Before the 2FA gate: keeping a session alive is not one of the things an administrator without 2FA is kept from.
  app.use(keepaliveRouter());
  app.use(adminTwoFactorGate(db));
  app.use(appRouter(routeDeps));
  app.use(notFound);
  app.use(errorHandler(logger));

  return { app, sessionStore, mailOutbox, gateCounters, oidcLogoutNotices };
}
