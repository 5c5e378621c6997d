import type { Request } from "express";
import { Passport } from "passport";
import { Strategy as LocalStrategy } from "passport-local";
import type { Db } from "../db/index.ts";
import * as users from "../repositories/users/index.ts";
import { accountReadWithSession } from "./session-context.ts";
import { type DirectoryAccess, signInWithPassword } from "../services/sign-in.ts";

/** What the session keeps of an account: its id and the session version it signed in with. */
interface SessionUser {
  id: number;
  sv: number;
}

export type GatehousePassport = InstanceType<typeof Passport>;

/**
 * One sign-in form for every account (docs/domain.md, "LDAP"): the "local" strategy checks a local account's own password,
 * and hands an LDAP account, or an unknown name while LDAP is configured, to the directory.
 */
export function createPassport(db: Db, directory: DirectoryAccess): GatehousePassport {
  const passport = new Passport();

  passport.use(
    "local",
    new LocalStrategy({ passReqToCallback: true }, (req, username, password, done) => {
      signInWithPassword(db, {
        username,
        password,
        clientIp: req.ip ?? "unknown",
        requestId: String(req.id ?? ""),
      }, directory).then(
        (result) => {
          // The route reads `passwordReset`: the account signed in with a reset code or temporary password.
          const info = result.ok && result.passwordReset ? { message: "password reset", passwordReset: result.passwordReset } : undefined;
          done(null, result.ok ? result.user : false, info);
        },
        (err) => done(err),
      );
    }),
  );

  passport.serializeUser((user, done) => {
    const value: SessionUser = { id: user.id, sv: user.sessionVersion };
    done(null, value);
  });

  // Reloads the account on every request: a disable, deletion, demotion or password change takes effect at once.
  // The session store has usually read it already, with the session itself.
  passport.deserializeUser((req: Request, value: SessionUser, done: (err: unknown, user?: Express.User | false) => void) => {
    const preloaded = accountReadWithSession(req, value.id);
    (preloaded ? Promise.resolve(preloaded) : users.findUserById(db, value.id)).then(
      (user) => done(null, user && !user.disabled && user.sessionVersion === value.sv ? user : false),
      (err) => done(err),
    );
  });

  return passport;
}
