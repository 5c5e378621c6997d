import type { Express } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { grant, makeGroup, makeSystem, makeTeam, rowCount, versionOf } from "../helpers/access.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { createTestDb, resetDb } from "../helpers/db.ts";
import { hasAdminNavigation } from "../helpers/html.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/**
 * The trio on every route of the teams / groups / systems / grants feature: an anonymous visitor is sent to sign
 * in (303 to /login), a plain user gets 403 on /admin and changes nothing, an administrator succeeds (200 for a
 * page, 303 after a change, and the change is there). /systems and /systems/:id are the user's own: there the
 * plain user (with a read/write grant) succeeds too. One set of accounts and sessions for the whole file; each
 * case makes the teams, groups and systems it needs.
 */

let db: Db;
let app: Express;
let anonymous: TestAgent;
let userAgent: TestAgent;
let adminAgent: TestAgent;
let plainUserId: number;
let memberId: number;

beforeAll(async () => {
  db = await createTestDb();
  await resetDb(db);
  app = createTestApp(db);
  const admin = await insertTestAdmin(db, { username: "root" });
  const user = await insertTestUser(db, { username: "alice" });
  memberId = (await insertTestUser(db, { username: "bob" })).id;
  plainUserId = user.id;
  anonymous = new TestAgent(app);
  await anonymous.refreshToken("/login");
  [userAgent, adminAgent] = await Promise.all([signedInAgent(app, user), signedInAgent(app, admin)]);
});
afterAll(async () => {
  await db.destroy();
});

type Body = Record<string, string>;
interface Arranged {
  url: string;
  /** Evaluated before each request, so that a version is the current one. */
  body?: () => Promise<Body> | Body;
  /** After the administrator's request: the change is really there. */
  verify?: () => Promise<void>;
}
interface Case {
  method: "GET" | "POST";
  path: string;
  /** What a plain user gets: 403 on /admin; on their own pages, success (they hold a read/write grant). */
  user: 200 | 303 | 403;
  admin: 200 | 303;
  arrange: () => Promise<Arranged>;
}

let n = 0;
const fresh = (prefix: string) => `${prefix}-route-${++n}`;
const team = () => makeTeam(db, fresh("team"));
const group = () => makeGroup(db, fresh("group"));
const system = () => makeSystem(db, { name: fresh("nas") });
const exists = (table: string, where: Record<string, unknown>, expected = 1) => async () => {
  expect(await rowCount(db, table, where), `${table} ${JSON.stringify(where)}`).toBe(expected);
};
const teamVersion = (id: number) => async () => ({ version: String(await versionOf(db, "teams", id)) });

/** Counts of every table this feature writes, and the sum of versions: equal before and after means nothing changed. */
async function snapshot() {
  const tables = ["teams", "team_members", "systems", "system_groups", "system_group_members", "user_system_grants", "user_group_grants", "team_system_grants", "team_group_grants"];
  const counts = await Promise.all(tables.map((t) => rowCount(db, t)));
  const versions = await db.raw(
    "SELECT (SELECT COALESCE(sum(version), 0) FROM teams) + (SELECT COALESCE(sum(version), 0) FROM systems) + (SELECT COALESCE(sum(version), 0) FROM system_groups) AS v",
  );
  const permissions = await db.raw("SELECT (SELECT COALESCE(sum(permission), 0) FROM team_system_grants) + (SELECT COALESCE(sum(permission), 0) FROM team_group_grants) AS p");
  return { counts: Object.fromEntries(tables.map((t, i) => [t, counts[i]])), versions: Number(versions.rows[0].v), permissions: Number(permissions.rows[0].p) };
}

const CASES: Case[] = [
  // Teams
  { method: "GET", path: "/admin/teams", user: 403, admin: 200, arrange: async () => ({ url: "/admin/teams" }) },
  {
    method: "POST",
    path: "/admin/teams",
    user: 403,
    admin: 303,
    arrange: async () => {
      const name = fresh("new-team");
      return { url: "/admin/teams", body: () => ({ name, description: "" }), verify: exists("teams", { name }) };
    },
  },
  { method: "GET", path: "/admin/teams/new", user: 403, admin: 200, arrange: async () => ({ url: "/admin/teams/new" }) },
  { method: "GET", path: "/admin/teams/:id", user: 403, admin: 200, arrange: async () => ({ url: `/admin/teams/${(await team()).id}` }) },
  {
    method: "POST",
    path: "/admin/teams/:id",
    user: 403,
    admin: 303,
    arrange: async () => {
      const t = await team();
      const name = fresh("renamed-team");
      return { url: `/admin/teams/${t.id}`, body: async () => ({ name, description: "", ...(await teamVersion(t.id)()) }), verify: exists("teams", { id: t.id, name }) };
    },
  },
  {
    method: "POST",
    path: "/admin/teams/:id/members",
    user: 403,
    admin: 303,
    arrange: async () => {
      const t = await team();
      return { url: `/admin/teams/${t.id}/members`, body: () => ({ username: "bob" }), verify: exists("team_members", { team_id: t.id, user_id: memberId }) };
    },
  },
  {
    method: "POST",
    path: "/admin/teams/:id/members/:userId/remove",
    user: 403,
    admin: 303,
    arrange: async () => {
      const t = await makeTeam(db, fresh("team"), [{ id: memberId }]);
      return { url: `/admin/teams/${t.id}/members/${memberId}/remove`, verify: exists("team_members", { team_id: t.id }, 0) };
    },
  },
  ...(["system", "group"] as const).flatMap((kind): Case[] => {
    const plural = `${kind}s`;
    const table = kind === "system" ? "team_system_grants" : "team_group_grants";
    const column = `${kind}_id`;
    const target = async () => (kind === "system" ? (await system()).id : (await group()).id);
    return [
      {
        method: "POST",
        path: `/admin/teams/:id/${plural}`,
        user: 403,
        admin: 303,
        arrange: async () => {
          const [t, targetId] = [await team(), await target()];
          return {
            url: `/admin/teams/${t.id}/${plural}`,
            body: () => ({ [`${kind}Id`]: String(targetId), permission: "read" }),
            verify: exists(table, { team_id: t.id, [column]: targetId, permission: 1 }),
          };
        },
      },
      {
        method: "POST",
        path: `/admin/teams/:id/${plural}/:targetId`,
        user: 403,
        admin: 303,
        arrange: async () => {
          const [t, targetId] = [await team(), await target()];
          await grant(db, { kind: "team", id: t.id }, { kind, id: targetId }, "read");
          return {
            url: `/admin/teams/${t.id}/${plural}/${targetId}`,
            body: () => ({ permission: "read/write" }),
            verify: exists(table, { team_id: t.id, [column]: targetId, permission: 2 }),
          };
        },
      },
      {
        method: "POST",
        path: `/admin/teams/:id/${plural}/:targetId/remove`,
        user: 403,
        admin: 303,
        arrange: async () => {
          const [t, targetId] = [await team(), await target()];
          await grant(db, { kind: "team", id: t.id }, { kind, id: targetId }, "read/write");
          return { url: `/admin/teams/${t.id}/${plural}/${targetId}/remove`, verify: exists(table, { team_id: t.id }, 0) };
        },
      },
    ];
  }),
  { method: "GET", path: "/admin/teams/:id/delete", user: 403, admin: 200, arrange: async () => ({ url: `/admin/teams/${(await team()).id}/delete` }) },
  {
    method: "POST",
    path: "/admin/teams/:id/delete",
    user: 403,
    admin: 303,
    arrange: async () => {
      const t = await team();
      return { url: `/admin/teams/${t.id}/delete`, body: teamVersion(t.id), verify: exists("teams", { id: t.id }, 0) };
    },
  },

  // System groups
  { method: "GET", path: "/admin/groups", user: 403, admin: 200, arrange: async () => ({ url: "/admin/groups" }) },
  {
    method: "POST",
    path: "/admin/groups",
    user: 403,
    admin: 303,
    arrange: async () => {
      const name = fresh("new-group");
      return { url: "/admin/groups", body: () => ({ name, description: "" }), verify: exists("system_groups", { name }) };
    },
  },
  { method: "GET", path: "/admin/groups/new", user: 403, admin: 200, arrange: async () => ({ url: "/admin/groups/new" }) },
  { method: "GET", path: "/admin/groups/:id", user: 403, admin: 200, arrange: async () => ({ url: `/admin/groups/${(await group()).id}` }) },
  {
    method: "POST",
    path: "/admin/groups/:id",
    user: 403,
    admin: 303,
    arrange: async () => {
      const g = await group();
      const name = fresh("renamed-group");
      return {
        url: `/admin/groups/${g.id}`,
        body: async () => ({ name, description: "d", version: String(await versionOf(db, "system_groups", g.id)) }),
        verify: exists("system_groups", { id: g.id, name }),
      };
    },
  },
  {
    method: "POST",
    path: "/admin/groups/:id/systems",
    user: 403,
    admin: 303,
    arrange: async () => {
      const [g, s] = [await group(), await system()];
      return { url: `/admin/groups/${g.id}/systems`, body: () => ({ systemId: String(s.id) }), verify: exists("system_group_members", { group_id: g.id, system_id: s.id }) };
    },
  },
  {
    method: "POST",
    path: "/admin/groups/:id/systems/:systemId/remove",
    user: 403,
    admin: 303,
    arrange: async () => {
      const s = await system();
      const g = await makeGroup(db, fresh("group"), [s]);
      return { url: `/admin/groups/${g.id}/systems/${s.id}/remove`, verify: exists("system_group_members", { group_id: g.id }, 0) };
    },
  },
  { method: "GET", path: "/admin/groups/:id/delete", user: 403, admin: 200, arrange: async () => ({ url: `/admin/groups/${(await group()).id}/delete` }) },
  {
    method: "POST",
    path: "/admin/groups/:id/delete",
    user: 403,
    admin: 303,
    arrange: async () => {
      const g = await group();
      return { url: `/admin/groups/${g.id}/delete`, body: () => ({ version: "1" }), verify: exists("system_groups", { id: g.id }, 0) };
    },
  },

  // Systems (administration)
  { method: "GET", path: "/admin/systems", user: 403, admin: 200, arrange: async () => ({ url: "/admin/systems" }) },
  {
    method: "POST",
    path: "/admin/systems",
    user: 403,
    admin: 303,
    arrange: async () => {
      const name = fresh("new-nas");
      return { url: "/admin/systems", body: () => ({ name, host: "nas.example.com:8443", description: "", notes: "" }), verify: exists("systems", { name }) };
    },
  },
  { method: "GET", path: "/admin/systems/new", user: 403, admin: 200, arrange: async () => ({ url: "/admin/systems/new" }) },
  { method: "GET", path: "/admin/systems/:id", user: 403, admin: 200, arrange: async () => ({ url: `/admin/systems/${(await system()).id}` }) },
  {
    method: "POST",
    path: "/admin/systems/:id",
    user: 403,
    admin: 303,
    arrange: async () => {
      const s = await system();
      return {
        url: `/admin/systems/${s.id}`,
        body: async () => ({ name: s.name, host: "10.9.9.9", description: "", notes: "", version: String(await versionOf(db, "systems", s.id)) }),
        verify: exists("systems", { id: s.id, host: "10.9.9.9" }),
      };
    },
  },
  { method: "GET", path: "/admin/systems/:id/delete", user: 403, admin: 200, arrange: async () => ({ url: `/admin/systems/${(await system()).id}/delete` }) },
  {
    method: "POST",
    path: "/admin/systems/:id/delete",
    user: 403,
    admin: 303,
    arrange: async () => {
      const s = await system();
      return { url: `/admin/systems/${s.id}/delete`, body: () => ({ version: "1" }), verify: exists("systems", { id: s.id }, 0) };
    },
  },

  // The user's own pages
  { method: "GET", path: "/systems", user: 200, admin: 200, arrange: async () => ({ url: "/systems" }) },
  {
    method: "GET",
    path: "/systems/:id",
    user: 200,
    admin: 200,
    arrange: async () => {
      const s = await system();
      await grant(db, { kind: "user", id: plainUserId }, { kind: "system", id: s.id }, "read");
      return { url: `/systems/${s.id}` };
    },
  },
  {
    method: "POST",
    path: "/systems/:id",
    user: 303,
    admin: 303,
    arrange: async () => {
      const s = await system();
      await grant(db, { kind: "user", id: plainUserId }, { kind: "system", id: s.id }, "read/write");
      return {
        url: `/systems/${s.id}`,
        body: async () => ({ description: "edited", notes: "", version: String(await versionOf(db, "systems", s.id)) }),
        // The plain user's save made version 2; the administrator's identical save changes nothing, so no version 3.
        verify: exists("systems", { id: s.id, description: "edited", version: 2 }),
      };
    },
  },
];

describe("every route of teams, groups, systems and grants", () => {
  it("A3: the table below covers all 34 routes of the feature", () => {
    const routes = new Set(CASES.map((c) => `${c.method} ${c.path}`));
    expect(routes.size).toBe(CASES.length);
    expect(routes.size).toBe(34);
  });

  it.each(CASES)("A3: $method $path: anonymous → 303 to /login, plain user → $user, administrator → $admin", async (c) => {
    const arranged = await c.arrange();
    const send = async (agent: TestAgent) => (c.method === "GET" ? agent.get(arranged.url) : agent.post(arranged.url, (await arranged.body?.()) ?? {}));

    const before = await snapshot();
    const anon = await send(anonymous);
    expect(anon.status).toBe(303);
    expect(anon.headers.location).toMatch(/^\/login(\?|$)/);
    expect(await snapshot()).toEqual(before);

    const asUser = await send(userAgent);
    expect(asUser.status).toBe(c.user);
    if (c.user === 403) {
      expect(hasAdminNavigation(asUser.text)).toBe(false);
      expect(await snapshot()).toEqual(before);
    }

    const asAdmin = await send(adminAgent);
    expect(asAdmin.status, asAdmin.text.slice(0, 500)).toBe(c.admin);
    if (c.admin === 303) expect(asAdmin.headers.location).toMatch(/^\//);
    await arranged.verify?.();
  });

  it("A3, S3: a GET of a POST-only route changes nothing: anonymous → /login, plain user → 403, administrator → 404", async () => {
    const t = await makeTeam(db, fresh("team"), [{ id: memberId }]);
    const s = await system();
    const g = await makeGroup(db, fresh("group"), [s]);
    await grant(db, { kind: "team", id: t.id }, { kind: "system", id: s.id });
    const before = await snapshot();
    for (const url of [
      `/admin/teams/${t.id}/members`,
      `/admin/teams/${t.id}/members/${memberId}/remove`,
      `/admin/teams/${t.id}/systems`,
      `/admin/teams/${t.id}/systems/${s.id}/remove`,
      `/admin/groups/${g.id}/systems/${s.id}/remove`,
    ]) {
      expect((await anonymous.get(url)).status, url).toBe(303);
      expect((await userAgent.get(url)).status, url).toBe(403);
      expect((await adminAgent.get(url)).status, url).toBe(404);
    }
    expect(await snapshot()).toEqual(before);
  });
});
