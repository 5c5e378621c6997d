import type { Request } from "express";
import session from "express-session";
import type { Db } from "../db/index.ts";
import * as sessions from "../repositories/sessions.ts";
import { GENERAL_KEY } from "../services/general-settings.ts";
import { rememberSessionContext, type SessionContext } from "./session-context.ts";

const CONTEXT = Symbol("sessionContext");
/** Marks a request's session that was read from the store (rather than made new by this request). */
const LOADED = Symbol("loadedFromStore");

type Callback<T = void> = (err?: unknown, value?: T) => void;

interface SessionShape {
  cookie?: { expires?: string | Date | null };
  passport?: { user?: { id?: number } };
  client?: { ip?: string; userAgent?: string };
}

/**
 * express-session store on our own `sessions` table. Written here rather than taken from
 * connect-session-knex because that store rethrows after calling back (an unhandled rejection while the
 * database is away), does not recognise PGlite as Postgres, and has no account column to list or end
 * one account's sessions with.
 */
export class DbSessionStore extends session.Store {
  private cleanup: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly fallbackLifetimeMs: number,
  ) {
    super();
  }

  /** Deletes expired rows now and then; off in tests, which control time themselves. */
  startCleanup(intervalMs = 10 * 60_000): void {
    this.cleanup = setInterval(() => {
      sessions.deleteExpiredSessions(this.db).catch(() => undefined);
    }, intervalMs);
    this.cleanup.unref();
  }

  close(): void {
    if (this.cleanup) clearInterval(this.cleanup);
  }

  /** Reads the account and the General settings with the session (see createSession): one round trip for all three. */
  override get(sid: string, callback: Callback<session.SessionData | null>): void {
    sessions.findSessionWithContext(this.db, sid, GENERAL_KEY, Date.now()).then((row) => {
      if (!row) return callback(null, null);
      const context: SessionContext = { user: row.user, generalSettings: row.settings, lastSeenBefore: row.lastSeenBefore };
      // Not enumerable: express-session neither copies it into the session nor counts it when judging a change.
      Object.defineProperty(row.sess, CONTEXT, { value: context, enumerable: false });
      callback(null, row.sess as unknown as session.SessionData);
    }, (err) => callback(err));
  }

  /** express-session builds the request's session here, the one place that sees both the request and what get() read. */
  override createSession(req: Request, data: session.SessionData): session.Session & session.SessionData {
    const context = (data as unknown as Record<symbol, SessionContext | undefined>)[CONTEXT];
    if (context) rememberSessionContext(req, context);
    const created = super.createSession(req, data);
    // Not enumerable, like CONTEXT: never stored, never part of express-session's change detection.
    Object.defineProperty(created, LOADED, { value: true, enumerable: false });
    return created;
  }

  /**
   * A session this request read from the store is only updated, never inserted again: when its row is gone, it was
   * signed out (or expired) while the request was in flight, and writing it back would undo that
   * (repositories/sessions.ts, updateSession). Only a session the request made itself (a new visitor, or a new id after
   * regenerate) is inserted.
   */
  override set(sid: string, data: session.SessionData, callback?: Callback): void {
    const shape = data as unknown as SessionShape;
    const write: sessions.SessionWrite = {
      sid,
      sess: data as unknown as Record<string, unknown>,
      expiresAt: this.expiry(shape),
      userId: shape.passport?.user?.id ?? null,
      clientIp: shape.client?.ip ?? null,
      userAgent: shape.client?.userAgent?.slice(0, 500) ?? null,
    };
    const loaded = (data as unknown as Record<symbol, boolean | undefined>)[LOADED] === true;
    (loaded ? sessions.updateSession(this.db, write) : sessions.upsertSession(this.db, write))
      .then(
        () => callback?.(),
        (err) => callback?.(err),
      );
  }

  /**
   * Nothing to write: the expiry is absolute (the cookie's, set from the sign-in time by session-timeouts) and set()
   * stored it, and "last seen" moves with set() when lastSeenAt does (every request of a signed-in session).
   */
  override touch(_sid: string, _data: session.SessionData, callback?: Callback): void {
    callback?.();
  }

  override destroy(sid: string, callback?: Callback): void {
    sessions.deleteSession(this.db, sid).then(
      () => callback?.(),
      (err) => callback?.(err),
    );
  }

  private expiry(data: SessionShape): Date {
    const expires = data.cookie?.expires;
    return expires ? new Date(expires) : new Date(Date.now() + this.fallbackLifetimeMs);
  }
}
