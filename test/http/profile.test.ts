import type { Express } from "express";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { countUserSessions } from "../../src/repositories/sessions.ts";
import { findUserById } from "../../src/repositories/users/index.ts";
import type { User } from "../../src/types/user.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { createTestDb, resetDb } from "../helpers/db.ts";
import { errorSummary, fieldError, h1, hasAdminNavigation, inputValue, isInvalid, labelText, pageText } from "../helpers/html.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

let db: Db;
let app: Express;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(async () => {
  await db.destroy();
});
beforeEach(async () => {
  await resetDb(db);
  app = createTestApp(db);
});

async function reload(user: { id: number }): Promise<User> {
  const current = await findUserById(db, user.id);
  if (!current) throw new Error(`user ${user.id} is gone`);
  return current;
}

/** A plain user (and an administrator, so the console is set up), signed in. */
async function signedInUser(overrides: Parameters<typeof insertTestUser>[1] = {}) {
  await insertTestAdmin(db, { username: "root" });
  const user = await insertTestUser(db, { username: "pat", fullName: "Pat Doe", title: "Engineer", phone: "+1 555 0100", ...overrides });
  const agent = await signedInAgent(app, user);
  return { user, agent };
}

const NEW_PASSWORD = "a fresh long passphrase 9";

describe("access to /profile", () => {
  it("an anonymous visitor is sent to /login: GET with returnTo, POSTs without", async () => {
    await insertTestAdmin(db, { username: "root" });
    const agent = new TestAgent(app);
    await agent.refreshToken("/login");
    const get = await agent.get("/profile");
    expect(get.status).toBe(303);
    expect(get.headers.location).toBe("/login?returnTo=%2Fprofile");
    for (const url of ["/profile", "/profile/password"]) {
      const res = await agent.post(url, { fullName: "Anon", currentPassword: "x", newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
      expect(res.status, url).toBe(303);
      expect(res.headers.location, url).toBe("/login");
    }
  });

  it("a user sees their own profile, without administration navigation", async () => {
    const { agent } = await signedInUser();
    const res = await agent.get("/profile");
    expect(res.status).toBe(200);
    expect(h1(res.text)).toBe("Profile");
    expect(hasAdminNavigation(res.text)).toBe(false);
    expect(inputValue(res.text, "fullName")).toBe("Pat Doe");
    expect(inputValue(res.text, "title")).toBe("Engineer");
    expect(inputValue(res.text, "phone")).toBe("+1 555 0100");
    expect(labelText(res.text, "fullName")).toBe("Full name");
    expect(labelText(res.text, "pw-currentPassword")).toBe("Current password");
    expect(res.text).toMatch(/<button type="submit">Save changes<\/button>/);
  });

  it("an administrator uses the same profile page, with administration navigation", async () => {
    const admin = await insertTestAdmin(db, { username: "root", fullName: "Root Admin" });
    const agent = await signedInAgent(app, admin);
    const res = await agent.get("/profile");
    expect(res.status).toBe(200);
    expect(hasAdminNavigation(res.text)).toBe(true);
    const save = await agent.post("/profile", { fullName: "Root Renamed", title: "", phone: "" });
    expect(save.status).toBe(303);
    expect((await reload(admin)).fullName).toBe("Root Renamed");
  });
});

describe("POST /profile", () => {
  it("saves the user's own full name, title and phone, and audits the change", async () => {
    const { user, agent } = await signedInUser();
    const res = await agent.post("/profile", { fullName: "  Pat Q. Doe ", title: "Lead engineer", phone: "+44 20 7946 0000" });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/profile");
    expect(await reload(user)).toMatchObject({ fullName: "Pat Q. Doe", title: "Lead engineer", phone: "+44 20 7946 0000", isAdmin: false });
    const page = await agent.get("/profile");
    expect(pageText(page.text)).toContain("Profile saved.");
    const [event] = await listAuditEvents(db, { action: "profile.updated", targetId: String(user.id) });
    expect(event?.actorId).toBe(user.id);
    expect(event?.details.changes).toEqual({
      fullName: { from: "Pat Doe", to: "Pat Q. Doe" },
      title: { from: "Engineer", to: "Lead engineer" },
      phone: { from: "+1 555 0100", to: "+44 20 7946 0000" },
    });
  });

  it("bad input is a 422 naming the field; typed values are kept and nothing is saved", async () => {
    const { user, agent } = await signedInUser();
    const res = await agent.post("/profile", { fullName: "x".repeat(129), title: "Typed title", phone: "1".repeat(65) });
    expect(res.status).toBe(422);
    expect(errorSummary(res.text)?.links).toEqual(expect.arrayContaining(["fullName", "phone"]));
    expect(isInvalid(res.text, "fullName")).toBe(true);
    expect(fieldError(res.text, "fullName")).toBe("Full name must be at most 128 characters; this one has 129.");
    expect(fieldError(res.text, "phone")).toBe("Phone must be at most 64 characters; this one has 65.");
    expect(isInvalid(res.text, "title")).toBe(false);
    expect(inputValue(res.text, "title")).toBe("Typed title");
    expect(inputValue(res.text, "fullName")).toBe("x".repeat(129));
    expect(await reload(user)).toMatchObject({ fullName: "Pat Doe", title: "Engineer" });
  });

  it("A11: NUL, a lone surrogate or an RTL override in a profile field is a 400/422, never a 500", async () => {
    const { user, agent } = await signedInUser();
    for (const bad of ["a\u0000b", "abc\u202Etxt"]) {
      for (const field of ["fullName", "title", "phone"]) {
        const res = await agent.post("/profile", { fullName: "Pat Doe", title: "", phone: "", [field]: bad });
        expect([400, 422], `${JSON.stringify(bad)} in ${field}`).toContain(res.status);
        expect(isInvalid(res.text, field)).toBe(true);
      }
    }
    const token = await agent.refreshToken("/profile");
    const json = await agent.http
      .post("/profile")
      .set("Accept", "application/json")
      .set("Content-Type", "application/json")
      .send(JSON.stringify({ _csrf: token, fullName: "a\uD800b", title: "", phone: "" }));
    expect([400, 422]).toContain(json.status);
    expect(json.body.error.fields).toHaveProperty("fullName");
    expect(await reload(user)).toMatchObject({ fullName: "Pat Doe" });
  });

  it("A5: a user posting isAdmin, role or is_admin to /profile gets 403 and nothing changes", async () => {
    const { user, agent } = await signedInUser();
    const extras: Record<string, string>[] = [
      { isAdmin: "on" },
      { role: "admin" },
      { is_admin: "1" },
      { admin: "true" },
      { username: "root" },
      { authSource: "ldap" },
      { disabled: "" },
      { teams: "1" },
    ];
    for (const extra of extras) {
      const res = await agent.post("/profile", { fullName: "Sneaky", title: "", phone: "", ...extra });
      expect(res.status, JSON.stringify(extra)).toBe(403);
      expect(hasAdminNavigation(res.text)).toBe(false);
    }
    const after = await reload(user);
    expect(after).toMatchObject({ isAdmin: false, fullName: "Pat Doe", username: "pat", authSource: "local", version: user.version });
    expect((await agent.get("/admin/users")).status).toBe(403);
    expect(await listAuditEvents(db, { action: "profile.updated" })).toHaveLength(0);
  });

  it("A4: other fields a profile does not have (id, password_hash, totp_secret, created_at, version) are a 400 naming the field", async () => {
    const { user, agent } = await signedInUser();
    for (const [field, value] of Object.entries({ id: "1", password_hash: "x", totp_secret: "JBSWY3DPEHPK3PXP", created_at: "2000-01-01", version: "9" })) {
      const res = await agent.post("/profile", { fullName: "Sneaky", title: "", phone: "", [field]: value });
      expect(res.status, field).toBe(400);
      expect(errorSummary(res.text)?.text, field).toContain(`${field} is not a field of this form.`);
    }
    expect(await reload(user)).toMatchObject({ fullName: "Pat Doe", version: user.version });
  });
});

describe("POST /profile/password", () => {
  it("refuses a wrong current password with 422 naming Current password, never echoing a password", async () => {
    const { user, agent } = await signedInUser();
    const res = await agent.post("/profile/password", { currentPassword: "not-my-password-123", newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    expect(res.status).toBe(422);
    expect(isInvalid(res.text, "currentPassword", "pw-currentPassword")).toBe(true);
    expect(fieldError(res.text, "pw-currentPassword")).toContain("Current password");
    expect(errorSummary(res.text)?.links).toEqual(["pw-currentPassword"]);
    expect(res.text).not.toContain("not-my-password-123");
    expect(res.text).not.toContain(NEW_PASSWORD);
    // The details form above keeps the stored values.
    expect(inputValue(res.text, "fullName")).toBe("Pat Doe");
    await signedInAgent(app, user);
  });

  it("an empty current password is a 422 naming Current password", async () => {
    const { agent } = await signedInUser();
    const res = await agent.post("/profile/password", { currentPassword: "", newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    expect(res.status).toBe(422);
    expect(fieldError(res.text, "pw-currentPassword")).toMatch(/current password/i);
  });

  it("applies the password policy to the new password, with the reason", async () => {
    const { user, agent } = await signedInUser({ username: "patricia" });
    const cases: [string, string][] = [
      ["x7#kq9!m", "Password must be at least 12 characters; this one has 8."],
      ["y".repeat(64) + "Lq9#vT2!mZ".repeat(7), "Password must be at most 128 characters; this one has 134."],
      ["password1234", "This password is too common or too easy to guess; choose another."],
      ["qwertyuiopasdf", "This password is too common or too easy to guess; choose another."],
      ["I am Patricia, hello!", "Password cannot contain your username."],
    ];
    for (const [password, message] of cases) {
      const res = await agent.post("/profile/password", { currentPassword: user.password, newPassword: password, confirmPassword: password });
      expect(res.status, password).toBe(422);
      expect(isInvalid(res.text, "newPassword", "pw-newPassword"), password).toBe(true);
      expect(fieldError(res.text, "pw-newPassword"), password).toBe(message);
      expect(res.text).not.toContain(password);
    }
    await signedInAgent(app, user);
  });

  it("a mismatched confirmation names the Confirm new password field", async () => {
    const { user, agent } = await signedInUser();
    const res = await agent.post("/profile/password", { currentPassword: user.password, newPassword: NEW_PASSWORD, confirmPassword: `${NEW_PASSWORD}!` });
    expect(res.status).toBe(422);
    expect(isInvalid(res.text, "confirmPassword", "pw-confirmPassword")).toBe(true);
    expect(labelText(res.text, "pw-confirmPassword")).toBe("Confirm new password");
    expect(fieldError(res.text, "pw-confirmPassword")).toContain("Confirm new password");
    await signedInAgent(app, user);
  });

  it("a successful change keeps this session, ends the account's other sessions, and the new password works", async () => {
    const { user, agent } = await signedInUser();
    const other = await signedInAgent(app, user);
    const bystander = await signedInAgent(app, await insertTestUser(db, { username: "bystander" }));
    expect(await countUserSessions(db, user.id)).toBe(2);

    const res = await agent.post("/profile/password", { currentPassword: user.password, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/profile");

    const mine = await agent.get("/profile");
    expect(mine.status).toBe(200);
    expect(pageText(mine.text)).toContain("Password changed.");
    const theirs = await other.get("/profile");
    expect(theirs.status).toBe(303);
    expect(theirs.headers.location).toBe("/login?returnTo=%2Fprofile");
    expect(await countUserSessions(db, user.id)).toBe(1);
    expect((await bystander.get("/profile")).status).toBe(200);

    await expect(signedInAgent(app, user)).rejects.toThrow(/failed with 401/);
    await signedInAgent(app, { username: user.username, password: NEW_PASSWORD });

    const [event] = await listAuditEvents(db, { action: "password.changed", targetId: String(user.id) });
    expect(event?.details.changes).toEqual({ password: { from: "------", to: "------" } });
    expect(JSON.stringify(await listAuditEvents(db, { limit: 1000 }))).not.toContain(NEW_PASSWORD);
  });

  it("A4: fields other than the three passwords are a 400", async () => {
    const { user, agent } = await signedInUser();
    const res = await agent.post("/profile/password", {
      currentPassword: user.password,
      newPassword: NEW_PASSWORD,
      confirmPassword: NEW_PASSWORD,
      password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
    });
    expect(res.status).toBe(400);
    await signedInAgent(app, user);
  });
});
