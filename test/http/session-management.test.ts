import type { Express } from "express";
import { generate } from "otplib";
import supertest from "supertest";
import { beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { describeUserAgent } from "../../src/presenters/user-agent.ts";
import { findUserById } from "../../src/repositories/users/index.ts";
import { sessionHandle } from "../../src/services/sessions.ts";
import { confirmTotpEnrolment, startTotpEnrolment } from "../../src/services/two-factor.ts";
import { createTestApp } from "../helpers/app.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { useTestDb } from "../helpers/db.ts";
import { pageText, tableRows } from "../helpers/html.ts";
import { testKeys } from "../helpers/mail.ts";
import { agentSessionCookie, auditEvents, sessionCountOf, sessionExists, setSessionClocks, sidOf } from "../helpers/sign-in.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

let db: Db;
useTestDb((created) => {
  db = created;
});

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const CHROME_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const SAFARI_IOS =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

const NEW_PASSWORD = "a completely new passphrase 2031";

let app: Express;
beforeEach(() => {
  // Behind one proxy, so that X-Forwarded-For gives each test client its own address.
  app = createTestApp(db, { TRUST_PROXY: "1" });
});

/** Signs in through the real form from a browser with this User-Agent and address; the agent then holds a /profile token. */
async function signInFrom(user: { username: string; password: string }, client: { userAgent: string; ip: string }): Promise<TestAgent> {
  const agent = new TestAgent(app);
  const token = await agent.refreshToken("/login");
  const res = await agent.http
    .post("/login")
    .set("Accept", "text/html")
    .set("User-Agent", client.userAgent)
    .set("X-Forwarded-For", client.ip)
    .type("form")
    .send({ _csrf: token, username: user.username, password: user.password });
  expect(res.status).toBe(303);
  await agent.refreshToken("/profile");
  return agent;
}

/** Alice signed in from three browsers: Firefox on Linux (the one the tests act from), Chrome on Windows, Safari on iOS. */
async function aliceInThreeBrowsers() {
  const alice = await insertTestUser(db, { username: "alice" });
  const here = await signInFrom(alice, { userAgent: FIREFOX_LINUX, ip: "10.0.0.5" });
  const chrome = await signInFrom(alice, { userAgent: CHROME_WINDOWS, ip: "192.0.2.7" });
  const phone = await signInFrom(alice, { userAgent: SAFARI_IOS, ip: "198.51.100.9" });
  return { alice, here, chrome, phone };
}

const sid = (agent: TestAgent) => sidOf(agentSessionCookie(agent));

/** The Sign out buttons of the Sessions section: each form's session handle and the button's accessible name. */
function signOutButtons(html: string): { handle: string; name: string }[] {
  return [...html.matchAll(/action="\/profile\/sessions\/([0-9a-f]{64})\/sign-out"[\s\S]*?aria-label="([^"]*)"/g)].map((m) => ({
    handle: m[1] ?? "",
    name: m[2] ?? "",
  }));
}

/** Whether the agent's session is still signed in: /profile answers 200 rather than sending it to sign in. */
async function signedIn(agent: TestAgent): Promise<boolean> {
  const res = await agent.get("/profile");
  if (res.status === 303) {
    expect(res.headers.location).toMatch(/^\/login/);
    return false;
  }
  expect(res.status).toBe(200);
  return true;
}

async function userForm(userId: number, changes: Record<string, string | undefined>): Promise<Record<string, string>> {
  const user = await findUserById(db, userId);
  if (!user) throw new Error("no such user");
  const form: Record<string, string | undefined> = {
    version: String(user.version),
    username: user.username,
    fullName: user.fullName,
    title: user.title,
    email: user.email ?? "",
    phone: user.phone,
    ...(user.isAdmin ? { isAdmin: "on" } : {}),
    authSource: user.authSource,
    ...changes,
  };
  return Object.fromEntries(Object.entries(form).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

describe("the Sessions section of /profile", () => {
  it("lists one's own sessions: browser, address, started, last seen; the current one marked 'This session'", async () => {
    const { here, chrome, phone } = await aliceInThreeBrowsers();
    const bob = await insertTestUser(db, { username: "bob" });
    await signInFrom(bob, { userAgent: FIREFOX_LINUX, ip: "203.0.113.200" });

    const res = await here.get("/profile");
    expect(res.status).toBe(200);
    const text = pageText(res.text);
    expect(res.text).toContain('<h2 id="sessions-heading">Sessions</h2>');
    expect(text).toContain("Your sessions");
    const rows = tableRows(res.text);
    expect(rows).toHaveLength(3);
    // The current session first, then the most recently seen.
    expect(rows[0]?.[0]).toBe("Firefox on Linux");
    expect(rows[0]?.[1]).toBe("10.0.0.5");
    expect(rows[0]?.[4]).toBe("This session");
    expect(rows.map((r) => `${r[0]}, ${r[1]}`).sort()).toEqual(["Chrome on Windows, 192.0.2.7", "Firefox on Linux, 10.0.0.5", "Safari on iOS, 198.51.100.9"]);
    for (const row of rows) {
      expect(row[2]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
      expect(row[3]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    }
    expect(rows.filter((r) => r[4] === "This session")).toHaveLength(1);
    // Bob's session is not Alice's business.
    expect(text).not.toContain("203.0.113.200");

    // One Sign out button per other session, named after it; the session ids themselves never appear.
    const buttons = signOutButtons(res.text);
    expect(buttons.map((b) => b.name).sort()).toEqual([
      "Sign out the session from Chrome on Windows, 192.0.2.7",
      "Sign out the session from Safari on iOS, 198.51.100.9",
    ]);
    expect(buttons.map((b) => b.handle).sort()).toEqual([sessionHandle(sid(chrome)), sessionHandle(sid(phone))].sort());
    for (const agent of [here, chrome, phone]) expect(res.text).not.toContain(sid(agent));
    expect(res.text).toContain('action="/profile/sessions/sign-out-everywhere"');
    expect(text).toContain("Sign out everywhere");
    expect(text).toContain("This session stays signed in.");
  });

  it("one session alone: 'This is your only session', and no Sign out everywhere", async () => {
    const alice = await insertTestUser(db, { username: "alice" });
    const agent = await signInFrom(alice, { userAgent: FIREFOX_LINUX, ip: "10.0.0.5" });
    const res = await agent.get("/profile");
    expect(pageText(res.text)).toContain("This is your only session.");
    expect(res.text).not.toContain("sign-out-everywhere");
    expect(signOutButtons(res.text)).toHaveLength(0);
  });

  it("sessions that have already ended are not listed: idle too long, or signed in with an older session version", async () => {
    const { alice, here, chrome, phone } = await aliceInThreeBrowsers();
    await setSessionClocks(db, sid(chrome), { lastSeenAt: Date.now() - 31 * MINUTE });
    // A pre-version-bump session (as after a password change elsewhere) is dead at its next request.
    const row = await db("sessions").where({ sid: sid(phone) }).first("sess");
    const sess = typeof row.sess === "string" ? JSON.parse(row.sess) : row.sess;
    await db("sessions")
      .where({ sid: sid(phone) })
      .update({ sess: JSON.stringify({ ...sess, passport: { user: { id: alice.id, sv: alice.sessionVersion - 1 } } }) });
    const rows = tableRows((await here.get("/profile")).text);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.[4]).toBe("This session");
  });

  it("two sessions from the same browser and address get distinct button names (their start times)", async () => {
    const alice = await insertTestUser(db, { username: "alice" });
    const here = await signInFrom(alice, { userAgent: FIREFOX_LINUX, ip: "10.0.0.5" });
    const a = await signInFrom(alice, { userAgent: CHROME_WINDOWS, ip: "192.0.2.7" });
    const b = await signInFrom(alice, { userAgent: CHROME_WINDOWS, ip: "192.0.2.7" });
    await db("sessions").where({ sid: sid(a) }).update({ created_at: new Date("2026-11-01T08:00:00Z") });
    await db("sessions").where({ sid: sid(b) }).update({ created_at: new Date("2026-11-02T09:30:00Z") });
    const names = signOutButtons((await here.get("/profile")).text).map((x) => x.name).sort();
    expect(names).toEqual([
      "Sign out the session from Chrome on Windows, 192.0.2.7, started 2026-11-01 08:00 UTC",
      "Sign out the session from Chrome on Windows, 192.0.2.7, started 2026-11-02 09:30 UTC",
    ]);
  });

  it("a browser that sends no User-Agent reads as 'Unknown browser'", async () => {
    const alice = await insertTestUser(db, { username: "alice" });
    const agent = await signedInAgent(app, alice);
    const rows = tableRows((await agent.get("/profile")).text);
    expect(rows[0]?.[0]).toBe("Unknown browser");
    expect(rows[0]?.[1]).toMatch(/^(127\.0\.0\.1|::1)$/);
  });

  it("escapes what the browser sent: a User-Agent with markup is shown as text", async () => {
    const alice = await insertTestUser(db, { username: "alice" });
    await signInFrom(alice, { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) <script>alert(1)</script> "><img src=x onerror=alert(1)>', ip: "10.0.0.9" });
    const here = await signInFrom(alice, { userAgent: FIREFOX_LINUX, ip: "10.0.0.5" });
    const res = await here.get("/profile");
    expect(res.text).not.toContain("<script>alert(1)");
    expect(res.text).not.toContain("<img src=x");
    expect(signOutButtons(res.text).map((b) => b.name)).toEqual(["Sign out the session from Unknown browser on Linux, 10.0.0.9"]);
  });
});

describe("Sign out (one session)", () => {
  it("ends exactly that session at once; the others and this one carry on; flash names it; audited without the session id", async () => {
    const { alice, here, chrome, phone } = await aliceInThreeBrowsers();
    const page = await here.get("/profile");
    const button = signOutButtons(page.text).find((b) => b.name.includes("Chrome on Windows"));
    expect(button).toBeDefined();
    const chromeSid = sid(chrome);

    const res = await here.post(`/profile/sessions/${button?.handle}/sign-out`);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/profile#sessions");
    expect(await sessionExists(db, chromeSid)).toBe(false);

    const after = await here.get("/profile");
    expect(after.status).toBe(200);
    expect(pageText(after.text)).toContain("Signed out the session from Chrome on Windows, 192.0.2.7.");
    expect(tableRows(after.text)).toHaveLength(2);

    expect(await signedIn(chrome)).toBe(false);
    expect(await signedIn(phone)).toBe(true);
    expect(await sessionCountOf(db, alice.id)).toBe(2);

    const [event] = await auditEvents(db, "session.ended");
    expect(event?.actorId).toBe(alice.id);
    expect(event?.targetType).toBe("user");
    expect(event?.targetId).toBe(String(alice.id));
    expect(event?.clientIp).toBe("127.0.0.1");
    expect(event?.details).toMatchObject({ session: { clientIp: "192.0.2.7", userAgent: CHROME_WINDOWS } });
    expect(JSON.stringify(event)).not.toContain(chromeSid);
  });

  it("signing out the same session twice: the second is a 404 and ends nothing more", async () => {
    const { here, chrome, phone } = await aliceInThreeBrowsers();
    const handle = sessionHandle(sid(chrome));
    expect((await here.post(`/profile/sessions/${handle}/sign-out`)).status).toBe(303);
    await here.refreshToken("/profile");
    const again = await here.post(`/profile/sessions/${handle}/sign-out`);
    expect(again.status).toBe(404);
    expect(pageText(again.text)).toContain("That session is not one of yours, or it has already ended.");
    expect(await signedIn(phone)).toBe(true);
    expect(await auditEvents(db, "session.ended")).toHaveLength(1);
  });

  it("one's own current session has no Sign out button here; posting its handle anyway is a 409 and ends nothing", async () => {
    const { here } = await aliceInThreeBrowsers();
    const res = await here.post(`/profile/sessions/${sessionHandle(sid(here))}/sign-out`);
    expect(res.status).toBe(409);
    expect(pageText(res.text)).toContain("This is the session you are using.");
    expect(await signedIn(here)).toBe(true);
    expect(await auditEvents(db, "session.ended")).toHaveLength(0);
  });
});

describe("ownership (object-level access, ASVS 8.2.2)", () => {
  it("another user's session handle is a 404, and that session carries on", async () => {
    const { alice, here } = await aliceInThreeBrowsers();
    const bob = await insertTestUser(db, { username: "bob" });
    const bobAgent = await signInFrom(bob, { userAgent: CHROME_WINDOWS, ip: "203.0.113.4" });
    const bobSid = sid(bobAgent);

    const res = await here.post(`/profile/sessions/${sessionHandle(bobSid)}/sign-out`);
    expect(res.status).toBe(404);
    expect(await sessionExists(db, bobSid)).toBe(true);
    expect(await signedIn(bobAgent)).toBe(true);
    expect(await sessionCountOf(db, alice.id)).toBe(3);
    expect(await auditEvents(db, "session.ended")).toHaveLength(0);
  });

  it("a raw session id, a made-up handle or junk in the URL is a 404; nothing ends", async () => {
    const { alice, here, chrome } = await aliceInThreeBrowsers();
    for (const bad of [sid(chrome), "0".repeat(64), "abc", "../sign-out-everywhere", `${sessionHandle(sid(chrome))}x`, "%00"]) {
      const res = await here.post(`/profile/sessions/${encodeURIComponent(bad)}/sign-out`);
      expect(res.status, bad).toBe(404);
    }
    expect(await sessionCountOf(db, alice.id)).toBe(3);
    expect(await signedIn(chrome)).toBe(true);
  });

  it("S2: a POST without a CSRF token is a 403 and ends nothing", async () => {
    const { alice, here, chrome } = await aliceInThreeBrowsers();
    for (const url of [`/profile/sessions/${sessionHandle(sid(chrome))}/sign-out`, "/profile/sessions/sign-out-everywhere"]) {
      const res = await here.http.post(url).set("Accept", "text/html").type("form").send({});
      expect(res.status, url).toBe(403);
    }
    expect(await sessionCountOf(db, alice.id)).toBe(3);
    expect(await signedIn(chrome)).toBe(true);
  });

  it("S3: GET never ends a session", async () => {
    const { alice, here, chrome } = await aliceInThreeBrowsers();
    for (const url of [`/profile/sessions/${sessionHandle(sid(chrome))}/sign-out`, "/profile/sessions/sign-out-everywhere"]) {
      const res = await here.get(url);
      expect(res.status, url).toBeGreaterThanOrEqual(400);
    }
    expect(await sessionCountOf(db, alice.id)).toBe(3);
  });

  it("anonymous: sent to sign in, nothing ends", async () => {
    const { alice, chrome } = await aliceInThreeBrowsers();
    const stranger = new TestAgent(app);
    const token = await stranger.refreshToken("/login");
    const res = await stranger.http
      .post(`/profile/sessions/${sessionHandle(sid(chrome))}/sign-out`)
      .set("Accept", "text/html")
      .type("form")
      .send({ _csrf: token });
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/login/);
    expect(await sessionCountOf(db, alice.id)).toBe(3);
  });

  it("extra fields in the form are a 400 and end nothing", async () => {
    const { alice, here, chrome } = await aliceInThreeBrowsers();
    const res = await here.post(`/profile/sessions/${sessionHandle(sid(chrome))}/sign-out`, { userId: "2" });
    expect(res.status).toBe(400);
    expect(await sessionCountOf(db, alice.id)).toBe(3);
  });
});

describe("Sign out everywhere", () => {
  it("ends every other session, keeps this one (signed in, under a new id), says so, and audits it", async () => {
    const { alice, here, chrome, phone } = await aliceInThreeBrowsers();
    const bob = await insertTestUser(db, { username: "bob" });
    const bobAgent = await signedInAgent(app, bob);
    const oldSid = sid(here);

    const res = await here.post("/profile/sessions/sign-out-everywhere");
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/profile#sessions");

    const page = await here.get("/profile");
    expect(page.status).toBe(200);
    expect(pageText(page.text)).toContain("Signed out 2 other sessions. This session stays signed in.");
    expect(pageText(page.text)).toContain("This is your only session.");
    // Kept, under a new session id (the old one is gone from the store).
    expect(sid(here)).not.toBe(oldSid);
    expect(await sessionExists(db, oldSid)).toBe(false);

    expect(await signedIn(chrome)).toBe(false);
    expect(await signedIn(phone)).toBe(false);
    expect(await signedIn(bobAgent)).toBe(true);
    expect(await sessionCountOf(db, alice.id)).toBe(1);
    // The account moved to a new session version: a copy of an old session written back later is refused too.
    expect((await findUserById(db, alice.id))?.sessionVersion).toBe(alice.sessionVersion + 1);

    const [event] = await auditEvents(db, "session.ended_others");
    expect(event?.actorId).toBe(alice.id);
    expect(event?.targetId).toBe(String(alice.id));
    expect(event?.details).toMatchObject({ sessionsEnded: 2, currentSessionKept: true });
  });

  it("the kept session still counts its lifetime from the original sign-in", async () => {
    const { here } = await aliceInThreeBrowsers();
    const authAt = Date.now() - 11 * HOUR;
    await setSessionClocks(db, sid(here), { authAt });
    expect((await here.post("/profile/sessions/sign-out-everywhere")).status).toBe(303);
    expect(await signedIn(here)).toBe(true);
    const row = await db("sessions").where({ sid: sid(here) }).first("sess");
    const sess = typeof row.sess === "string" ? JSON.parse(row.sess) : row.sess;
    expect(sess.authAt).toBe(authAt);
  });

  it("with no other session it just says so and keeps this one", async () => {
    const alice = await insertTestUser(db, { username: "alice" });
    const agent = await signedInAgent(app, alice);
    expect((await agent.post("/profile/sessions/sign-out-everywhere")).status).toBe(303);
    const page = await agent.get("/profile");
    expect(page.status).toBe(200);
    expect(pageText(page.text)).toContain("You had no other sessions. This session stays signed in.");
  });
});

describe("an administrator ending a user's sessions (/admin/users/:id)", () => {
  it("shows the active session count and End sessions; POST ends all of them, with the number, audited", async () => {
    const root = await insertTestAdmin(db, { username: "root" });
    const admin = await signedInAgent(app, root);
    const { alice, chrome, here, phone } = await aliceInThreeBrowsers();

    const page = await admin.get(`/admin/users/${alice.id}`);
    expect(page.status).toBe(200);
    const text = pageText(page.text);
    expect(text).toContain("Active sessions 3");
    expect(text).toContain("alice has 3 active sessions.");
    expect(page.text).toContain(`action="/admin/users/${alice.id}/sessions/end"`);
    expect(text).toContain("End sessions");

    const res = await admin.post(`/admin/users/${alice.id}/sessions/end`);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/admin/users/${alice.id}#sessions`);
    const after = await admin.get(`/admin/users/${alice.id}`);
    expect(pageText(after.text)).toContain("Ended 3 sessions of alice.");
    expect(pageText(after.text)).toContain("Active sessions 0");

    for (const agent of [here, chrome, phone]) expect(await signedIn(agent)).toBe(false);
    expect(await sessionCountOf(db, alice.id)).toBe(0);
    expect(await signedIn(admin)).toBe(true);

    const [event] = await auditEvents(db, "session.ended_by_admin");
    expect(event?.actorId).toBe(root.id);
    expect(event?.targetId).toBe(String(alice.id));
    expect(event?.targetLabel).toBe("alice");
    expect(event?.details).toMatchObject({ sessionsEnded: 3, currentSessionKept: false });
  });

  it("a user with no session: the flash says so", async () => {
    const admin = await signedInAgent(app, await insertTestAdmin(db, { username: "root" }));
    const bob = await insertTestUser(db, { username: "bob" });
    expect((await admin.post(`/admin/users/${bob.id}/sessions/end`)).status).toBe(303);
    expect(pageText((await admin.get(`/admin/users/${bob.id}`)).text)).toContain("bob had no active sessions.");
    expect(await auditEvents(db, "session.ended_by_admin")).toHaveLength(1);
  });

  it("on one's own account the current session stays, and the page says so", async () => {
    const root = await insertTestAdmin(db, { username: "root" });
    const here = await signedInAgent(app, root);
    const elsewhere = await signedInAgent(app, root);
    const page = await here.get(`/admin/users/${root.id}`);
    expect(pageText(page.text)).toContain("Your current session stays signed in.");
    expect(pageText(page.text)).toContain("You have 2 active sessions, this one included.");

    expect((await here.post(`/admin/users/${root.id}/sessions/end`)).status).toBe(303);
    const after = await here.get(`/admin/users/${root.id}`);
    expect(after.status).toBe(200);
    expect(pageText(after.text)).toContain("Ended 1 other session of yours. Your current session stays signed in.");
    expect(pageText(after.text)).toContain("Active sessions 1");
    expect(await signedIn(elsewhere)).toBe(false);
    expect(await sessionCountOf(db, root.id)).toBe(1);
    const [event] = await auditEvents(db, "session.ended_by_admin");
    expect(event?.details).toMatchObject({ sessionsEnded: 1, currentSessionKept: true });
  });

  it("A non-administrator gets 403 and ends nothing; an unknown or malformed id is a 404", async () => {
    const { alice, here, chrome } = await aliceInThreeBrowsers();
    const bob = await insertTestUser(db, { username: "bob" });
    const bobAgent = await signedInAgent(app, bob);
    await bobAgent.refreshToken("/profile");
    expect((await bobAgent.post(`/admin/users/${alice.id}/sessions/end`)).status).toBe(403);
    expect(await sessionCountOf(db, alice.id)).toBe(3);
    expect(await signedIn(chrome)).toBe(true);
    expect(await signedIn(here)).toBe(true);

    const admin = await signedInAgent(app, await insertTestAdmin(db, { username: "root" }));
    for (const id of ["999999", "abc", "-1", "1.5", "99999999999999999999"]) {
      expect((await admin.post(`/admin/users/${id}/sessions/end`)).status, id).toBe(404);
    }
    expect(await auditEvents(db, "session.ended_by_admin")).toHaveLength(0);
  });

  it("S2: without a CSRF token the POST is a 403 and ends nothing", async () => {
    const admin = await signedInAgent(app, await insertTestAdmin(db, { username: "root" }));
    const { alice } = await aliceInThreeBrowsers();
    const res = await admin.http.post(`/admin/users/${alice.id}/sessions/end`).set("Accept", "text/html").type("form").send({});
    expect(res.status).toBe(403);
    expect(await sessionCountOf(db, alice.id)).toBe(3);
  });
});

describe("S7: the account's sessions end with its rights (session version)", () => {
  it("S7: an administrator setting a user's password ends that user's sessions at their next request", async () => {
    const admin = await signedInAgent(app, await insertTestAdmin(db, { username: "root" }));
    const { alice, here, chrome } = await aliceInThreeBrowsers();
    const res = await admin.post(`/admin/users/${alice.id}`, await userForm(alice.id, { password: NEW_PASSWORD, confirmPassword: NEW_PASSWORD }));
    expect(res.status).toBe(303);
    // No longer counted as active, even before those sessions come back.
    expect(pageText((await admin.get(`/admin/users/${alice.id}`)).text)).toContain("Active sessions 0");
    expect(await signedIn(here)).toBe(false);
    expect(await signedIn(chrome)).toBe(false);
  });

  it("S7: changing one's own password ends the other sessions; this one carries on", async () => {
    const { alice, here, chrome, phone } = await aliceInThreeBrowsers();
    const res = await here.post("/profile/password", { currentPassword: alice.password, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    expect(res.status).toBe(303);
    expect(await signedIn(here)).toBe(true);
    expect(await signedIn(chrome)).toBe(false);
    expect(await signedIn(phone)).toBe(false);
    expect(tableRows((await here.get("/profile")).text)).toHaveLength(1);
  });

  it("S7: disabling a user ends their sessions at their next request", async () => {
    const admin = await signedInAgent(app, await insertTestAdmin(db, { username: "root" }));
    const { alice, here, chrome } = await aliceInThreeBrowsers();
    const current = await findUserById(db, alice.id);
    expect((await admin.post(`/admin/users/${alice.id}/disable`, { version: String(current?.version) })).status).toBe(303);
    expect(await signedIn(here)).toBe(false);
    expect(await signedIn(chrome)).toBe(false);
    expect(await sessionCountOf(db, alice.id)).toBe(0);
  });

  it("S7: demoting an administrator ends their sessions at their next request (not merely a 403)", async () => {
    const root = await signedInAgent(app, await insertTestAdmin(db, { username: "root" }));
    const ada = await insertTestAdmin(db, { username: "ada" });
    const adaHere = await signInFrom(ada, { userAgent: FIREFOX_LINUX, ip: "10.0.0.5" });
    const adaElsewhere = await signInFrom(ada, { userAgent: CHROME_WINDOWS, ip: "192.0.2.7" });
    expect((await adaHere.get("/admin/users")).status).toBe(200);

    const res = await root.post(`/admin/users/${ada.id}`, await userForm(ada.id, { isAdmin: undefined }));
    expect(res.status).toBe(303);
    expect((await findUserById(db, ada.id))?.isAdmin).toBe(false);
    expect(pageText((await root.get(`/admin/users/${ada.id}`)).text)).toContain("Active sessions 0");

    const next = await adaHere.get("/admin/users");
    expect(next.status).toBe(303);
    expect(next.headers.location).toMatch(/^\/login/);
    expect(await signedIn(adaElsewhere)).toBe(false);
  });

  it("S7: deleting a user ends their sessions (the rows go with the account)", async () => {
    const admin = await signedInAgent(app, await insertTestAdmin(db, { username: "root" }));
    const { alice, here, chrome } = await aliceInThreeBrowsers();
    const current = await findUserById(db, alice.id);
    expect((await admin.post(`/admin/users/${alice.id}/delete`, { version: String(current?.version) })).status).toBe(303);
    expect(await findUserById(db, alice.id)).toBeUndefined();
    expect(await sessionCountOf(db, alice.id)).toBe(0);
    expect(await signedIn(here)).toBe(false);
    expect(await signedIn(chrome)).toBe(false);
  });

  it("S7: after 'Sign out everywhere', an old session written back (a request that was in flight) is still refused", async () => {
    const { alice, here, chrome } = await aliceInThreeBrowsers();
    const chromeCookie = agentSessionCookie(chrome);
    const chromeSid = sid(chrome);
    const saved = await db("sessions").where({ sid: chromeSid }).first();
    expect((await here.post("/profile/sessions/sign-out-everywhere")).status).toBe(303);
    // The in-flight request's store write lands after the deletion.
    await db("sessions").insert({ ...saved, sess: JSON.stringify(typeof saved.sess === "string" ? JSON.parse(saved.sess) : saved.sess) });
    const res = await supertest(app).get("/profile").set("Accept", "text/html").set("Cookie", chromeCookie);
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/login/);
    expect(tableRows((await here.get("/profile")).text)).toHaveLength(1);
    expect(await signedIn(here)).toBe(true);
    expect(alice.id).toBeGreaterThan(0);
  });
});

describe("a sign-in waiting for its second step (docs/security.md §1.2: half-open sessions)", () => {
  /** Alice with an authenticator app; returns its secret. */
  async function aliceWithAuthenticator() {
    const inserted = await insertTestUser(db, { username: "alice", email: "alice@example.test" });
    await db("users").where({ id: inserted.id }).update({ email_verified: true });
    const user = await findUserById(db, inserted.id);
    if (!user) throw new Error("alice is gone");
    const enrolment = await startTotpEnrolment(testKeys, user);
    const actor = { id: user.id, username: user.username, clientIp: null, requestId: null };
    await confirmTotpEnrolment(db, testKeys, actor, enrolment.sealedSecret, await generate({ secret: enrolment.secret }));
    return { alice: { ...user, password: inserted.password }, secret: enrolment.secret };
  }

  async function codeStep(agent: TestAgent, secret: string, userId: number) {
    await db("users").where({ id: userId }).update({ totp_last_step: null });
    return agent.post("/login/code", { code: await generate({ secret }) });
  }

  for (const [how, end] of [
    ["Sign out everywhere", (here: TestAgent) => here.post("/profile/sessions/sign-out-everywhere")],
    ["an administrator's End sessions", async (_here: TestAgent, userId: number) => {
      const admin = await signedInAgent(app, await insertTestAdmin(db, { username: "root" }));
      return admin.post(`/admin/users/${userId}/sessions/end`);
    }],
  ] as const) {
    it(`${how} also ends a sign-in that has the password but not yet the code`, async () => {
      const { alice, secret } = await aliceWithAuthenticator();
      const here = new TestAgent(app);
      await here.refreshToken("/login");
      expect((await here.post("/login", { username: "alice", password: alice.password })).headers.location).toBe("/login/code");
      await here.refreshToken("/login/code");
      expect((await codeStep(here, secret, alice.id)).status).toBe(303);
      await here.refreshToken("/profile");

      const halfway = new TestAgent(app);
      await halfway.refreshToken("/login");
      expect((await halfway.post("/login", { username: "alice", password: alice.password })).headers.location).toBe("/login/code");
      await halfway.refreshToken("/login/code");

      expect((await end(here, alice.id)).status).toBe(303);
      // The code is right, but the pending sign-in belongs to the old session version: it starts over.
      const res = await codeStep(halfway, secret, alice.id);
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe("/login");
      expect(await signedIn(halfway)).toBe(false);
    });
  }
});

describe("describeUserAgent", () => {
  it.each([
    [FIREFOX_LINUX, "Firefox on Linux"],
    [CHROME_WINDOWS, "Chrome on Windows"],
    [SAFARI_IOS, "Safari on iOS"],
    ["Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Safari on macOS"],
    [
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
      "Edge on Windows",
    ],
    ["Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"],
    ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0", "Opera on Linux"],
    ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0 Mobile/15E148 Safari/604.1", "Chrome on iOS"],
    ["Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on ChromeOS"],
    ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "Chrome (headless) on Linux"],
    ["curl/8.5.0", "curl"],
    ["python-requests/2.32.3", "Python requests"],
    ["", "Unknown browser"],
    [null, "Unknown browser"],
    ["Something/1.0", "Unknown browser"],
  ])("%s → %s", (ua, expected) => {
    expect(describeUserAgent(ua)).toBe(expected);
  });

  it("answers at once for a hostile 500-character header", () => {
    const started = performance.now();
    describeUserAgent(`Mozilla/5.0 (${"(".repeat(250)}${"a".repeat(250)}`);
    describeUserAgent("a".repeat(100_000));
    expect(performance.now() - started).toBeLessThan(50);
  });
});
