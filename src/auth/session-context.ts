import type { Request } from "express";
import type { Queryable } from "../db/index.ts";
import type { Config } from "../config.ts";
import type { StoredSettings } from "../repositories/settings.ts";
import { type GeneralSettings, generalSettingsFrom, readGeneralSettings } from "../services/general-settings.ts";
import type { User } from "../types/user.ts";

/** What the session store read with a request's session, in the same statement (DbSessionStore.get). */
export interface SessionContext {
  user: User | undefined;
  generalSettings: StoredSettings<unknown> | undefined;
  /** The signed-in session's lastSeenAt before the store moved it to this request's time (ms since the epoch). */
  lastSeenBefore: number | undefined;
}

const contexts = new WeakMap<Request, SessionContext>();

export function rememberSessionContext(req: Request, context: SessionContext): void {
  contexts.set(req, context);
}

/**
 * When this request's signed-in session was last used before it: the store has already moved the session's
 * lastSeenAt to now (DbSessionStore.get). Undefined for a session the store did not read (a new one).
 */
export function lastSeenBeforeRequest(req: Request): number | undefined {
  return contexts.get(req)?.lastSeenBefore;
}

/** The account read with the session, if it is the one asked for; undefined: read it yourself. */
export function accountReadWithSession(req: Request, id: number): User | undefined {
  const user = contexts.get(req)?.user;
  return user?.id === id ? user : undefined;
}

/**
 * The General settings in force for this request: those read with its session when there is one, else read now.
 * Either way as fresh as the request (they are never kept from one request to the next).
 */
export async function generalSettingsOfRequest(
  req: Request,
  db: Queryable,
  session?: Config["session"],
): Promise<{ value: GeneralSettings; version: number }> {
  const context = contexts.get(req);
  return context ? generalSettingsFrom(context.generalSettings, session) : readGeneralSettings(db, session);
}
