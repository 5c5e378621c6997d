import type { Express } from "express";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { signInWithDirectory } from "../../src/ldap/sign-in.ts";
import { SIGN_IN_FAILED } from "../../src/routes/auth/index.ts";
import { createUser } from "../../src/services/accounts.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import {
  addLdapDefaultTeam,
  addLdapGroupMapping,
  addLdapServer,
  directoryServers,
  type LdapServerInput,
  readLdapOptions,
  saveLdapOptions,
} from "../../src/services/ldap-settings.ts";
import { DIRECTORY_UNAVAILABLE } from "../../src/services/passwords.ts";
import { grant, makeSystem, makeTeam } from "../helpers/access.ts";
import { TestAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { decodeEntities, fieldError, pageText } from "../helpers/html.ts";
import { FIXTURE_USERS, SPECIAL_UID, settingsFor, skipLdapTests, TestDirectory } from "../helpers/ldap.ts";
import { testKeys } from "../helpers/mail.ts";
import { agentSessionCookie, attemptSignIn, auditEvents, failureRow, setSessionClocks, sidOf } from "../helpers/sign-in.ts";
import { insertTestAdmin } from "../helpers/users.ts";

/**
 * LDAP sign-in (issue 5, docs/domain.md, "LDAP") against a real slapd: docs/security.md L1, L11 and D1–D10, creation on and off,
 * default teams and group mappings (and through them the resolver's access), and a directory that is down or silent.
 */

let db: Db;
let app: Express;
let directory: TestDirectory;
let LOCAL_ADMIN_PASSWORD: string;

useTestDb((d) => {
  db = d;
});

beforeAll(async () => {
  if (!skipLdapTests) directory = await TestDirectory.start({ tls: true });
});
afterAll(async () => {
  await directory?.close();
});
beforeEach(async () => {
  app = createTestApp(db);
  // The local administrator of docs/security.md L11: the directory has an entry called "admin" too.
  LOCAL_ADMIN_PASSWORD = (await insertTestAdmin(db, { username: "admin" })).password;
  if (directory && !directory.running) await directory.restart();
});

function serverInput(overrides: Partial<LdapServerInput> = {}): LdapServerInput {
  return settingsFor(directory, overrides);
}

async function useDirectory(overrides: Partial<LdapServerInput> = {}) {
  return addLdapServer(db, SYSTEM_ACTOR, testKeys, serverInput(overrides));
}

async function setOptions(options: { allowUserCreation?: boolean; removeUnmappedTeams?: boolean }) {
  const { version, value } = await readLdapOptions(db);
  await saveLdapOptions(db, SYSTEM_ACTOR, version, { ...value, ...options });
}

async function signIn(username: string, password: string) {
  const agent = new TestAgent(app);
  const res = await attemptSignIn(agent, username, password);
  return { agent, res };
}

async function userRow(username: string) {
  return db("users").whereRaw("username_key = lower(?)", [username]).first();
}

async function teamNamesOf(userId: number): Promise<string[]> {
  const rows = await db("team_members as m").join("teams as t", "t.id", "m.team_id").where("m.user_id", userId).orderBy("t.name").select("t.name");
  return rows.map((r: { name: string }) => r.name);
}

function expectGenericFailure(res: { status: number; text: string }) {
  expect(res.status).toBe(401);
  expect(pageText(res.text)).toContain(SIGN_IN_FAILED);
}

async function lastFailureReason(): Promise<unknown> {
  const events = await auditEvents(db, "sign_in.failed");
  return (events.at(-1)?.details as { reason?: string } | undefined)?.reason;
}

describe.skipIf(skipLdapTests)("LDAP sign-in against a real directory", () => {
  describe("account creation", () => {
    it("off (the default): a person the directory accepts but Gatehouse does not know gets the generic failure and no account", async () => {
      await useDirectory();
      const { res } = await signIn("alice", FIXTURE_USERS.alice.password);
      expectGenericFailure(res);
      expect(await userRow("alice")).toBeUndefined();
      expect(await lastFailureReason()).toBe("directory_not_provisioned");
    });

    it("on: the first sign-in creates a plain LDAP user keyed by entryUUID, with no password, in the default and mapped teams", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      const everyone = await makeTeam(db, "Everyone");
      const operators = await makeTeam(db, "Operators");
      const storage = await makeTeam(db, "Storage");
      await makeTeam(db, "Unrelated");
      await addLdapDefaultTeam(db, SYSTEM_ACTOR, everyone.id);
      await addLdapGroupMapping(db, SYSTEM_ACTOR, "operators", [operators.id]);
      await addLdapGroupMapping(db, SYSTEM_ACTOR, "STORAGE", [storage.id, operators.id]);

      const { agent, res } = await signIn("Carol", FIXTURE_USERS.carol.password);
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe("/");
      const row = await userRow("carol");
      expect(row).toMatchObject({
        username: "carol",
        full_name: "Carol Carter",
        email: "carol@example.test",
        email_verified: false,
        auth_source: "ldap",
        is_admin: false,
        password_hash: null,
        external_id: await directory.entryUuid(FIXTURE_USERS.carol.dn),
      });
      expect(row.last_login_at).not.toBeNull();
      expect(await teamNamesOf(row.id)).toEqual(["Everyone", "Operators", "Storage"]);
      expect((await auditEvents(db, "user.created_by_directory")).map((e) => e.targetLabel)).toEqual(["carol"]);
      expect((await auditEvents(db, "sign_in.succeeded")).at(-1)?.details).toMatchObject({ method: "ldap" });
      expect((await agent.get("/profile")).status).toBe(200);

      // The second sign-in finds the same account: no second row, no second creation.
      const again = await signIn("carol", FIXTURE_USERS.carol.password);
      expect(again.res.status).toBe(303);
      expect(Number((await db("users").where({ auth_source: "ldap" }).count<{ count: string }[]>("* as count"))[0]?.count)).toBe(1);
    });

    it("mapped teams give access through the resolver: /systems shows what the team was granted", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      const developers = await makeTeam(db, "Developers");
      await addLdapGroupMapping(db, SYSTEM_ACTOR, "developers", [developers.id]);
      const build = await makeSystem(db, { name: "build-01" });
      await makeSystem(db, { name: "vault-01" });
      await grant(db, { kind: "team", id: developers.id }, { kind: "system", id: build.id }, "read/write");

      // zoe: a non-ASCII cn, a posixGroup (memberUid), and a password with combining accents and a trailing space
      // that only works because it reaches the directory neither normalised nor trimmed.
      const { agent, res } = await signIn("zoe", FIXTURE_USERS.zoe.password);
      expect(res.status).toBe(303);
      expect((await userRow("zoe")).full_name).toBe("Zoë Ångström");
      const systems = await agent.get("/systems");
      const text = pageText(systems.text);
      expect(text).toContain("build-01");
      expect(text).toContain("read/write");
      expect(text).not.toContain("vault-01");
    });

    it("an account an administrator made with Authentication LDAP is linked at its first sign-in, even with creation off", async () => {
      await useDirectory();
      const { user } = await createUser(db, SYSTEM_ACTOR, {
        details: { username: "bob", fullName: "Robert (set by admin)", title: "", email: null, phone: "", isAdmin: false, authSource: "ldap" },
        password: undefined,
      });
      const { res } = await signIn("bob", FIXTURE_USERS.bob.password);
      expect(res.status).toBe(303);
      const row = await userRow("bob");
      expect(Number(row.id)).toBe(user.id);
      expect(row.external_id).toBe(await directory.entryUuid(FIXTURE_USERS.bob.dn));
      expect(row.full_name).toBe("Robert (set by admin)");
      expect(row.password_hash).toBeNull();
      expect((await auditEvents(db, "user.linked_to_directory")).map((e) => e.targetLabel)).toEqual(["bob"]);
    });

    it("an LDAP account linked to one entry is not signed into by another entry that takes its name", async () => {
      await useDirectory();
      await createUser(db, SYSTEM_ACTOR, {
        details: { username: "alice", fullName: "", title: "", email: null, phone: "", isAdmin: false, authSource: "ldap" },
        password: undefined,
      });
      await db("users").where({ username: "alice" }).update({ external_id: "00000000-0000-0000-0000-000000000000" });
      const { res } = await signIn("alice", FIXTURE_USERS.alice.password);
      expectGenericFailure(res);
      expect(await lastFailureReason()).toBe("directory_linked_to_another_entry");
    });

    it("a user disabled in Gatehouse cannot sign in through the directory", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      expect((await signIn("alice", FIXTURE_USERS.alice.password)).res.status).toBe(303);
      await db("users").where({ username: "alice" }).update({ disabled: true });
      expectGenericFailure((await signIn("alice", FIXTURE_USERS.alice.password)).res);
    });
  });

  describe("group mappings at later sign-ins", () => {
    it("add newly mapped teams each time; remove mapped teams the directory no longer lists only with the option on, never hand-joined ones", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      const operators = await makeTeam(db, "Operators");
      const storage = await makeTeam(db, "Storage");
      const handPicked = await makeTeam(db, "Hand picked");
      await addLdapGroupMapping(db, SYSTEM_ACTOR, "operators", [operators.id]);
      expect((await signIn("carol", FIXTURE_USERS.carol.password)).res.status).toBe(303);
      const carol = await userRow("carol");
      expect(await teamNamesOf(carol.id)).toEqual(["Operators"]);

      await addLdapGroupMapping(db, SYSTEM_ACTOR, "storage", [storage.id]);
      await db("team_members").insert({ team_id: handPicked.id, user_id: carol.id });
      // Hand picked is mapped too, but carol's membership of it was added by an administrator: it is never taken away.
      await addLdapGroupMapping(db, SYSTEM_ACTOR, "unmapped-for-carol", [handPicked.id]);
      expect((await signIn("carol", FIXTURE_USERS.carol.password)).res.status).toBe(303);
      expect(await teamNamesOf(carol.id)).toEqual(["Hand picked", "Operators", "Storage"]);

      // carol leaves the storage group in the directory.
      const storageDn = `cn=storage,${directory.groupBase}`;
      // (A groupOfUniqueNames needs a member: alice joins before carol leaves.)
      await directory.modify(`dn: ${storageDn}\nchangetype: modify\nadd: uniqueMember\nuniqueMember: ${FIXTURE_USERS.alice.dn}\n-\n`);
      try {
        await directory.modify(`dn: ${storageDn}\nchangetype: modify\ndelete: uniqueMember\nuniqueMember: ${FIXTURE_USERS.carol.dn}\n-\n`);
        expect((await signIn("carol", FIXTURE_USERS.carol.password)).res.status).toBe(303);
        expect(await teamNamesOf(carol.id)).toEqual(["Hand picked", "Operators", "Storage"]);
        await setOptions({ removeUnmappedTeams: true });
        expect((await signIn("carol", FIXTURE_USERS.carol.password)).res.status).toBe(303);
        expect(await teamNamesOf(carol.id)).toEqual(["Hand picked", "Operators"]);
        const removed = (await auditEvents(db, "team.member_removed")).at(-1);
        expect(removed?.targetLabel).toBe("Storage");
      } finally {
        await directory.modify(`dn: ${storageDn}\nchangetype: modify\nreplace: uniqueMember\nuniqueMember: ${FIXTURE_USERS.carol.dn}\n-\n`);
      }
    });
  });

  describe("the attack catalogue (docs/security.md §3)", () => {
    it("L1: a valid LDAP username with an empty password is refused before any bind, and no counter moves", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      // This slapd answers a bind with a DN and an empty password as anonymous success (RFC 4513 §5.1.2), as AD
      // does: were the empty password forwarded, alice would be signed in.
      const { res } = await signIn("alice", "");
      expect([400, 422]).toContain(res.status);
      expect(await userRow("alice")).toBeUndefined();
      expect(await failureRow(db, "account", "alice")).toBeUndefined();
      expect(await signInWithDirectory(await directoryServers(db, testKeys), "alice", "")).toEqual({ status: "rejected", reasons: [], changes: [] });
    });

    it("L11: the directory's 'admin' never signs into the local administrator 'admin', and is never merged with it", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      const before = await userRow("admin");
      expectGenericFailure((await signIn("admin", FIXTURE_USERS.admin.password)).res);
      expect(await userRow("admin")).toEqual(before);
      expect(Number((await db("users").count<{ count: string }[]>("* as count").first())?.count)).toBe(1);
      // The local administrator still signs in with the local password, and only with it.
      expect((await signIn("admin", LOCAL_ADMIN_PASSWORD)).res.status).toBe(303);
    });

    it("D1: filter metacharacters are data: no wildcard ever matches, the failure is generic, nothing is created", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      for (const username of ["*", "*)(uid=*", "admin)(|(objectClass=*", "\\00", "alice*", "*)(|(uid=alice"]) {
        const { res } = await signIn(username, FIXTURE_USERS.alice.password);
        expectGenericFailure(res);
      }
      expect(await db("users").where({ auth_source: "ldap" }).first()).toBeUndefined();
    });

    it("D2: a sign-in name that matches two entries is a clean failure, not a 500", async () => {
      await useDirectory({ userIdField: "mail" });
      await setOptions({ allowUserCreation: true });
      const { res } = await signIn("dup@example.test", FIXTURE_USERS.dup.password);
      expectGenericFailure(res);
      expect(await lastFailureReason()).toBe("directory_ambiguous");
    });

    it("D3: a uid with , + = \" < > ; works as data: search, then bind with the DN the directory returned", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      const operators = await makeTeam(db, "Operators");
      await addLdapGroupMapping(db, SYSTEM_ACTOR, "operators", [operators.id]);
      const { res } = await signIn(SPECIAL_UID, FIXTURE_USERS[SPECIAL_UID].password);
      expect(res.status).toBe(303);
      const row = await userRow(SPECIAL_UID);
      expect(row.username).toBe(SPECIAL_UID);
      expect(await teamNamesOf(row.id)).toEqual(["Operators"]);
    });

    it("D4: directory down: 503 'directory unavailable', no failure counted, a local administrator still signs in; back up, it works again", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      await directory.stop();
      const { res } = await signIn("alice", FIXTURE_USERS.alice.password);
      expect(res.status).toBe(503);
      expect(decodeEntities(res.text)).toContain(DIRECTORY_UNAVAILABLE);
      expect((await failureRow(db, "account", "alice"))?.failures ?? 0).toBe(0);
      expect((await auditEvents(db, "sign_in.directory_unavailable")).length).toBe(1);
      expect((await signIn("admin", LOCAL_ADMIN_PASSWORD)).res.status).toBe(303);
      await directory.restart();
      expect((await signIn("alice", FIXTURE_USERS.alice.password)).res.status).toBe(303);
    });

    it("D4: with two servers, the first down, the second signs the person in (tried in order)", async () => {
      await useDirectory({ url: await TestDirectory.refusedUrl() });
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      expect((await signIn("alice", FIXTURE_USERS.alice.password)).res.status).toBe(303);
    });

    it("D5: a port that accepts but never answers gives the same 503 after the operation timeout; no failure counted", async () => {
      const silent = await TestDirectory.silentPort();
      try {
        await useDirectory({ url: silent.url });
        await setOptions({ allowUserCreation: true });
        const { res } = await signIn("alice", FIXTURE_USERS.alice.password);
        expect(res.status).toBe(503);
        expect(decodeEntities(res.text)).toContain(DIRECTORY_UNAVAILABLE);
        expect(silent.connections()).toBeGreaterThan(0);
        expect((await failureRow(db, "account", "alice"))?.failures ?? 0).toBe(0);
        expect((await signIn("admin", LOCAL_ADMIN_PASSWORD)).res.status).toBe(303);
      } finally {
        await silent.close();
      }
    }, 30_000);

    it("D5: a silent server is marked down after two sign-ins that waited: the next one skips it at once, tries the next server, and the log says so once", async () => {
      const silent = await TestDirectory.silentPort();
      try {
        await useDirectory({ url: silent.url });
        await setOptions({ allowUserCreation: true });
        for (let i = 0; i < 2; i++) expect((await signIn("alice", FIXTURE_USERS.alice.password)).res.status).toBe(503);
        const asked = silent.connections();
        const [down] = await auditEvents(db, "directory.server_down");
        expect(down).toMatchObject({ targetLabel: silent.url });

        const { res } = await signIn("alice", FIXTURE_USERS.alice.password);
        expect(res.status).toBe(503);
        expect(decodeEntities(res.text)).toContain(DIRECTORY_UNAVAILABLE);
        expect(silent.connections()).toBe(asked);

        // A second server, after the silent one, signs people in meanwhile; the first is still not asked.
        await useDirectory();
        expect((await signIn("alice", FIXTURE_USERS.alice.password)).res.status).toBe(303);
        expect(silent.connections()).toBe(asked);
        expect(await auditEvents(db, "directory.server_down")).toHaveLength(1);
        expect((await signIn("admin", LOCAL_ADMIN_PASSWORD)).res.status).toBe(303);
      } finally {
        await silent.close();
      }
    }, 60_000);

    it("D6: LDAPS or StartTLS with a certificate from another CA is refused (never plain text); with the right CA it works", async () => {
      await setOptions({ allowUserCreation: true });
      const wrong = await useDirectory({ url: directory.ldapsUrl, caCertificate: directory.otherCaPem });
      expect((await signIn("alice", FIXTURE_USERS.alice.password)).res.status).toBe(503);
      const problems = (await auditEvents(db, "sign_in.directory_unavailable")).at(-1)?.details as { problems: string[] };
      expect(problems.problems.join(" ")).toMatch(/tls/);

      await db("ldap_servers").where({ id: wrong.id }).delete();
      await useDirectory({ url: directory.url, startTls: true, caCertificate: directory.otherCaPem });
      expect((await signIn("alice", FIXTURE_USERS.alice.password)).res.status).toBe(503);

      await db("ldap_servers").delete();
      await useDirectory({ url: directory.ldapsUrl, caCertificate: directory.caPem });
      const ldaps = await signIn("alice", FIXTURE_USERS.alice.password);
      expect(ldaps.res.status, JSON.stringify((await auditEvents(db, "sign_in.directory_unavailable")).at(-1)?.details)).toBe(303);
      await db("ldap_servers").delete();
      await useDirectory({ url: directory.url, startTls: true, caCertificate: directory.caPem });
      expect((await signIn("carol", FIXTURE_USERS.carol.password)).res.status).toBe(303);
    });

    it("D7: two simultaneous first sign-ins of one new person make exactly one account, and both succeed", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      const everyone = await makeTeam(db, "Everyone");
      await addLdapDefaultTeam(db, SYSTEM_ACTOR, everyone.id);
      const agents = [new TestAgent(app), new TestAgent(app)];
      await Promise.all(agents.map((agent) => agent.refreshToken("/login")));
      const results = await Promise.all(agents.map((agent) => agent.post("/login", { username: "alice", password: FIXTURE_USERS.alice.password })));
      expect(results.map((r) => r.status)).toEqual([303, 303]);
      const rows = await db("users").where({ auth_source: "ldap" });
      expect(rows).toHaveLength(1);
      expect(await teamNamesOf(rows[0].id)).toEqual(["Everyone"]);
    });

    it("D8: markup in the directory's cn is stored raw and shown escaped, on the user list and the user's page", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      expect((await signIn("mallory", FIXTURE_USERS.mallory.password)).res.status).toBe(303);
      const row = await userRow("mallory");
      expect(row.full_name).toBe("<img src=x onerror=alert(1)>");
      const { agent } = await signIn("admin", LOCAL_ADMIN_PASSWORD);
      for (const url of ["/admin/users", `/admin/users/${row.id}`]) {
        const page = await agent.get(url);
        expect(page.status).toBe(200);
        expect(page.text).not.toContain("<img src=x");
        expect(page.text).toContain("&lt;img src=x onerror=alert(1)&gt;");
      }
    });

    it("D9: removed from the directory while signed in: the next sign-in fails; the running session lasts until it times out or an administrator ends it", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      const { agent } = await signIn("bob", FIXTURE_USERS.bob.password);
      await agent.refreshToken("/profile");
      const bobDn = FIXTURE_USERS.bob.dn;
      await directory.setPassword(bobDn, "a new directory password");
      try {
        expectGenericFailure((await signIn("bob", FIXTURE_USERS.bob.password)).res);
        // Documented: Gatehouse does not poll the directory; the session ends at its idle or absolute timeout.
        expect((await agent.get("/profile")).status).toBe(200);
        // An administrator disabling the account ends it at once.
        await db("users").where({ username: "bob" }).update({ disabled: true });
        expect((await agent.get("/profile")).status).toBe(303);
      } finally {
        await directory.setPassword(bobDn, FIXTURE_USERS.bob.password);
      }
    });

    it("D10: an LDAP account is offered no password change and cannot set one; no local password is ever stored", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      const { agent } = await signIn("alice", FIXTURE_USERS.alice.password);
      const profile = await agent.get("/profile");
      expect(pageText(profile.text)).toContain("Your password is managed by your directory (LDAP)");
      expect(profile.text).not.toContain('action="/profile/password"');
      await agent.refreshToken("/profile");
      const res = await agent.post("/profile/password", {
        currentPassword: FIXTURE_USERS.alice.password,
        newPassword: "a brand new local password 99",
        confirmPassword: "a brand new local password 99",
      });
      expect(res.status).toBe(403);
      expect((await userRow("alice")).password_hash).toBeNull();
    });
  });

  describe("throttling, re-authentication and two-factor apply to LDAP accounts as to local ones", () => {
    it("a sensitive change after 15 minutes asks for the directory password, and only the right one passes", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      const { agent } = await signIn("alice", FIXTURE_USERS.alice.password);
      await setSessionClocks(db, sidOf(agentSessionCookie(agent)), { authAt: Date.now() - 16 * 60_000 });
      const profile = await agent.get("/profile");
      expect(pageText(profile.text)).toContain("Password to confirm a new email");
      await agent.refreshToken("/profile");
      const form = { fullName: "Alice Archer", title: "", phone: "", email: "alice.new@example.test" };
      const wrong = await agent.post("/profile", { ...form, password: "not alice's password" });
      expect(wrong.status).toBe(422);
      expect(fieldError(wrong.text, "password")).toBe("Password is not correct.");
      expect((await failureRow(db, "account", "alice"))?.failures).toBe(1);
      // The directory password passes the check; the change then stops at the next rule (no mail server here).
      const right = await agent.post("/profile", { ...form, password: FIXTURE_USERS.alice.password });
      expect(right.status).toBe(422);
      expect(pageText(right.text)).toContain("Email is not configured");
      expect(await failureRow(db, "account", "alice")).toBeUndefined();
    });

    it("a wrong directory password counts against the account; the generic message does not say which part was wrong", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      for (let i = 0; i < 3; i++) expectGenericFailure((await signIn("alice", "not alice's password")).res);
      expect((await failureRow(db, "account", "alice"))?.failures).toBe(3);
      expect(await lastFailureReason()).toBe("directory_invalid_credentials");
      // passport-ldapauth reports an unknown name and a wrong password alike; so does Gatehouse, to the log too.
      expectGenericFailure((await signIn("nobody-here", "whatever password")).res);
      expect(await lastFailureReason()).toBe("directory_invalid_credentials");
    });

    it("with 2FA on, an LDAP sign-in stops at the code step", async () => {
      await useDirectory();
      await setOptions({ allowUserCreation: true });
      expect((await signIn("alice", FIXTURE_USERS.alice.password)).res.status).toBe(303);
      await db("users").where({ username: "alice" }).update({ email_verified: true, two_factor_method: "email" });
      const { agent, res } = await signIn("alice", FIXTURE_USERS.alice.password);
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe("/login/code");
      expect((await agent.get("/systems")).headers.location).toBe("/login/code");
    });
  });
});
