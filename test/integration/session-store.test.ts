import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Request } from "express";
import type { SessionData } from "express-session";
import { DbSessionStore } from "../../src/auth/session-store.ts";
import type { Db } from "../../src/db/index.ts";
import { deleteExpiredSessions, deleteSessionOfUser, deleteUserSessions } from "../../src/repositories/sessions.ts";
import { createTestDb, resetDb } from "../helpers/db.ts";
import { buildUser } from "../helpers/factories.ts";

let db: Db;
let store: DbSessionStore;
beforeAll(async () => {
  db = await createTestDb();
  store = new DbSessionStore(db, 3_600_000);
});
afterAll(async () => {
  await db.destroy();
});
beforeEach(async () => {
  await resetDb(db);
});

function save(sid: string, data: object): Promise<unknown> {
  return new Promise((resolve) => store.set(sid, data as SessionData, (err) => resolve(err)));
}

function load(sid: string): Promise<SessionData | null | undefined> {
  return new Promise((resolve, reject) => store.get(sid, (err, session) => (err ? reject(err) : resolve(session))));
}

const future = () => new Date(Date.now() + 3_600_000).toISOString();

describe("DbSessionStore", () => {
  it("keeps an account's session and lists it under the account", async () => {
    const user = await buildUser(db);
    expect(await save("s1", { cookie: { expires: future() }, passport: { user: { id: user.id, sv: 1 } } })).toBeUndefined();
    expect((await load("s1"))?.cookie).toBeDefined();
    expect(await deleteUserSessions(db, user.id)).toBe(1);
    expect(await load("s1")).toBeNull();
  });

  it("does not bring back the session of an account disabled or deleted while its request was in flight", async () => {
    const disabled = await buildUser(db);
    const deleted = await buildUser(db);
    await db("users").where({ id: disabled.id }).update({ disabled: true });
    await db("users").where({ id: deleted.id }).delete();
    expect(await save("late-1", { cookie: { expires: future() }, passport: { user: { id: disabled.id, sv: 1 } } })).toBeUndefined();
    expect(await save("late-2", { cookie: { expires: future() }, passport: { user: { id: deleted.id, sv: 1 } } })).toBeUndefined();
    expect(await load("late-1")).toBeNull();
    expect(await load("late-2")).toBeNull();
  });

  it("keeps anonymous sessions and removes expired ones", async () => {
    await save("anon", { cookie: { expires: future() } });
    await save("old", { cookie: { expires: new Date(Date.now() - 1000).toISOString() } });
    expect(await load("anon")).not.toBeNull();
    expect(await load("old")).toBeNull();
    expect(await deleteExpiredSessions(db)).toBe(1);
  });
});

describe("a session signed out while a request of it is in flight", () => {
  /** What express-session does with a request: get() the stored session and build req.session from it (createSession). */
  async function loadAsRequest(sid: string): Promise<SessionData> {
    const data = await load(sid);
    if (!data) throw new Error(`no session ${sid}`);
    const req = { sessionID: sid, sessionStore: store } as unknown as Request;
    return store.createSession(req, data) as unknown as SessionData;
  }

  it("does not bring it back: the in-flight request's save or touch writes nothing once the row is gone", async () => {
    const user = await buildUser(db);
    await save("s-out", { cookie: { expires: future() }, passport: { user: { id: user.id, sv: 1 } } });
    const inFlight = await loadAsRequest("s-out");
    // Meanwhile: "Sign out" of that one session (the console's, or the Profile page's session list).
    expect(await deleteSessionOfUser(db, user.id, "s-out")).toBe(true);

    (inFlight as unknown as { lastSeenAt: number }).lastSeenAt = Date.now();
    expect(await save("s-out", inFlight)).toBeUndefined();
    await new Promise<void>((resolve, reject) => store.touch("s-out", inFlight, (err) => (err ? reject(err) : resolve())));
    expect(await db("sessions").where({ sid: "s-out" }).first()).toBeUndefined();
  });

  it("still updates a loaded session that was not signed out, and stores a new one", async () => {
    const user = await buildUser(db);
    await save("s-kept", { cookie: { expires: future() }, passport: { user: { id: user.id, sv: 1 } } });
    const loaded = await loadAsRequest("s-kept");
    (loaded as unknown as { recentPages: string[] }).recentPages = ["/kept"];
    expect(await save("s-kept", loaded)).toBeUndefined();
    expect(((await load("s-kept")) as unknown as { recentPages: string[] }).recentPages).toEqual(["/kept"]);
  });
});
