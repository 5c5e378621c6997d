import type { Express } from "express";
import supertest from "supertest";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import type { DirectoryEntry } from "../../src/ldap/directory-entry.ts";
import { SIGN_IN_FAILED } from "../../src/routes/auth/index.ts";
import { createUser } from "../../src/services/accounts.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { accountForDirectoryEntry } from "../../src/services/directory-accounts.ts";
import { addLdapServer, readLdapOptions, saveLdapOptions } from "../../src/services/ldap-settings.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestApiToken } from "../helpers/api-tokens.ts";
import { createTestApp } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { errorSummary, fieldError, inputValue, pageText } from "../helpers/html.ts";
import { FIXTURE_USERS, settingsFor, skipLdapTests, TestDirectory } from "../helpers/ldap.ts";
import { testKeys } from "../helpers/mail.ts";
import { attemptSignIn, auditEvents } from "../helpers/sign-in.ts";
import { insertTestAdmin, insertTestUser, storedEditForm } from "../helpers/users.ts";

/**
 * A username that looks like another one (docs/domain.md, "Accounts"; docs/security.md A21): "аdmin" with a Cyrillic
 * а beside "admin". Compared by their UTS #39 skeletons under a unique index, on every path that creates or renames
 * an account: the user form, the API, the CSV import and LDAP sign-in.
 */

const CYRILLIC_ADMIN = "\u0430dmin";
const NEW_PASSWORD = "lighthouse keeper breakfast 93";

let db: Db;
let app: Express;

useTestDb((d) => {
  db = d;
});
beforeEach(() => {
  app = createTestApp(db);
});

async function usernames(): Promise<string[]> {
  return (await db("users").select("username").orderBy("id")).map((r: { username: string }) => r.username);
}

async function signedInRoot() {
  const root = await insertTestAdmin(db, { username: "root" });
  return { root, agent: await signedInAgent(app, root) };
}


describe("the user form", () => {
  it("refuses a new user whose name looks like an existing one, naming the field, the existing user and the odd character", async () => {
    await insertTestUser(db, { username: "admin" });
    const { agent } = await signedInRoot();
    for (const candidate of [CYRILLIC_ADMIN, "\u0410DMIN", "\u03b1dmin", "adrnin"]) {
      const res = await agent.post("/admin/users", { username: candidate, password: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
      expect(res.status, candidate).toBe(409);
      expect(fieldError(res.text, "username"), candidate).toMatch(/looks like the existing user "admin"/);
      expect(errorSummary(res.text)?.links).toContain("username");
      expect(inputValue(res.text, "username")).toBe(candidate);
    }
    const res = await agent.post("/admin/users", { username: CYRILLIC_ADMIN, password: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    expect(fieldError(res.text, "username")).toContain("U+0430");
    expect(await usernames()).toEqual(["admin", "root"]);
  });

  it("still creates names that only resemble one another (admins, admin2, adm1n)", async () => {
    await insertTestUser(db, { username: "admin" });
    const { agent } = await signedInRoot();
    for (const candidate of ["admins", "admin2", "adm1n"]) {
      const res = await agent.post("/admin/users", { username: candidate, password: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
      expect([res.status, fieldError(res.text, "username") ?? errorSummary(res.text)?.text], candidate).toEqual([303, undefined]);
    }
  });

  it("refuses renaming another user to a look-alike, and lets an account keep or respell its own name", async () => {
    const admin = await insertTestUser(db, { username: "admin" });
    const other = await insertTestUser(db, { username: "other" });
    const { agent } = await signedInRoot();
    const refused = await agent.post(`/admin/users/${other.id}`, await storedEditForm(db, other.id, { username: CYRILLIC_ADMIN }));
    expect(refused.status).toBe(409);
    expect(fieldError(refused.text, "username")).toMatch(/looks like the existing user "admin"/);
    expect((await db("users").where({ id: other.id }).first()).username).toBe("other");
    const respelt = await agent.post(`/admin/users/${admin.id}`, await storedEditForm(db, admin.id, { username: "Admin", fullName: "The admin" }));
    expect(respelt.status).toBe(303);
  });
});

describe("the API", () => {
  it("POST and PATCH /api/v1/users answer 409 naming username, and write nothing", async () => {
    await insertTestUser(db, { username: "admin" });
    const other = await insertTestUser(db, { username: "other" });
    const root = await insertTestAdmin(db, { username: "root" });
    const token = await createTestApiToken(db, root);
    const created = await supertest(app)
      .post("/api/v1/users")
      .set("Authorization", `Bearer ${token}`)
      .send({ username: CYRILLIC_ADMIN, password: NEW_PASSWORD, authSource: "local" });
    expect(created.status).toBe(409);
    expect(created.body.error).toEqual({
      code: "conflict",
      message: expect.stringContaining("admin"),
      fields: { username: expect.stringMatching(/looks like the existing user "admin".*U\+0430/) },
    });
    const renamed = await supertest(app)
      .patch(`/api/v1/users/${other.id}`)
      .set("Authorization", `Bearer ${token}`)
      .send({ version: other.version, username: `${CYRILLIC_ADMIN}` });
    expect(renamed.status).toBe(409);
    expect(renamed.body.error.fields).toEqual({ username: expect.stringMatching(/looks like the existing user "admin"/) });
    expect(await usernames()).toEqual(["admin", "other", "root"]);
  });
});

describe("race-free", () => {
  it("two look-alikes created at the same moment: exactly one is written", async () => {
    for (let round = 0; round < 5; round += 1) {
      const names = [`ops${round}`, `\u043Eps${round}`];
      const results = await Promise.allSettled(
        names.map((username) =>
          createUser(db, SYSTEM_ACTOR, {
            details: { username, fullName: "", title: "", email: null, phone: "", isAdmin: false, authSource: "ldap" },
            password: undefined,
          }),
        ),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
      expect(refused.reason.fields.username).toMatch(/looks like the existing user/);
    }
  });
});

describe("an account the upgrade found looking like an older one (it has no skeleton)", () => {
  it("can still be edited, cannot be renamed to another look-alike, and gets a skeleton again under a name of its own", async () => {
    await insertTestUser(db, { username: "admin" });
    const [row] = await db("users").insert({ username: CYRILLIC_ADMIN, username_key: CYRILLIC_ADMIN }).returning("id");
    const id = Number(row.id);
    const { agent } = await signedInRoot();
    expect((await agent.post(`/admin/users/${id}`, await storedEditForm(db, id, { fullName: "Kept as it is" }))).status).toBe(303);
    const refused = await agent.post(`/admin/users/${id}`, await storedEditForm(db, id, { username: "\u03b1dmin" }));
    expect(refused.status).toBe(409);
    expect((await agent.post(`/admin/users/${id}`, await storedEditForm(db, id, { username: "cyril" }))).status).toBe(303);
    expect((await db("users").where({ id }).first()).username_skeleton).toBe("cyril");
  });
});

describe("the CSV import", () => {
  it("lists a look-alike of an existing account, and of an earlier line, by line; nothing is imported", async () => {
    await insertTestUser(db, { username: "admin" });
    const root = await insertTestAdmin(db, { username: "root" });
    const token = await createTestApiToken(db, root);
    const res = await supertest(app)
      .post("/api/v1/users/import")
      .set("Authorization", `Bearer ${token}`)
      .set("Content-Type", "text/csv")
      .send(`username\n${CYRILLIC_ADMIN}\nbob\nb\u043Eb\nfine\n`);
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      { line: 2, field: "username", message: expect.stringMatching(new RegExp(`^username ${CYRILLIC_ADMIN} looks like the existing user admin \\(.*U\\+0430`)) },
      { line: 4, field: "username", message: expect.stringMatching(/^username b\u043Eb looks like bob on line 3 \(.*U\+043E/) },
    ]);
    expect(await usernames()).toEqual(["admin", "root"]);
  });
});

describe("LDAP provisioning", () => {
  const entry = (username: string, externalId: string): DirectoryEntry => ({
    serverId: 1,
    dn: `uid=${username},ou=people,dc=example,dc=test`,
    externalId,
    username,
    fullName: "",
    email: null,
    groups: [],
  });

  async function allowUserCreation() {
    const { version, value } = await readLdapOptions(db);
    await saveLdapOptions(db, SYSTEM_ACTOR, version, { ...value, allowUserCreation: true });
  }

  it("does not create an account whose name looks like an existing one, and says which in its refusal", async () => {
    const admin = await insertTestUser(db, { username: "admin" });
    await allowUserCreation();
    const account = await accountForDirectoryEntry(db, SYSTEM_ACTOR, entry(CYRILLIC_ADMIN, "uuid-1"));
    expect(account).toEqual({ ok: false, reason: "username_looks_like_another", lookalike: expect.objectContaining({ id: admin.id, username: "admin" }) });
    expect(await usernames()).toEqual(["admin"]);
  });

  it("does not follow a directory rename onto a look-alike: the account keeps its name and still signs in", async () => {
    await insertTestUser(db, { username: "admin" });
    await allowUserCreation();
    const first = await accountForDirectoryEntry(db, SYSTEM_ACTOR, entry("carol", "uuid-2"));
    expect(first).toMatchObject({ ok: true, created: true });
    const renamed = await accountForDirectoryEntry(db, SYSTEM_ACTOR, entry(CYRILLIC_ADMIN, "uuid-2"));
    expect(renamed).toMatchObject({ ok: true, created: false, user: { username: "carol" } });
  });
});

describe.skipIf(skipLdapTests)("LDAP sign-in against a real directory", () => {
  let directory: TestDirectory;
  beforeAll(async () => {
    directory = await TestDirectory.start();
  });
  afterAll(async () => {
    await directory?.close();
  });

  it("a first sign-in whose name looks like an existing account gets the generic failure; the trail names the look-alike", async () => {
    const lookalike = await insertTestUser(db, { username: "\u0430lice" });
    await addLdapServer(db, SYSTEM_ACTOR, testKeys, settingsFor(directory));
    const { version, value } = await readLdapOptions(db);
    await saveLdapOptions(db, SYSTEM_ACTOR, version, { ...value, allowUserCreation: true });
    const res = await attemptSignIn(new TestAgent(app), "alice", FIXTURE_USERS.alice.password);
    expect(res.status).toBe(401);
    expect(pageText(res.text)).toContain(SIGN_IN_FAILED);
    expect(pageText(res.text)).not.toContain("\u0430lice");
    const [event] = (await auditEvents(db, "sign_in.failed")).slice(-1);
    expect(event?.details).toEqual({ reason: "directory_username_looks_like_another", lookalike: { id: lookalike.id, username: "\u0430lice" } });
    expect(await usernames()).toEqual(["\u0430lice"]);
  });
});
