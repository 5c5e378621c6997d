import { randomBytes } from "node:crypto";
import type { Express } from "express";
import supertest from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { digestOfToken, newRandomToken } from "../../src/lib/secret-box.ts";
import { insertOidcClient } from "../../src/repositories/oidc-clients.ts";
import { grant, makeGroup, makeSystem, makeTeam, rowCount } from "../helpers/access.ts";
import { apiTokenIdOf, createTestApiToken, expireTestApiToken } from "../helpers/api-tokens.ts";
import { createTestApp } from "../helpers/app.ts";
import { createTestDb, resetDb } from "../helpers/db.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/**
 * Every operation of the REST API, each with the answers a client can get: no token (401), an object that is not
 * the caller's (404), something the caller may not do (403), bad input (400 naming the field), and success.
 * One set of accounts and tokens for the file; each case makes the records it needs.
 */

let db: Db;
let app: Express;
const tokens: Record<"admin" | "alice", string> = { admin: "", alice: "" };
let admin: { id: number; username: string };
let alice: { id: number; username: string };
let bob: { id: number; username: string };

beforeAll(async () => {
  db = await createTestDb();
  await resetDb(db);
  app = createTestApp(db);
  admin = await insertTestAdmin(db, { username: "root" });
  alice = await insertTestUser(db, { username: "alice" });
  bob = await insertTestUser(db, { username: "bob" });
  tokens.admin = await createTestApiToken(db, admin);
  tokens.alice = await createTestApiToken(db, alice);
});
afterAll(async () => {
  await db.destroy();
});

type Method = "get" | "post" | "put" | "patch" | "delete";
type Caller = "admin" | "alice" | "nobody";
interface Call {
  method: Method;
  path: string;
  body?: unknown;
  /** A body that is not JSON (the CSV import), sent as this media type. */
  contentType?: string;
  as: Caller;
}

function call({ method, path, body, contentType, as }: Call) {
  let request = supertest(app)[method](`/api/v1${path}`).set("Accept", "application/json");
  if (as !== "nobody") request = request.set("Authorization", `Bearer ${tokens[as]}`);
  if (contentType) return request.set("Content-Type", contentType).send(body as string);
  return body === undefined ? request : request.send(body as object);
}

let n = 0;
const unique = (prefix: string) => `${prefix}-${++n}`;

/** A response body: whatever JSON the server sent; the expectations are its type check. */
// biome-ignore lint/suspicious/noExplicitAny: the checks below read parsed JSON field by field
type Json = any;

interface Case {
  operationId: string;
  success: () => Promise<Call & { status: number; check?: (body: Json) => Promise<void> | void }>;
  /**
   * Someone else's object, or one that does not exist: 404. Lists, creates and /me address no object; their
   * success checks show instead that another account's objects are not listed.
   */
  notFound?: () => Promise<Call>;
  /** Not allowed (403); undefined only where no caller with a valid token is ever refused. */
  forbidden?: () => Promise<Call>;
  /** Bad input (400 naming `field`); undefined only where the operation takes no input at all. */
  badInput?: () => Promise<Call & { field: string }>;
}

const MISSING = 99_999;

const REDIRECT_URI = "https://app.example.com/oauth2/callback";

/** A system with sign-in with Gatehouse enabled, set up straight through the repository (no audit event). */
async function systemWithSignIn() {
  const system = await makeSystem(db);
  const clientId = `gh-${randomBytes(16).toString("base64url")}`;
  await insertOidcClient(db, { systemId: system.id, clientId, secretDigest: digestOfToken(newRandomToken()), redirectUris: [REDIRECT_URI], backchannelLogoutUri: null });
  return system;
}

/** A system alice has read/write on, with sign-in enabled: still not hers to configure. */
async function readWriteSystem() {
  const system = await systemWithSignIn();
  await grant(db, { kind: "user", id: alice.id }, { kind: "system", id: system.id }, "read/write");
  return system;
}

const cases: Case[] = [
  {
    operationId: "getMe",
    success: async () => ({ method: "get", path: "/me", as: "alice", status: 200, check: (b) => expect(b.username).toBe("alice") }),
  },
  {
    operationId: "listUsers",
    success: async () => ({
      method: "get",
      path: "/users?q=ali",
      as: "admin",
      status: 200,
      check: (b) => expect(b.data.map((u: { username: string }) => u.username)).toEqual(["alice"]),
    }),
    badInput: async () => ({ method: "get", path: "/users?perPage=500", as: "admin", field: "perPage" }),
  },
  {
    operationId: "listUsers",
    success: async () => ({
      method: "get",
      path: "/users",
      as: "alice",
      status: 200,
      check: (b) => expect(b.data.map((u: { username: string }) => u.username)).toEqual(["alice"]),
    }),
  },
  {
    operationId: "createUser",
    success: async () => {
      const username = unique("carol");
      return {
        method: "post",
        path: "/users",
        body: { username, fullName: "Carol C", password: "correct horse battery staple" },
        as: "admin",
        status: 201,
        check: async (b) => {
          expect(b).toMatchObject({ username, fullName: "Carol C", isAdmin: false, authSource: "local" });
          expect(b).not.toHaveProperty("passwordHash");
          expect(await rowCount(db, "users", { username })).toBe(1);
        },
      };
    },
    forbidden: async () => ({ method: "post", path: "/users", body: { username: unique("x"), password: "correct horse battery staple" }, as: "alice" }),
    badInput: async () => ({ method: "post", path: "/users", body: { username: unique("dave"), password: "short" }, as: "admin", field: "password" }),
  },
  {
    operationId: "importUsers",
    success: async () => {
      const username = unique("imported");
      return {
        method: "post",
        path: "/users/import",
        body: `username,full name\n${username},Ivy Imported\n`,
        contentType: "text/csv",
        as: "admin",
        status: 201,
        check: async (b) => {
          expect(b).toMatchObject({ imported: 1, accounts: [{ username, fullName: "Ivy Imported", authSource: "local" }] });
          expect(await rowCount(db, "users", { username })).toBe(1);
        },
      };
    },
    forbidden: async () => ({ method: "post", path: "/users/import", body: `username\n${unique("x")}\n`, contentType: "text/csv", as: "alice" }),
    badInput: async () => ({ method: "post", path: "/users/import?checkOnly=maybe", body: "username\nx\n", contentType: "text/csv", as: "admin", field: "checkOnly" }),
  },
  {
    operationId: "getUser",
    success: async () => ({ method: "get", path: `/users/${alice.id}`, as: "alice", status: 200, check: (b) => expect(b.id).toBe(alice.id) }),
    notFound: async () => ({ method: "get", path: `/users/${bob.id}`, as: "alice" }),
    badInput: async () => ({ method: "get", path: `/users/${alice.id}?expand=all`, as: "alice", field: "expand" }),
  },
  {
    operationId: "updateUser",
    success: async () => {
      const user = await insertTestUser(db, { fullName: "Kept Fullname", phone: "+1 555 0100" });
      return {
        method: "patch",
        path: `/users/${user.id}`,
        body: { version: user.version, title: "Storage lead" },
        as: "admin",
        status: 200,
        check: (b) => expect(b).toMatchObject({ title: "Storage lead", username: user.username, fullName: "Kept Fullname", phone: "+1 555 0100", version: user.version + 1 }),
      };
    },
    notFound: async () => ({ method: "patch", path: `/users/${MISSING}`, body: { version: 1, title: "x" }, as: "admin" }),
    forbidden: async () => ({ method: "patch", path: `/users/${alice.id}`, body: { version: 1, isAdmin: true }, as: "alice" }),
    badInput: async () => ({ method: "patch", path: `/users/${bob.id}`, body: { version: 1, title: "a\u202Eb" }, as: "admin", field: "title" }),
  },
  {
    operationId: "deleteUser",
    success: async () => {
      const user = await insertTestUser(db);
      return {
        method: "delete",
        path: `/users/${user.id}`,
        as: "admin",
        status: 204,
        check: async () => expect(await rowCount(db, "users", { id: user.id })).toBe(0),
      };
    },
    notFound: async () => ({ method: "delete", path: `/users/${MISSING}`, as: "admin" }),
    forbidden: async () => ({ method: "delete", path: `/users/${bob.id}`, as: "alice" }),
    badInput: async () => ({ method: "delete", path: `/users/${bob.id}?version=abc`, as: "admin", field: "version" }),
  },
  {
    operationId: "listTeams",
    success: async () => {
      const mine = await makeTeam(db, unique("mine"), [alice]);
      await makeTeam(db, unique("theirs"), [bob]);
      return {
        method: "get",
        path: "/teams",
        as: "alice",
        status: 200,
        check: (b) => {
          const names = b.data.map((t: { name: string }) => t.name);
          expect(names).toContain(mine.name);
          expect(names.filter((name: string) => name.startsWith("theirs"))).toEqual([]);
        },
      };
    },
    badInput: async () => ({ method: "get", path: "/teams?page=0", as: "alice", field: "page" }),
  },
  {
    operationId: "createTeam",
    success: async () => {
      const name = unique("storage");
      return { method: "post", path: "/teams", body: { name, description: "NAS people" }, as: "admin", status: 201, check: (b) => expect(b).toMatchObject({ name, memberCount: 0 }) };
    },
    forbidden: async () => ({ method: "post", path: "/teams", body: { name: unique("t") }, as: "alice" }),
    badInput: async () => ({ method: "post", path: "/teams", body: { name: "   " }, as: "admin", field: "name" }),
  },
  {
    operationId: "getTeam",
    success: async () => {
      const team = await makeTeam(db, unique("own"), [alice]);
      return { method: "get", path: `/teams/${team.id}`, as: "alice", status: 200, check: (b) => expect(b.name).toBe(team.name) };
    },
    notFound: async () => ({ method: "get", path: `/teams/${(await makeTeam(db, unique("other"), [bob])).id}`, as: "alice" }),
    badInput: async () => ({ method: "get", path: `/teams/${(await makeTeam(db, unique("own"), [alice])).id}?x=1`, as: "alice", field: "x" }),
  },
  {
    operationId: "updateTeam",
    success: async () => {
      const team = await makeTeam(db, unique("rename"));
      await db("teams").where({ id: team.id }).update({ description: "kept as it was" });
      const name = unique("renamed");
      // Only the fields sent change: the description stays (PATCH, not PUT).
      return { method: "patch", path: `/teams/${team.id}`, body: { version: team.version, name }, as: "admin", status: 200, check: (b) => expect(b).toMatchObject({ name, description: "kept as it was" }) };
    },
    notFound: async () => ({ method: "patch", path: `/teams/${MISSING}`, body: { version: 1, name: "x" }, as: "admin" }),
    forbidden: async () => {
      const team = await makeTeam(db, unique("own"), [alice]);
      return { method: "patch", path: `/teams/${team.id}`, body: { version: team.version, name: "mine now" }, as: "alice" };
    },
    badInput: async () => {
      const team = await makeTeam(db, unique("t"));
      return { method: "patch", path: `/teams/${team.id}`, body: { name: "x" }, as: "admin", field: "version" };
    },
  },
  {
    operationId: "deleteTeam",
    success: async () => {
      const team = await makeTeam(db, unique("doomed"));
      return { method: "delete", path: `/teams/${team.id}`, as: "admin", status: 204, check: async () => expect(await rowCount(db, "teams", { id: team.id })).toBe(0) };
    },
    notFound: async () => ({ method: "delete", path: `/teams/${MISSING}`, as: "admin" }),
    forbidden: async () => ({ method: "delete", path: `/teams/${(await makeTeam(db, unique("t"), [alice])).id}`, as: "alice" }),
    badInput: async () => ({ method: "delete", path: `/teams/${(await makeTeam(db, unique("t"))).id}?version=-1`, as: "admin", field: "version" }),
  },
  {
    operationId: "listTeamMembers",
    success: async () => {
      const team = await makeTeam(db, unique("members"), [alice, bob]);
      return {
        method: "get",
        path: `/teams/${team.id}/members?perPage=1&page=2`,
        as: "admin",
        status: 200,
        check: (b) => {
          expect(b.data.map((m: { username: string }) => m.username)).toEqual(["bob"]);
          expect(b.paging).toEqual({ page: 2, perPage: 1, total: 2, pageCount: 2 });
        },
      };
    },
    notFound: async () => ({ method: "get", path: `/teams/${(await makeTeam(db, unique("other"), [bob])).id}/members`, as: "alice" }),
    forbidden: async () => ({ method: "get", path: `/teams/${(await makeTeam(db, unique("own"), [alice])).id}/members`, as: "alice" }),
    badInput: async () => ({ method: "get", path: `/teams/${(await makeTeam(db, unique("t"))).id}/members?perPage=x`, as: "admin", field: "perPage" }),
  },
  {
    operationId: "addTeamMember",
    success: async () => {
      const team = await makeTeam(db, unique("join"));
      return {
        method: "put",
        path: `/teams/${team.id}/members/${bob.id}`,
        as: "admin",
        status: 201,
        check: async (b) => {
          expect(b).toMatchObject({ added: true, user: { username: "bob" } });
          expect(await rowCount(db, "team_members", { team_id: team.id, user_id: bob.id })).toBe(1);
          const again = await call({ method: "put", path: `/teams/${team.id}/members/${bob.id}`, as: "admin" });
          expect(again.status).toBe(200);
          expect(await rowCount(db, "team_members", { team_id: team.id })).toBe(1);
        },
      };
    },
    notFound: async () => ({ method: "put", path: `/teams/${(await makeTeam(db, unique("t"))).id}/members/${MISSING}`, as: "admin" }),
    forbidden: async () => ({ method: "put", path: `/teams/${(await makeTeam(db, unique("t"))).id}/members/${alice.id}`, as: "alice" }),
    badInput: async () => ({ method: "put", path: `/teams/${(await makeTeam(db, unique("t"))).id}/members/${bob.id}`, body: { role: "admin" }, as: "admin", field: "role" }),
  },
  {
    operationId: "removeTeamMember",
    success: async () => {
      const team = await makeTeam(db, unique("leave"), [bob]);
      return { method: "delete", path: `/teams/${team.id}/members/${bob.id}`, as: "admin", status: 204, check: async () => expect(await rowCount(db, "team_members", { team_id: team.id })).toBe(0) };
    },
    notFound: async () => ({ method: "delete", path: `/teams/${MISSING}/members/${bob.id}`, as: "admin" }),
    forbidden: async () => ({ method: "delete", path: `/teams/${(await makeTeam(db, unique("t"), [alice])).id}/members/${alice.id}`, as: "alice" }),
    badInput: async () => ({ method: "delete", path: `/teams/${(await makeTeam(db, unique("t"), [bob])).id}/members/${bob.id}`, body: { force: true }, as: "admin", field: "force" }),
  },
  {
    operationId: "listSystems",
    success: async () => {
      const seen = await makeSystem(db);
      const unseen = await makeSystem(db);
      await grant(db, { kind: "user", id: alice.id }, { kind: "system", id: seen.id }, "read");
      return {
        method: "get",
        path: "/systems?perPage=200",
        as: "alice",
        status: 200,
        check: (b) => {
          expect(b.data).toContainEqual(expect.objectContaining({ id: seen.id, name: seen.name, permission: "read" }));
          expect(b.data.map((s: { id: number }) => s.id)).not.toContain(unseen.id);
        },
      };
    },
    badInput: async () => ({ method: "get", path: `/systems?q=${"x".repeat(201)}`, as: "alice", field: "q" }),
  },
  {
    operationId: "createSystem",
    success: async () => {
      const name = unique("api-nas");
      return { method: "post", path: "/systems", body: { name, host: "nas.example.com:443" }, as: "admin", status: 201, check: (b) => expect(b).toMatchObject({ name, host: "nas.example.com:443", permission: "read/write" }) };
    },
    forbidden: async () => ({ method: "post", path: "/systems", body: { name: unique("s"), host: "a.example" }, as: "alice" }),
    badInput: async () => ({ method: "post", path: "/systems", body: { name: unique("s"), host: "javascript:alert(1)" }, as: "admin", field: "host" }),
  },
  {
    operationId: "getSystem",
    success: async () => {
      const system = await makeSystem(db);
      await grant(db, { kind: "user", id: alice.id }, { kind: "system", id: system.id }, "read/write");
      return { method: "get", path: `/systems/${system.id}`, as: "alice", status: 200, check: (b) => expect(b).toMatchObject({ id: system.id, permission: "read/write" }) };
    },
    notFound: async () => ({ method: "get", path: `/systems/${(await makeSystem(db)).id}`, as: "alice" }),
    badInput: async () => ({ method: "get", path: `/systems/${(await makeSystem(db)).id}?full=1`, as: "admin", field: "full" }),
  },
  {
    operationId: "updateSystem",
    success: async () => {
      const system = await makeSystem(db);
      await grant(db, { kind: "user", id: alice.id }, { kind: "system", id: system.id }, "read/write");
      return { method: "patch", path: `/systems/${system.id}`, body: { version: system.version, notes: "Patched Tuesday" }, as: "alice", status: 200, check: (b) => expect(b.notes).toBe("Patched Tuesday") };
    },
    notFound: async () => ({ method: "patch", path: `/systems/${(await makeSystem(db)).id}`, body: { version: 1, notes: "x" }, as: "alice" }),
    forbidden: async () => {
      const system = await makeSystem(db);
      await grant(db, { kind: "user", id: alice.id }, { kind: "system", id: system.id }, "read");
      return { method: "patch", path: `/systems/${system.id}`, body: { version: system.version, notes: "x" }, as: "alice" };
    },
    badInput: async () => {
      const system = await makeSystem(db);
      return { method: "patch", path: `/systems/${system.id}`, body: { version: system.version, notes: "a\u0000b" }, as: "admin", field: "notes" };
    },
  },
  {
    operationId: "deleteSystem",
    success: async () => {
      const system = await makeSystem(db);
      return { method: "delete", path: `/systems/${system.id}`, as: "admin", status: 204, check: async () => expect(await rowCount(db, "systems", { id: system.id })).toBe(0) };
    },
    notFound: async () => ({ method: "delete", path: `/systems/${MISSING}`, as: "admin" }),
    forbidden: async () => {
      const system = await makeSystem(db);
      await grant(db, { kind: "user", id: alice.id }, { kind: "system", id: system.id }, "read/write");
      return { method: "delete", path: `/systems/${system.id}`, as: "alice" };
    },
    badInput: async () => ({ method: "delete", path: `/systems/${(await makeSystem(db)).id}?version=1.5`, as: "admin", field: "version" }),
  },
  {
    operationId: "getSystemOidcClient",
    success: async () => {
      const system = await systemWithSignIn();
      return { method: "get", path: `/systems/${system.id}/oidc-client`, as: "admin", status: 200, check: (b) => expect(b).toMatchObject({ redirectUris: [REDIRECT_URI] }) };
    },
    notFound: async () => ({ method: "get", path: `/systems/${(await makeSystem(db)).id}/oidc-client`, as: "admin" }),
    forbidden: async () => ({ method: "get", path: `/systems/${(await readWriteSystem()).id}/oidc-client`, as: "alice" }),
    badInput: async () => ({ method: "get", path: `/systems/${(await systemWithSignIn()).id}/oidc-client?secret=1`, as: "admin", field: "secret" }),
  },
  {
    operationId: "setSystemOidcClient",
    success: async () => {
      const system = await makeSystem(db);
      return {
        method: "put",
        path: `/systems/${system.id}/oidc-client`,
        body: { redirectUris: [REDIRECT_URI] },
        as: "admin",
        status: 201,
        check: (b) => expect(b).toMatchObject({ clientId: expect.stringMatching(/^gh-/), clientSecret: expect.any(String) }),
      };
    },
    notFound: async () => ({ method: "put", path: `/systems/${MISSING}/oidc-client`, body: { redirectUris: [REDIRECT_URI] }, as: "admin" }),
    forbidden: async () => ({ method: "put", path: `/systems/${(await readWriteSystem()).id}/oidc-client`, body: { redirectUris: [REDIRECT_URI] }, as: "alice" }),
    badInput: async () => ({
      method: "put",
      path: `/systems/${(await makeSystem(db)).id}/oidc-client`,
      body: { redirectUris: ["http://app.example.com/cb"] },
      as: "admin",
      field: "redirectUris",
    }),
  },
  {
    operationId: "rotateSystemOidcClientSecret",
    success: async () => {
      const system = await systemWithSignIn();
      return { method: "post", path: `/systems/${system.id}/oidc-client/secret`, as: "admin", status: 200, check: (b) => expect(b.clientSecret).toEqual(expect.any(String)) };
    },
    notFound: async () => ({ method: "post", path: `/systems/${(await makeSystem(db)).id}/oidc-client/secret`, as: "admin" }),
    forbidden: async () => ({ method: "post", path: `/systems/${(await readWriteSystem()).id}/oidc-client/secret`, as: "alice" }),
    badInput: async () => ({ method: "post", path: `/systems/${(await systemWithSignIn()).id}/oidc-client/secret`, body: { length: 64 }, as: "admin", field: "length" }),
  },
  {
    operationId: "disableSystemOidcClient",
    success: async () => {
      const system = await systemWithSignIn();
      return { method: "delete", path: `/systems/${system.id}/oidc-client`, as: "admin", status: 204, check: async () => expect(await rowCount(db, "oidc_clients", { system_id: system.id })).toBe(0) };
    },
    notFound: async () => ({ method: "delete", path: `/systems/${MISSING}/oidc-client`, as: "admin" }),
    forbidden: async () => ({ method: "delete", path: `/systems/${(await readWriteSystem()).id}/oidc-client`, as: "alice" }),
    badInput: async () => ({ method: "delete", path: `/systems/${(await systemWithSignIn()).id}/oidc-client?version=1`, as: "admin", field: "version" }),
  },
  {
    operationId: "listGroups",
    success: async () => {
      const group = await makeGroup(db, unique("grp"));
      return { method: "get", path: `/groups?q=${group.name}`, as: "admin", status: 200, check: (b) => expect(b.data).toEqual([expect.objectContaining({ id: group.id, name: group.name })]) };
    },
    forbidden: async () => ({ method: "get", path: "/groups", as: "alice" }),
    badInput: async () => ({ method: "get", path: "/groups?page=1&page=2", as: "admin", field: "page" }),
  },
  {
    operationId: "createGroup",
    success: async () => {
      const name = unique("nas-prod");
      return { method: "post", path: "/groups", body: { name }, as: "admin", status: 201, check: (b) => expect(b).toMatchObject({ name, systemCount: 0 }) };
    },
    forbidden: async () => ({ method: "post", path: "/groups", body: { name: unique("g") }, as: "alice" }),
    badInput: async () => ({ method: "post", path: "/groups", body: { name: "x".repeat(101) }, as: "admin", field: "name" }),
  },
  {
    operationId: "getGroup",
    success: async () => {
      const group = await makeGroup(db, unique("g"));
      return { method: "get", path: `/groups/${group.id}`, as: "admin", status: 200, check: (b) => expect(b.name).toBe(group.name) };
    },
    notFound: async () => ({ method: "get", path: `/groups/${MISSING}`, as: "admin" }),
    forbidden: async () => ({ method: "get", path: `/groups/${(await makeGroup(db, unique("g"))).id}`, as: "alice" }),
    badInput: async () => ({ method: "get", path: `/groups/${(await makeGroup(db, unique("g"))).id}?sort=name`, as: "admin", field: "sort" }),
  },
  {
    operationId: "updateGroup",
    success: async () => {
      const group = await makeGroup(db, unique("g"));
      return { method: "patch", path: `/groups/${group.id}`, body: { version: group.version, description: "Production NAS" }, as: "admin", status: 200, check: (b) => expect(b.description).toBe("Production NAS") };
    },
    notFound: async () => ({ method: "patch", path: `/groups/${MISSING}`, body: { version: 1 }, as: "admin" }),
    forbidden: async () => ({ method: "patch", path: `/groups/${(await makeGroup(db, unique("g"))).id}`, body: { version: 1 }, as: "alice" }),
    badInput: async () => ({ method: "patch", path: `/groups/${(await makeGroup(db, unique("g"))).id}`, body: { version: "1" }, as: "admin", field: "version" }),
  },
  {
    operationId: "deleteGroup",
    success: async () => {
      const group = await makeGroup(db, unique("g"));
      return { method: "delete", path: `/groups/${group.id}`, as: "admin", status: 204, check: async () => expect(await rowCount(db, "system_groups", { id: group.id })).toBe(0) };
    },
    notFound: async () => ({ method: "delete", path: `/groups/${MISSING}`, as: "admin" }),
    forbidden: async () => ({ method: "delete", path: `/groups/${(await makeGroup(db, unique("g"))).id}`, as: "alice" }),
    badInput: async () => ({ method: "delete", path: `/groups/${(await makeGroup(db, unique("g"))).id}?version=0`, as: "admin", field: "version" }),
  },
  {
    operationId: "listGroupSystems",
    success: async () => {
      const system = await makeSystem(db);
      const group = await makeGroup(db, unique("g"), [system]);
      return { method: "get", path: `/groups/${group.id}/systems`, as: "admin", status: 200, check: (b) => expect(b.data).toEqual([{ id: system.id, name: system.name, host: system.host }]) };
    },
    notFound: async () => ({ method: "get", path: `/groups/${MISSING}/systems`, as: "admin" }),
    forbidden: async () => ({ method: "get", path: `/groups/${(await makeGroup(db, unique("g"))).id}/systems`, as: "alice" }),
    badInput: async () => ({ method: "get", path: `/groups/${(await makeGroup(db, unique("g"))).id}/systems?page=abc`, as: "admin", field: "page" }),
  },
  {
    operationId: "addSystemToGroup",
    success: async () => {
      const [system, group] = [await makeSystem(db), await makeGroup(db, unique("g"))];
      return { method: "put", path: `/groups/${group.id}/systems/${system.id}`, as: "admin", status: 201, check: (b) => expect(b).toMatchObject({ added: true, system: { id: system.id } }) };
    },
    notFound: async () => ({ method: "put", path: `/groups/${(await makeGroup(db, unique("g"))).id}/systems/${MISSING}`, as: "admin" }),
    forbidden: async () => ({ method: "put", path: `/groups/${(await makeGroup(db, unique("g"))).id}/systems/${(await makeSystem(db)).id}`, as: "alice" }),
    badInput: async () => ({ method: "put", path: `/groups/${(await makeGroup(db, unique("g"))).id}/systems/${(await makeSystem(db)).id}`, body: { position: 1 }, as: "admin", field: "position" }),
  },
  {
    operationId: "removeSystemFromGroup",
    success: async () => {
      const system = await makeSystem(db);
      const group = await makeGroup(db, unique("g"), [system]);
      return { method: "delete", path: `/groups/${group.id}/systems/${system.id}`, as: "admin", status: 204, check: async () => expect(await rowCount(db, "system_group_members", { group_id: group.id })).toBe(0) };
    },
    notFound: async () => ({ method: "delete", path: `/groups/${MISSING}/systems/1`, as: "admin" }),
    forbidden: async () => ({ method: "delete", path: `/groups/${(await makeGroup(db, unique("g"))).id}/systems/1`, as: "alice" }),
    badInput: async () => ({ method: "delete", path: `/groups/${(await makeGroup(db, unique("g"))).id}/systems/1`, body: { all: true }, as: "admin", field: "all" }),
  },
  ...(["user", "team"] as const).flatMap((subjectKind): Case[] => {
    const Subject = subjectKind === "user" ? "User" : "Team";
    const collection = `${subjectKind}s`;
    const subject = async () => (subjectKind === "user" ? insertTestUser(db) : makeTeam(db, unique("t")));
    return [
      {
        operationId: `list${Subject}Grants`,
        success: async () => {
          const [s, system, group] = [await subject(), await makeSystem(db), await makeGroup(db, unique("g"))];
          await grant(db, { kind: subjectKind, id: s.id }, { kind: "system", id: system.id }, "read");
          await grant(db, { kind: subjectKind, id: s.id }, { kind: "group", id: group.id }, "read/write");
          return {
            method: "get",
            path: `/${collection}/${s.id}/grants`,
            as: "admin",
            status: 200,
            check: (b) =>
              expect(b.data).toEqual([
                { target: { kind: "system", id: system.id, name: system.name }, permission: "read" },
                { target: { kind: "group", id: group.id, name: group.name }, permission: "read/write" },
              ]),
          };
        },
        notFound: async () => ({ method: "get", path: `/${collection}/${MISSING}/grants`, as: "admin" }),
        forbidden: async () => ({ method: "get", path: `/${collection}/${subjectKind === "user" ? alice.id : (await makeTeam(db, unique("t"), [alice])).id}/grants`, as: "alice" }),
        badInput: async () => ({ method: "get", path: `/${collection}/${(await subject()).id}/grants?perPage=0`, as: "admin", field: "perPage" }),
      },
      ...(["system", "group"] as const).flatMap((targetKind): Case[] => {
        const Target = targetKind === "system" ? "System" : "Group";
        const target = async () => (targetKind === "system" ? makeSystem(db) : makeGroup(db, unique("g")));
        const table = `${subjectKind}_${targetKind}_grants`;
        return [
          {
            operationId: `set${Subject}${Target}Grant`,
            success: async () => {
              const [s, t] = [await subject(), await target()];
              await grant(db, { kind: subjectKind, id: s.id }, { kind: targetKind, id: t.id }, "read");
              return {
                method: "put",
                path: `/${collection}/${s.id}/grants/${targetKind}s/${t.id}`,
                body: { permission: "read/write" },
                as: "admin",
                status: 200,
                check: async (b) => {
                  expect(b).toMatchObject({ created: false, changed: true, permission: "read/write" });
                  expect(await rowCount(db, table, { [`${subjectKind}_id`]: s.id, permission: 2 })).toBe(1);
                },
              };
            },
            notFound: async () => ({ method: "put", path: `/${collection}/${(await subject()).id}/grants/${targetKind}s/${MISSING}`, body: { permission: "read" }, as: "admin" }),
            forbidden: async () => ({
              method: "put",
              path: `/${collection}/${subjectKind === "user" ? alice.id : (await makeTeam(db, unique("t"), [alice])).id}/grants/${targetKind}s/${(await target()).id}`,
              body: { permission: "read/write" },
              as: "alice",
            }),
            badInput: async () => ({
              method: "put",
              path: `/${collection}/${(await subject()).id}/grants/${targetKind}s/${(await target()).id}`,
              body: { permission: "write" },
              as: "admin",
              field: "permission",
            }),
          },
          {
            operationId: `remove${Subject}${Target}Grant`,
            success: async () => {
              const [s, t] = [await subject(), await target()];
              await grant(db, { kind: subjectKind, id: s.id }, { kind: targetKind, id: t.id }, "read");
              return { method: "delete", path: `/${collection}/${s.id}/grants/${targetKind}s/${t.id}`, as: "admin", status: 204, check: async () => expect(await rowCount(db, table, { [`${subjectKind}_id`]: s.id })).toBe(0) };
            },
            notFound: async () => ({ method: "delete", path: `/${collection}/${MISSING}/grants/${targetKind}s/1`, as: "admin" }),
            forbidden: async () => ({ method: "delete", path: `/${collection}/${alice.id}/grants/${targetKind}s/1`, as: "alice" }),
            badInput: async () => ({ method: "delete", path: `/${collection}/${(await subject()).id}/grants/${targetKind}s/1?cascade=1`, as: "admin", field: "cascade" }),
          },
        ];
      }),
    ];
  }),
  {
    operationId: "getEffectiveAccess",
    success: async () => {
      const system = await makeSystem(db);
      const team = await makeTeam(db, unique("ops"), [alice]);
      await grant(db, { kind: "user", id: alice.id }, { kind: "system", id: system.id }, "read");
      await grant(db, { kind: "team", id: team.id }, { kind: "system", id: system.id }, "read/write");
      return {
        method: "get",
        path: `/access?user=${alice.id}&system=${system.id}`,
        as: "alice",
        status: 200,
        check: (b) => {
          expect(b.permission).toBe("read/write");
          expect(b.grants).toEqual([
            expect.objectContaining({ source: "A", explanation: "you, directly", permission: "read", decides: false }),
            expect.objectContaining({ source: "C", explanation: `team ${team.name}`, permission: "read/write", decides: true }),
          ]);
        },
      };
    },
    notFound: async () => ({ method: "get", path: `/access?user=${bob.id}&system=${(await makeSystem(db)).id}`, as: "alice" }),
    badInput: async () => ({ method: "get", path: `/access?user=${alice.id}`, as: "alice", field: "system" }),
  },
  {
    operationId: "getAccessReport",
    success: async () => {
      const system = await makeSystem(db);
      await grant(db, { kind: "user", id: alice.id }, { kind: "system", id: system.id }, "read");
      return {
        method: "get",
        path: `/reports/access?system=${system.id}&user=${alice.id}`,
        as: "admin",
        status: 200,
        check: (b) => {
          expect(b.data).toEqual([expect.objectContaining({ permission: "read", decidedBy: "directly", system: { id: system.id, name: system.name } })]);
          expect(b.paging).toMatchObject({ total: 1 });
        },
      };
    },
    forbidden: async () => ({ method: "get", path: "/reports/access", as: "alice" }),
    badInput: async () => ({ method: "get", path: "/reports/access?team=0", as: "admin", field: "team" }),
  },
];

describe("every API operation", () => {
  it("has its cases here: each operation in the OpenAPI document is exercised below", async () => {
    const res = await supertest(app).get("/api/v1/openapi.json");
    const ids = Object.values(res.body.paths as Record<string, Record<string, { operationId: string }>>).flatMap((methods) => Object.values(methods).map((op) => op.operationId));
    expect(ids.sort()).toEqual([...new Set(cases.map((c) => c.operationId))].sort());
  });

  describe.each(cases.map((c) => [c.operationId, c] as const))("%s", (_id, c) => {
    it("answers 401 without a token, as JSON with a WWW-Authenticate challenge", async () => {
      const res = await call({ ...(await c.success()), as: "nobody" });
      expect(res.status).toBe(401);
      expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
      expect(res.body.error).toMatchObject({ code: "unauthorized" });
    });

    if (c.notFound) {
      const notFound = c.notFound;
      it("answers 404 for an object that is not the caller's or does not exist", async () => {
        const res = await call(await notFound());
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe("not_found");
      });
    }

    if (c.forbidden) {
      const forbidden = c.forbidden;
      it("answers 403 when the caller may not do it, and changes nothing", async () => {
        const before = await db("audit_events").count<{ count: string }[]>("* as count").first();
        const res = await call(await forbidden());
        expect(res.status).toBe(403);
        expect(res.body.error.code).toMatch(/forbidden/);
        const after = await db("audit_events").count<{ count: string }[]>("* as count").first();
        expect(after?.count).toBe(before?.count);
      });
    }

    if (c.badInput) {
      const badInput = c.badInput;
      it("answers 400 naming the bad field", async () => {
        const { field, ...request } = await badInput();
        const res = await call(request);
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe("validation_failed");
        expect(Object.keys(res.body.error.fields ?? {})).toContain(field);
      });
    }

    it("succeeds", async () => {
      const { status, check, ...request } = await c.success();
      const res = await call(request);
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      if (status !== 204) expect(res.headers["content-type"]).toMatch(/application\/json/);
      await check?.(res.body);
    });
  });
});

describe("API tokens at the API", () => {
  it("a revoked token stops working on the next request", async () => {
    const token = await createTestApiToken(db, bob);
    const use = () => supertest(app).get("/api/v1/me").set("Authorization", `Bearer ${token}`);
    expect((await use()).status).toBe(200);
    await db("api_tokens").where({ id: await apiTokenIdOf(db, token) }).update({ revoked_at: db.fn.now() });
    const res = await use();
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toContain('error="invalid_token"');
  });

  it("an expired token stops working on the next request", async () => {
    const token = await createTestApiToken(db, bob, { expiresInDays: 7 });
    const use = () => supertest(app).get("/api/v1/me").set("Authorization", `Bearer ${token}`);
    expect((await use()).status).toBe(200);
    await expireTestApiToken(db, await apiTokenIdOf(db, token));
    expect((await use()).status).toBe(401);
  });

  it("a session cookie is no credential for the API, and the API needs no CSRF token with a bearer token", async () => {
    const res = await supertest(app).post("/api/v1/teams").set("Authorization", `Bearer ${tokens.admin}`).send({ name: unique("no-csrf") });
    expect(res.status).toBe(201);
    const cookieOnly = await supertest(app).get("/api/v1/me").set("Cookie", "gatehouse.sid=whatever");
    expect(cookieOnly.status).toBe(401);
  });

  it("a form-encoded body is refused with 415 and nothing is written", async () => {
    const name = unique("form");
    const res = await supertest(app).post("/api/v1/teams").set("Authorization", `Bearer ${tokens.admin}`).type("form").send({ name });
    expect(res.status).toBe(415);
    expect(await rowCount(db, "teams", { name })).toBe(0);
  });

  it("an unknown API path is a JSON 404, whatever the client accepts", async () => {
    const res = await supertest(app).get("/api/v1/nothing-here").set("Accept", "text/html").set("Authorization", `Bearer ${tokens.admin}`);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
  });

  it("a change through the API is audited as the token's owner, naming the token", async () => {
    const name = unique("audited");
    await supertest(app).post("/api/v1/teams").set("Authorization", `Bearer ${tokens.admin}`).send({ name });
    const event = await db("audit_events").where({ action: "team.created", target_label: name }).first();
    expect(event).toMatchObject({ actor_username: "root" });
    expect(event.details.viaApiToken).toBe(await apiTokenIdOf(db, tokens.admin));
  });

  it("another method on a known address is a 405 naming the methods it has", async () => {
    const res = await call({ method: "put", path: "/users", as: "admin" });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe("GET, POST, HEAD, OPTIONS");
    expect(res.body.error.code).toBe("method_not_allowed");
  });

  it("an anonymous request gets its 401 before its body is read", async () => {
    const res = await supertest(app).post("/api/v1/teams").set("Content-Type", "application/json").send('{"name": ');
    expect(res.status).toBe(401);
  });

  it("a stale version names the version the record is at now", async () => {
    const team = await makeTeam(db, unique("stale"));
    await call({ method: "patch", path: `/teams/${team.id}`, body: { version: team.version, description: "moved on" }, as: "admin" });
    const res = await call({ method: "patch", path: `/teams/${team.id}`, body: { version: team.version, description: "late" }, as: "admin" });
    expect(res.status).toBe(409);
    expect(res.body.error.fields.version).toContain(`version ${team.version + 1}`);
  });

  it("a repeated query parameter, a null or an array says what to send instead", async () => {
    const repeated = await call({ method: "get", path: "/groups?page=1&page=2", as: "admin" });
    expect(repeated.body.error.fields.page).toBe("page must be sent once, as a single value.");
    const team = await makeTeam(db, unique("nulls"));
    const nulled = await call({ method: "patch", path: `/teams/${team.id}`, body: { version: team.version, description: null }, as: "admin" });
    expect(nulled.status).toBe(400);
    expect(nulled.body.error.fields.description).toMatch(/cannot be null/);
    const proto = await supertest(app).post("/api/v1/teams").set("Authorization", `Bearer ${tokens.admin}`).set("Content-Type", "application/json").send('{"name":"x","__proto__":{"a":1},"constructor":1}');
    expect(proto.status).toBe(400);
    expect(Object.keys(proto.body.error.fields).sort()).toEqual(["__proto__", "constructor"]);
  });

  it("an address with a broken %-escape is a 400, never a 500", async () => {
    const res = await call({ method: "get", path: "/users/%E0%A4%A", as: "nobody" });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("bad_request");
  });

  it("a non-administrator never sees group names on a system", async () => {
    const system = await makeSystem(db);
    await makeGroup(db, unique("finance-secret"), [system]);
    await grant(db, { kind: "user", id: alice.id }, { kind: "system", id: system.id }, "read/write");
    const mine = await call({ method: "get", path: `/systems/${system.id}`, as: "alice" });
    expect(mine.body).not.toHaveProperty("groups");
    const admins = await call({ method: "get", path: `/systems/${system.id}`, as: "admin" });
    expect(admins.body.groups).toHaveLength(1);
  });

  it("a stale version is a 409 and the record keeps the other change", async () => {
    const team = await makeTeam(db, unique("race"));
    const first = await call({ method: "patch", path: `/teams/${team.id}`, body: { version: team.version, description: "first" }, as: "admin" });
    expect(first.status).toBe(200);
    const second = await call({ method: "patch", path: `/teams/${team.id}`, body: { version: team.version, description: "second" }, as: "admin" });
    expect(second.status).toBe(409);
    expect(second.body.error.code).toBe("stale_write");
    expect((await call({ method: "get", path: `/teams/${team.id}`, as: "admin" })).body.description).toBe("first");
  });
});

describe("the attack catalogue (docs/security.md §3) at the API", () => {
  it("A13: ids that are not ids are not found, never a 500", async () => {
    for (const id of ["abc", "-1", "0", "1.5", "1e3", "99999999999999999999", "1;DROP", "%00"]) {
      const res = await call({ method: "get", path: `/users/${id}`, as: "admin" });
      expect(res.status, id).toBe(404);
      expect(res.body.error.code, id).toBe("not_found");
    }
    const res = await call({ method: "get", path: "/access?user=1e3&system=99999999999999999999", as: "admin" });
    expect(res.status).toBe(400);
    expect(Object.keys(res.body.error.fields)).toEqual(["user", "system"]);
  });

  it("A4: privileged or internal fields in a body are refused (400) and nothing is assigned", async () => {
    for (const extra of [{ role: "admin" }, { is_admin: true }, { id: 1 }, { password_hash: "x" }, { auth_source: "ldap" }, { totp_secret: "x" }, { created_at: "2020-01-01" }]) {
      const username = unique("a4");
      const res = await call({ method: "post", path: "/users", body: { username, password: "correct horse battery staple", ...extra }, as: "admin" });
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect(Object.keys(res.body.error.fields)).toEqual(Object.keys(extra));
      expect(await rowCount(db, "users", { username })).toBe(0);
    }
  });

  it("A6: the last active administrator cannot demote or disable themselves through the API", async () => {
    const me = (await call({ method: "get", path: "/me", as: "admin" })).body;
    const demote = await call({ method: "patch", path: `/users/${admin.id}`, body: { version: me.version, isAdmin: false }, as: "admin" });
    expect(demote.status, JSON.stringify(demote.body)).toBe(409);
    const disable = await call({ method: "patch", path: `/users/${admin.id}`, body: { version: me.version, disabled: true }, as: "admin" });
    expect(disable.status, JSON.stringify(disable.body)).toBe(409);
    expect((await call({ method: "get", path: "/me", as: "admin" })).body).toMatchObject({ isAdmin: true, disabled: false });
  });

  it("A9: a name that differs only in case, width or spaces is a duplicate (409 naming the clash)", async () => {
    const name = unique("Prod");
    expect((await call({ method: "post", path: "/teams", body: { name }, as: "admin" })).status).toBe(201);
    for (const twin of [name.toLowerCase(), ` ${name} `, name.replace("P", "ｐ")]) {
      const res = await call({ method: "post", path: "/teams", body: { name: twin }, as: "admin" });
      expect(res.status, twin).toBe(409);
      expect(res.body.error.message, twin).toContain(name);
    }
  });

  it("A10/A11: limits in code points, NUL, lone surrogates and bidi controls are field errors, never a 500", async () => {
    for (const [name, field] of [["x".repeat(101), "name"], ["a\u0000b", "name"], ["a\uD800b", "name"], ["a\u202Eb", "name"], ["", "name"]] as const) {
      const res = await call({ method: "post", path: "/groups", body: { name }, as: "admin" });
      expect(res.status, JSON.stringify(name)).toBe(400);
      expect(Object.keys(res.body.error.fields)).toEqual([field]);
    }
    const emoji = "🙂".repeat(100);
    expect((await call({ method: "post", path: "/groups", body: { name: emoji }, as: "admin" })).status).toBe(201);
  });

  it("a body that is not JSON at all, or not an object, is a 400", async () => {
    const broken = await supertest(app).post("/api/v1/teams").set("Authorization", `Bearer ${tokens.admin}`).set("Content-Type", "application/json").send('{"name": ');
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe("bad_request");
    const array = await call({ method: "post", path: "/teams", body: [{ name: "x" }], as: "admin" });
    expect(array.status).toBe(400);
  });
});

describe("PATCH that changes nothing", () => {
  it("answers the record as it is: no new version, no audit event; a stale version is still refused", async () => {
    const team = await makeTeam(db, unique("same"));
    const events = async () => Number((await db("audit_events").where({ target_type: "team", target_id: String(team.id) }).count<{ count: string }[]>("* as count").first())?.count);
    const before = await events();
    const same = await call({ method: "patch", path: `/teams/${team.id}`, body: { version: team.version, name: team.name }, as: "admin" });
    expect(same.status).toBe(200);
    expect(same.body.version).toBe(team.version);
    expect(await events()).toBe(before);
    await call({ method: "patch", path: `/teams/${team.id}`, body: { version: team.version, description: "real change" }, as: "admin" });
    const stale = await call({ method: "patch", path: `/teams/${team.id}`, body: { version: team.version }, as: "admin" });
    expect(stale.status).toBe(409);
  });
});
