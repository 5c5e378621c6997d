import type { Express } from "express";
import supertest from "supertest";
import { beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { writeSettings } from "../../src/repositories/settings.ts";
import {
  DEFAULT_GENERAL_SETTINGS,
  type GeneralSettings,
  readGeneralSettings,
  readLockoutThresholds,
  saveGeneralSettings,
} from "../../src/services/general-settings.ts";
import { ACCOUNT_POLICY, accountWaits } from "../../src/services/passwords.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import { errorSummary, fieldError, inputTag, inputValue, isInvalid, labelText, pageText } from "../helpers/html.ts";
import {
  agentSessionCookie,
  attemptSignIn,
  auditEvents,
  blockSeconds,
  endBlock,
  failureRow,
  sessionExists,
  setSessionClocks,
  sidOf,
  signedSessionCookie,
} from "../helpers/sign-in.ts";

let db: Db;
let app: Express;

useTestDb((created) => {
  db = created;
});

beforeEach(() => {
  app = createTestApp(db);
});

const GENERAL = "/admin/settings/general";
const KEEPALIVE = "/session/keepalive";
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** The origin createTestApp's BASE_URL names, as a browser's Referer carries it. */
const ORIGIN = "http://127.0.0.1";

async function signedInAdmin() {
  const admin = await buildAdmin(db, { username: "root" });
  const agent = await signedInAgent(app, admin);
  return { admin, agent };
}

/** Saves settings as another administrator (or another instance) would, behind the signed-in agents' backs. */
async function saveSettings(changes: Partial<GeneralSettings>): Promise<void> {
  const other = (await db("users").where({ username: "settings-admin" }).first("id")) ?? (await buildAdmin(db, { username: "settings-admin" }));
  const { version } = await readGeneralSettings(db);
  await saveGeneralSettings(db, { id: Number(other.id), username: "settings-admin", clientIp: null, requestId: null, isAdmin: true }, true, version, changes);
}

/** The whole form as a browser sends it (the box ticked only when asked). */
function generalForm(overrides: Record<string, string> = {}): Record<string, string> {
  return { idleMinutes: "30", absoluteHours: "12", lockoutDelayFrom: "5", lockoutLockAt: "20", version: "0", ...overrides };
}

/** A form post with this CSRF token and extra headers (a Referer, an Accept), as a browser or a script sends it. */
function postWith(agent: TestAgent, token: string, url: string, fields: Record<string, string> = {}, headers: Record<string, string> = {}) {
  const request = agent.http.post(url).set("Accept", "text/html").type("form");
  for (const [name, value] of Object.entries(headers)) request.set(name, value);
  return request.send({ _csrf: token, ...fields });
}

const JSON_CLIENT = { Accept: "application/json" };

async function sessionOf(sid: string): Promise<{ lastSeenAt?: number; authAt?: number }> {
  const row = await db("sessions").where({ sid }).first("sess");
  return typeof row.sess === "string" ? JSON.parse(row.sess) : row.sess;
}

async function signedInUser(username = "alice") {
  const user = await buildUser(db, { username });
  const agent = await signedInAgent(app, user);
  return { user, agent, sid: sidOf(agentSessionCookie(agent)) };
}

describe("the General settings page", () => {
  it("shows every setting by its label, with the defaults (from the configuration where it has them) before anything is saved", async () => {
    const { agent } = await signedInAdmin();
    const page = await agent.get(GENERAL);
    expect(page.status).toBe(200);
    const expected: [string, string, string][] = [
      ["idleMinutes", "Idle timeout (minutes)", "30"],
      ["absoluteHours", "Session lifetime (hours)", "12"],
      ["lockoutDelayFrom", "Wait after failed sign-ins", "5"],
      ["lockoutLockAt", "Lock after failed sign-ins", "20"],
    ];
    for (const [name, label, value] of expected) {
      expect(labelText(page.text, name)).toBe(label);
      expect(inputValue(page.text, name)).toBe(value);
    }
    expect(inputValue(page.text, "version")).toBe("0");
    expect(pageText(page.text)).toContain("0 turns automatic sign-out off");
  });

  it("never-saved settings follow the configuration's timeouts; the thresholds of docs/domain.md (Sessions and throttling) otherwise", async () => {
    expect(DEFAULT_GENERAL_SETTINGS).toEqual({
      requireAdminTwoFactor: false,
      idleMinutes: 30,
      absoluteHours: 12,
      lockoutDelayFrom: ACCOUNT_POLICY.delayFrom,
      lockoutLockAt: ACCOUNT_POLICY.lockAt,
    });
    expect([ACCOUNT_POLICY.delayFrom, ACCOUNT_POLICY.lockAt]).toEqual([5, 20]);
    expect((await readGeneralSettings(db, { idleMinutes: 45, absoluteHours: 8 })).value).toMatchObject({ idleMinutes: 45, absoluteHours: 8 });
    // A document saved before these settings existed: what it lacks comes from the configuration.
    await writeSettings(db, "general", 0, { requireAdminTwoFactor: true });
    expect(await readGeneralSettings(db, { idleMinutes: 45, absoluteHours: 8 })).toEqual({
      value: { requireAdminTwoFactor: true, idleMinutes: 45, absoluteHours: 8, lockoutDelayFrom: 5, lockoutLockAt: 20 },
      version: 1,
    });
  });

  it("a stored value this version would not store falls back to its default, never to NaN or an unreachable lock", async () => {
    await writeSettings(db, "general", 0, { idleMinutes: "soon", absoluteHours: 9999, lockoutDelayFrom: 30, lockoutLockAt: 10 });
    expect((await readGeneralSettings(db)).value).toEqual(DEFAULT_GENERAL_SETTINGS);
  });

  it("saves all settings, shows them saved and audits exactly the fields that changed", async () => {
    const { agent } = await signedInAdmin();
    const save = await agent.post(GENERAL, generalForm({ idleMinutes: "15", absoluteHours: "8", lockoutDelayFrom: "3", lockoutLockAt: "10" }));
    expect(save.status).toBe(303);
    const page = await agent.get(String(save.headers.location));
    expect(pageText(page.text)).toContain("General settings saved.");
    expect(["idleMinutes", "absoluteHours", "lockoutDelayFrom", "lockoutLockAt", "version"].map((n) => inputValue(page.text, n))).toEqual([
      "15",
      "8",
      "3",
      "10",
      "1",
    ]);
    expect(await readGeneralSettings(db)).toEqual({
      value: { requireAdminTwoFactor: false, idleMinutes: 15, absoluteHours: 8, lockoutDelayFrom: 3, lockoutLockAt: 10 },
      version: 1,
    });
    const [event] = await listAuditEvents(db, { action: "settings.general_updated" });
    expect(event?.actorUsername).toBe("root");
    expect(event?.details).toEqual({
      changes: {
        idleMinutes: { from: 30, to: 15 },
        absoluteHours: { from: 12, to: 8 },
        lockoutDelayFrom: { from: 5, to: 3 },
        lockoutLockAt: { from: 20, to: 10 },
      },
    });

    // Saving one change audits only that one.
    await agent.post(GENERAL, generalForm({ idleMinutes: "0", absoluteHours: "8", lockoutDelayFrom: "3", lockoutLockAt: "10", version: "1" }));
    const [second] = await listAuditEvents(db, { action: "settings.general_updated" });
    expect(second?.details).toEqual({ changes: { idleMinutes: { from: 15, to: 0 } } });
    expect((await readGeneralSettings(db)).value.idleMinutes).toBe(0);
  });

  it("accepts each end of each range", async () => {
    const { agent } = await signedInAdmin();
    let version = 0;
    for (const form of [
      { idleMinutes: "0", absoluteHours: "1", lockoutDelayFrom: "1", lockoutLockAt: "2" },
      { idleMinutes: "1440", absoluteHours: "168", lockoutDelayFrom: "99", lockoutLockAt: "100" },
      { idleMinutes: " 7 ", absoluteHours: "024", lockoutDelayFrom: "5", lockoutLockAt: "20" },
    ]) {
      const res = await agent.post(GENERAL, generalForm({ ...form, version: String(version) }));
      expect(res.status, JSON.stringify(form)).toBe(303);
      version += 1;
    }
    expect((await readGeneralSettings(db)).value).toMatchObject({ idleMinutes: 7, absoluteHours: 24 });
  });

  describe("validation: every error names its field, the typed values stay, nothing is saved", () => {
    const cases: { field: string; value: string; message: RegExp }[] = [
      { field: "idleMinutes", value: "", message: /^Enter Idle timeout \(minutes\): a whole number from 0 to 1440 \(0 turns automatic sign-out off\)\.$/ },
      { field: "idleMinutes", value: "1441", message: /^Idle timeout \(minutes\) must be a whole number from 0 to 1440.*; "1441" is not\.$/ },
      { field: "idleMinutes", value: "-1", message: /^Idle timeout \(minutes\) must be a whole number/ },
      { field: "idleMinutes", value: "2.5", message: /^Idle timeout \(minutes\) must be a whole number/ },
      { field: "idleMinutes", value: "thirty", message: /^Idle timeout \(minutes\) must be a whole number.*"thirty" is not/ },
      { field: "absoluteHours", value: "0", message: /^Session lifetime \(hours\) must be a whole number from 1 to 168; "0" is not\.$/ },
      { field: "absoluteHours", value: "169", message: /^Session lifetime \(hours\) must be a whole number from 1 to 168/ },
      { field: "absoluteHours", value: " ", message: /^Enter Session lifetime \(hours\)/ },
      { field: "lockoutDelayFrom", value: "0", message: /^Wait after failed sign-ins must be a whole number from 1 to 99/ },
      { field: "lockoutDelayFrom", value: "1e1", message: /^Wait after failed sign-ins must be a whole number/ },
      { field: "lockoutLockAt", value: "101", message: /^Lock after failed sign-ins must be a whole number from 2 to 100 \(100 at most, NIST's ceiling\)/ },
      { field: "lockoutLockAt", value: "", message: /^Enter Lock after failed sign-ins/ },
    ];
    for (const { field, value, message } of cases) {
      it(`${field} = ${JSON.stringify(value)}`, async () => {
        const { agent } = await signedInAdmin();
        const res = await agent.post(GENERAL, generalForm({ [field]: value }));
        expect(res.status).toBe(422);
        expect(isInvalid(res.text, field)).toBe(true);
        expect(fieldError(res.text, field)).toMatch(message);
        expect(errorSummary(res.text)?.links).toEqual([field]);
        expect(inputValue(res.text, field)).toBe(value);
        expect((await readGeneralSettings(db)).version).toBe(0);
        expect(await listAuditEvents(db, { action: "settings.general_updated" })).toHaveLength(0);
      });
    }

    it("Lock after failed sign-ins must be greater than Wait after failed sign-ins", async () => {
      const { agent } = await signedInAdmin();
      const res = await agent.post(GENERAL, generalForm({ lockoutDelayFrom: "10", lockoutLockAt: "10" }));
      expect(res.status).toBe(422);
      expect(fieldError(res.text, "lockoutLockAt")).toBe("Lock after failed sign-ins must be greater than Wait after failed sign-ins (10).");
      expect(inputValue(res.text, "lockoutDelayFrom")).toBe("10");
      expect((await readGeneralSettings(db)).version).toBe(0);
    });

    it("…also against the saved value when only one of the two is sent", async () => {
      const { agent } = await signedInAdmin();
      await saveSettings({ lockoutDelayFrom: 3, lockoutLockAt: 8 });
      const res = await agent.post(GENERAL, { lockoutDelayFrom: "9", version: "1" });
      expect(res.status).toBe(422);
      expect(fieldError(res.text, "lockoutDelayFrom")).toBe("Wait after failed sign-ins must be less than Lock after failed sign-ins (8).");
      // The fields the post left out show their saved values.
      expect(inputValue(res.text, "lockoutLockAt")).toBe("8");
      expect((await readGeneralSettings(db)).version).toBe(1);
    });

    it("a value no form sends (a list) is a 400", async () => {
      const { agent } = await signedInAdmin();
      const res = await agent.post(GENERAL, { ...generalForm(), idleMinutes: ["5", "6"] });
      expect(res.status).toBe(400);
      expect((await readGeneralSettings(db)).version).toBe(0);
    });
  });

  it("refuses a stale version with 409, keeps what was typed and shows what is saved now", async () => {
    const { agent } = await signedInAdmin();
    await saveSettings({ idleMinutes: 20, absoluteHours: 6 });
    const stale = await agent.post(GENERAL, generalForm({ idleMinutes: "10", version: "0" }));
    expect(stale.status).toBe(409);
    expect(errorSummary(stale.text)?.text).toContain("Someone else saved these settings after you opened them");
    expect(inputValue(stale.text, "idleMinutes")).toBe("10");
    expect(inputValue(stale.text, "version")).toBe("1");
    expect(pageText(stale.text)).toContain("Idle timeout (minutes): 20");
    expect(pageText(stale.text)).toContain("Session lifetime (hours): 6");
    expect((await readGeneralSettings(db)).value.idleMinutes).toBe(20);
    // Saving again with the version the 409 page carries applies what was typed.
    expect((await agent.post(GENERAL, generalForm({ idleMinutes: "10", version: "1" }))).status).toBe(303);
    expect((await readGeneralSettings(db)).value).toMatchObject({ idleMinutes: 10, absoluteHours: 12 });
  });

  it("is for administrators only", async () => {
    const { agent } = await signedInUser();
    expect((await agent.get(GENERAL)).status).toBe(403);
    expect((await agent.post(GENERAL, generalForm({ idleMinutes: "0" }))).status).toBe(403);
    expect((await readGeneralSettings(db)).version).toBe(0);
  });
});

describe("S5 with the saved timeouts", () => {
  it("idle longer than the saved Idle timeout: the session ends and sign-in says it expired (the limit was saved after sign-in)", async () => {
    const { agent, sid } = await signedInUser();
    await saveSettings({ idleMinutes: 5 });
    await setSessionClocks(db, sid, { lastSeenAt: Date.now() - 6 * MINUTE });
    const res = await agent.get("/profile");
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/login?expired=1&returnTo=%2Fprofile");
    expect(await sessionExists(db, sid)).toBe(false);
    expect((await agent.get(String(res.headers.location))).text).toContain("Your session expired");
  });

  it("idle less than the saved Idle timeout is fine, even beyond the configuration's", async () => {
    await saveSettings({ idleMinutes: 90 });
    const { agent, sid } = await signedInUser();
    await setSessionClocks(db, sid, { lastSeenAt: Date.now() - 60 * MINUTE });
    expect((await agent.get("/profile")).status).toBe(200);
    await saveSettings({ idleMinutes: 5 });
    await setSessionClocks(db, sid, { lastSeenAt: Date.now() - 4 * MINUTE });
    expect((await agent.get("/profile")).status).toBe(200);
  });

  it("longer than the saved Session lifetime since sign-in: the session ends even though it was never idle", async () => {
    await saveSettings({ absoluteHours: 1 });
    const { agent, sid } = await signedInUser();
    await setSessionClocks(db, sid, { authAt: Date.now() - HOUR - MINUTE, lastSeenAt: Date.now() - MINUTE });
    const res = await agent.get("/systems");
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/login\?expired=1/);
    expect(await sessionExists(db, sid)).toBe(false);
    expect((await agent.get(String(res.headers.location))).text).toContain("Your session expired");
  });

  it("a Session lifetime longer than the configuration's 12 hours holds, and the cookie lasts exactly as long as the lifetime has left", async () => {
    await saveSettings({ absoluteHours: 24, idleMinutes: 0 });
    const { agent, sid } = await signedInUser();
    const authAt = Date.now() - 13 * HOUR;
    await setSessionClocks(db, sid, { authAt, lastSeenAt: Date.now() - 13 * HOUR });
    const res = await agent.get("/profile");
    expect(res.status).toBe(200);
    const cookie = ([] as string[]).concat(res.headers["set-cookie"] ?? []).find((c) => c.startsWith("gatehouse.sid="));
    const expires = Date.parse(/Expires=([^;]+)/.exec(cookie ?? "")?.[1] ?? "");
    expect(Math.abs(expires - (authAt + 24 * HOUR))).toBeLessThan(5000);
    const row = await db("sessions").where({ sid }).first("expires_at");
    expect(Math.abs(new Date(row.expires_at).getTime() - (authAt + 24 * HOUR))).toBeLessThan(5000);
  });

  it("Idle timeout 0 turns idle expiry off; the lifetime still ends the session", async () => {
    await saveSettings({ idleMinutes: 0 });
    const { agent, sid } = await signedInUser();
    await setSessionClocks(db, sid, { authAt: Date.now() - 11 * HOUR, lastSeenAt: Date.now() - 11 * HOUR });
    const page = await agent.get("/profile");
    expect(page.status).toBe(200);
    // Nothing to warn about: no idle limit on the page, no warning script, no dialog.
    expect(page.text).not.toContain("data-idle-timeout-seconds");
    expect(page.text).not.toContain("idle-warning");
    await setSessionClocks(db, sid, { authAt: Date.now() - 12 * HOUR - MINUTE });
    expect((await agent.get("/profile")).headers.location).toMatch(/^\/login\?expired=1/);
  });

  it("signed-in pages carry the idle limit and the warning (script, dialog, Stay signed in); anonymous pages do not", async () => {
    await saveSettings({ idleMinutes: 4 });
    const { agent } = await signedInUser();
    const page = await agent.get("/profile");
    expect(page.text).toMatch(/<body data-idle-timeout-seconds="240">/);
    expect(page.text).toContain('<script src="/js/idle-warning.js" defer></script>');
    expect(page.text).toMatch(/<dialog id="idle-warning"[^>]*role="alertdialog"[^>]*aria-labelledby="idle-warning-title"/);
    expect(page.text).toMatch(/<form method="post" action="\/session\/keepalive">\s*<input type="hidden" name="_csrf" value="[^"]+">\s*<button type="submit">Stay signed in<\/button>/);
    const anonymous = await new TestAgent(app).get("/login");
    expect(anonymous.text).not.toContain("idle-warning");
    expect(anonymous.text).toMatch(/<body>/);
  });
});

describe("POST /session/keepalive", () => {
  it("answers 204 with no body and restarts the idle clock", async () => {
    const { agent, sid } = await signedInUser();
    const token = await agent.refreshToken("/profile");
    await setSessionClocks(db, sid, { lastSeenAt: Date.now() - 20 * MINUTE });
    const res = await postWith(agent, token, KEEPALIVE, {}, JSON_CLIENT);
    expect(res.status).toBe(204);
    expect(res.text).toBe("");
    expect(Date.now() - ((await sessionOf(sid)).lastSeenAt ?? 0)).toBeLessThan(MINUTE);
  });

  it("without the CSRF token it is refused", async () => {
    const { sid } = await signedInUser();
    const res = await supertest(app).post(KEEPALIVE).set("Accept", "application/json").set("Cookie", signedSessionCookie(sid)).type("form").send({});
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("csrf_failed");
  });

  it("after the session expired it is not a 204 (the page then goes to sign-in), and the session stays ended", async () => {
    await saveSettings({ idleMinutes: 5 });
    const { agent, sid } = await signedInUser();
    const token = await agent.refreshToken("/profile");
    await setSessionClocks(db, sid, { lastSeenAt: Date.now() - 6 * MINUTE });
    const res = await postWith(agent, token, KEEPALIVE, {}, JSON_CLIENT);
    expect(res.status).toBe(403);
    expect(await sessionExists(db, sid)).toBe(false);
  });

  it("is for signed-in sessions only", async () => {
    await buildUser(db, { username: "alice" });
    const anonymous = new TestAgent(app);
    const token = await anonymous.refreshToken("/login");
    const res = await postWith(anonymous, token, KEEPALIVE, {}, JSON_CLIENT);
    expect(res.status).toBe(401);
  });

  it("takes no fields", async () => {
    const { agent } = await signedInUser();
    const token = await agent.refreshToken("/profile");
    expect((await postWith(agent, token, KEEPALIVE, { extra: "1" }, JSON_CLIENT)).status).toBe(400);
  });
});

describe("S5: a form sent after its session expired", () => {
  it("leads to sign-in saying the session expired, then back to the form's page; nothing is saved", async () => {
    const { agent, admin } = await signedInAdmin();
    const sid = sidOf(agentSessionCookie(agent));
    const token = await agent.refreshToken(GENERAL);
    await setSessionClocks(db, sid, { lastSeenAt: Date.now() - 31 * MINUTE });
    const res = await postWith(agent, token, GENERAL, generalForm({ idleMinutes: "10" }), { Referer: `${ORIGIN}${GENERAL}` });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/login?expired=1&returnTo=${encodeURIComponent(GENERAL)}`);
    expect((await readGeneralSettings(db)).version).toBe(0);

    const login = await agent.get(String(res.headers.location));
    expect(pageText(login.text)).toContain("Your session expired");
    expect(inputTag(login.text, "returnTo")).toContain(`value="${GENERAL}"`);
    const again = await attemptSignIn(agent, admin.username, admin.password, { returnTo: GENERAL });
    expect(again.status).toBe(303);
    expect(again.headers.location).toBe(GENERAL);
  });

  it("a form on a page that only a POST showed (an error re-rendered at a POST-only address) leads back to the last page loaded, never to the POST address", async () => {
    const { agent, sid } = await signedInUser();
    const token = await agent.refreshToken("/profile");
    const wrong = await postWith(agent, token, "/profile/password", { currentPassword: "not it", newPassword: "x", confirmPassword: "y" });
    expect(wrong.status).toBe(422);
    await setSessionClocks(db, sid, { lastSeenAt: Date.now() - 31 * MINUTE });
    const res = await postWith(
      agent,
      token,
      "/profile/password",
      { currentPassword: "again", newPassword: "x", confirmPassword: "y" },
      { Referer: `${ORIGIN}/profile/password` },
    );
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/login?expired=1&returnTo=%2Fprofile");
  });

  it("a Referer from another site is ignored; with no page to go back to there is no returnTo", async () => {
    const { agent, sid } = await signedInUser();
    const token = await agent.refreshToken("/profile");
    await setSessionClocks(db, sid, { lastSeenAt: Date.now() - 31 * MINUTE });
    const res = await postWith(agent, token, "/profile", { fullName: "Late", title: "", phone: "" }, { Referer: "https://evil.example/admin/users" });
    expect(res.status).toBe(303);
    // Not the other site's path: the last page this session loaded.
    expect(res.headers.location).toBe("/login?expired=1&returnTo=%2Fprofile");

    const fresh = await signedInUser("bob");
    await db("sessions").where({ sid: fresh.sid }).update({ sess: db.raw("sess - 'recentPages'") });
    await setSessionClocks(db, fresh.sid, { lastSeenAt: Date.now() - 31 * MINUTE });
    const bare = await fresh.agent.post("/profile", { fullName: "Late", title: "", phone: "" });
    expect(bare.status).toBe(303);
    expect(bare.headers.location).toBe("/login?expired=1");
  });

  it("Sign out after expiry just goes to sign-in", async () => {
    const { agent, sid } = await signedInUser();
    const token = await agent.refreshToken("/profile");
    await setSessionClocks(db, sid, { lastSeenAt: Date.now() - 31 * MINUTE });
    const res = await postWith(agent, token, "/logout", {}, { Referer: `${ORIGIN}/profile` });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/login?expired=1");
  });
});

describe("the saved sign-in thresholds", () => {
  it("default to 5 and 20 (ACCOUNT_POLICY) and follow what is saved", async () => {
    expect(await readLockoutThresholds(db)).toEqual({ delayFrom: 5, lockAt: 20 });
    await saveSettings({ lockoutDelayFrom: 2, lockoutLockAt: 4 });
    expect(await readLockoutThresholds(db)).toEqual({ delayFrom: 2, lockAt: 4 });
    const waits = accountWaits({ delayFrom: 2, lockAt: 4 });
    expect([1, 2, 3, 4, 5].map((n) => waits(n))).toEqual([0, 60, 120, 3600, 3600]);
  });

  it("with Wait after failed sign-ins at 2, the third attempt waits (even with the right password); with Lock at 4 the fourth failure locks for an hour", async () => {
    await saveSettings({ lockoutDelayFrom: 2, lockoutLockAt: 4 });
    const user = await buildUser(db, { username: "pat" });
    const agent = new TestAgent(app);
    expect((await attemptSignIn(agent, "pat", "wrong one")).status).toBe(401);
    expect((await failureRow(db, "account", "pat"))?.blockedUntil).toBeNull();
    expect((await attemptSignIn(agent, "pat", "wrong two")).status).toBe(401);
    expect(await blockSeconds(db, "account", "pat")).toBe(60);

    // The third attempt is refused while the wait runs, whatever the password.
    expect((await attemptSignIn(agent, "pat", user.password)).status).toBe(401);
    expect((await auditEvents(db, "sign_in.failed"))[0]?.details.reason).toBe("locked");

    await endBlock(db, "account", "pat");
    expect((await attemptSignIn(agent, "pat", "wrong three")).status).toBe(401);
    expect(await blockSeconds(db, "account", "pat")).toBe(120);
    await endBlock(db, "account", "pat");
    expect((await attemptSignIn(agent, "pat", "wrong four")).status).toBe(401);
    expect(await blockSeconds(db, "account", "pat")).toBe(3600);
  });

  it("the default thresholds still hold when nothing is saved: four failures set no wait", async () => {
    await buildUser(db, { username: "pat" });
    const agent = new TestAgent(app);
    for (let i = 0; i < 4; i++) expect((await attemptSignIn(agent, "pat", `wrong ${i}`)).status).toBe(401);
    expect((await failureRow(db, "account", "pat"))?.blockedUntil).toBeNull();
    expect((await attemptSignIn(agent, "pat", "wrong 5")).status).toBe(401);
    expect(await blockSeconds(db, "account", "pat")).toBe(60);
  });

  it("checking the current password (Profile › password) uses them too", async () => {
    const { agent } = await signedInUser();
    await saveSettings({ lockoutDelayFrom: 2, lockoutLockAt: 10 });
    const attempt = (current: string) =>
      agent.post("/profile/password", { currentPassword: current, newPassword: "a brand new passphrase", confirmPassword: "a brand new passphrase" });
    expect((await attempt("wrong guess 1")).status).toBe(422);
    expect((await attempt("wrong guess 2")).status).toBe(422);
    const blocked = await attempt("correct horse battery staple 42");
    expect(blocked.status).toBe(429);
    expect(blocked.text).toContain("Too many wrong passwords. Try again in a minute.");
  });
});
