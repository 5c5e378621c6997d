import type { Express } from "express";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import type { System } from "../../src/types/catalog.ts";
import {
  accessEvents,
  flashText,
  grant,
  idByName,
  makeGroup,
  makeSystem,
  makeTeam,
  postJson,
  postRaw,
  rowCount,
  withoutTokens,
} from "../helpers/access.ts";
import { signedInAgent, type TestAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { createTestDb, resetDb } from "../helpers/db.ts";
import { errorSummary, fieldError, hasAdminNavigation, inputValue, pageText } from "../helpers/html.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/**
 * The "Admin forms" items of the security catalogue (docs/security.md §3) for teams, systems, groups and
 * grants, through HTTP on the real app and database: A1, A2, A5, A7, A8, A9–A12 (names), A14, A15, A18,
 * host validation, and the audit trail of every change.
 */

let db: Db;
let app: Express;
beforeAll(async () => {
  db = await createTestDb();
  app = createTestApp(db);
});
afterAll(async () => {
  await db.destroy();
});
beforeEach(async () => {
  await resetDb(db);
});

interface People {
  admin: Awaited<ReturnType<typeof insertTestAdmin>>;
  user: Awaited<ReturnType<typeof insertTestUser>>;
  adminAgent: TestAgent;
  userAgent: TestAgent;
}

/** An administrator "root" and a plain user "alice", both signed in. */
async function people(): Promise<People> {
  const admin = await insertTestAdmin(db, { username: "root" });
  const user = await insertTestUser(db, { username: "alice" });
  const [adminAgent, userAgent] = await Promise.all([signedInAgent(app, admin), signedInAgent(app, user)]);
  return { admin, user, adminAgent, userAgent };
}

const userSubject = (id: number) => ({ kind: "user", id }) as const;
const teamSubject = (id: number) => ({ kind: "team", id }) as const;
const systemTarget = (id: number) => ({ kind: "system", id }) as const;
const groupTarget = (id: number) => ({ kind: "group", id }) as const;

/** "read", "read/write" or undefined (no access: a 404) as /systems/:id shows it to the agent. */
async function permissionShown(agent: TestAgent, systemId: number): Promise<string | undefined> {
  const res = await agent.get(`/systems/${systemId}`);
  if (res.status === 404) return undefined;
  expect(res.status).toBe(200);
  return /<dt>Your permission<\/dt><dd>([^<]*)<\/dd>/.exec(res.text)?.[1];
}

async function listedOnSystemsPage(agent: TestAgent, name: string): Promise<boolean> {
  const res = await agent.get("/systems");
  expect(res.status).toBe(200);
  return res.text.includes(`>${name}</a>`);
}

async function systemRow(id: number) {
  return db("systems").where({ id }).first();
}

describe("A1: no grant is a 404, the same as a missing system", () => {
  it("A1: GET and POST /systems/:id without any grant answer the missing id's 404 page, and the name leaks nowhere", async () => {
    const { user, userAgent } = await people();
    const hidden = await makeSystem(db, { name: "vault-of-secrets", host: "vault.example.com", description: "classified plans", notes: "n" });
    const mine = await makeSystem(db, { name: "open-box" });
    await grant(db, userSubject(user.id), systemTarget(mine.id));
    const missing = hidden.id + 1000;

    const getHidden = await userAgent.get(`/systems/${hidden.id}`);
    const getMissing = await userAgent.get(`/systems/${missing}`);
    expect(getHidden.status).toBe(404);
    expect(getMissing.status).toBe(404);
    expect(withoutTokens(getHidden.text)).toBe(withoutTokens(getMissing.text));

    const form = { description: "mine now", notes: "x", version: "1" };
    const postHidden = await userAgent.post(`/systems/${hidden.id}`, form);
    const postMissing = await userAgent.post(`/systems/${missing}`, form);
    expect(postHidden.status).toBe(404);
    expect(postMissing.status).toBe(404);
    expect(withoutTokens(postHidden.text)).toBe(withoutTokens(postMissing.text));
    // Even a body the strict schema would refuse: access is decided first, so nothing is learnt from a 400.
    const extra = await userAgent.post(`/systems/${hidden.id}`, { ...form, name: "x" });
    expect(extra.status).toBe(404);

    for (const res of [getHidden, postHidden, extra]) {
      expect(res.text).toContain("<title>Page not found — Gatehouse</title>");
      for (const secret of ["vault", "classified"]) expect(res.text.toLowerCase()).not.toContain(secret);
    }
    expect(await listedOnSystemsPage(userAgent, "vault-of-secrets")).toBe(false);
    expect(await listedOnSystemsPage(userAgent, "open-box")).toBe(true);
    expect(await systemRow(hidden.id)).toMatchObject({ description: "classified plans", version: 1 });
    expect(await accessEvents(db, "system.")).toEqual([]);
  });
});

describe("A2: read-only and read/write grantees on /systems/:id", () => {
  it("A2: a read-only grantee (through a team) POSTing the edit form gets 403 and nothing changes", async () => {
    const { user, userAgent } = await people();
    const system = await makeSystem(db, { name: "ro-box", description: "as it was", notes: "keep" });
    const team = await makeTeam(db, "viewers", [user]);
    await grant(db, teamSubject(team.id), systemTarget(system.id), "read");

    const page = await userAgent.get(`/systems/${system.id}`);
    expect(page.status).toBe(200);
    expect(page.text).not.toContain(`action="/systems/${system.id}"`);

    const bodies: Record<string, string>[] = [
      { description: "changed", notes: "changed", version: "1" },
      { description: "changed", notes: "changed", version: "1", name: "stolen", host: "evil.example.com" },
    ];
    for (const body of bodies) {
      const res = await userAgent.post(`/systems/${system.id}`, body);
      expect(res.status).toBe(403);
      expect(res.text).not.toContain("Save changes");
    }
    // The administrator's delete form is not theirs either.
    expect((await userAgent.post(`/admin/systems/${system.id}/delete`, { version: "1" })).status).toBe(403);
    expect(await systemRow(system.id)).toMatchObject({ name: "ro-box", description: "as it was", notes: "keep", version: 1 });
    expect(await accessEvents(db)).toEqual([]);
  });

  it("A2: a read/write grantee saves description and notes (audited with before and after)", async () => {
    const { user, userAgent } = await people();
    const system = await makeSystem(db, { name: "rw-box", host: "rw.example.com", description: "old", notes: "" });
    await grant(db, userSubject(user.id), systemTarget(system.id), "read/write");

    const res = await userAgent.post(`/systems/${system.id}`, { description: "new description", notes: "line 1\nline 2", version: "1" });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/systems/${system.id}`);
    expect(await systemRow(system.id)).toMatchObject({ name: "rw-box", host: "rw.example.com", description: "new description", notes: "line 1\nline 2", version: 2 });
    const [event] = await accessEvents(db, "system.updated");
    expect(event).toMatchObject({ actorUsername: "alice", targetId: String(system.id) });
    expect(event?.details.changes).toEqual({ description: { from: "old", to: "new description" }, notes: { from: "", to: "line 1\nline 2" } });
  });

  it("A2: a read/write grantee cannot change name or host: extra fields are a 400 (strict schema) and nothing changes", async () => {
    const { user, userAgent } = await people();
    const system = await makeSystem(db, { name: "rw-box", host: "rw.example.com", description: "old" });
    await grant(db, userSubject(user.id), systemTarget(system.id), "read/write");

    const extras: Record<string, string>[] = [{ name: "renamed" }, { host: "evil.example.com" }, { id: "99" }, { version: "1", created_at: "2020-01-01" }];
    for (const extra of extras) {
      const res = await userAgent.post(`/systems/${system.id}`, { description: "sneaky", notes: "", version: "1", ...extra });
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect(res.text).toContain("is not a field of this form");
    }
    expect(await systemRow(system.id)).toMatchObject({ name: "rw-box", host: "rw.example.com", description: "old", version: 1 });
    expect(await accessEvents(db)).toEqual([]);
  });
});

describe("A5: a user cannot give themselves teams or access", () => {
  it("A5: a plain user adding themselves to a team or granting themselves access gets 403 and nothing is written", async () => {
    const { user, userAgent } = await people();
    const system = await makeSystem(db, { name: "target-box" });
    const group = await makeGroup(db, "target-group", [system]);
    const team = await makeTeam(db, "target-team");
    const readOnly = await makeSystem(db, { name: "read-box" });
    await grant(db, userSubject(user.id), systemTarget(readOnly.id), "read");

    const attempts: [string, Record<string, string>][] = [
      [`/admin/teams/${team.id}/members`, { username: "alice" }],
      [`/admin/users/${user.id}/teams`, { teamId: String(team.id) }],
      [`/admin/users/${user.id}/systems`, { systemId: String(system.id), permission: "read/write" }],
      [`/admin/users/${user.id}/groups`, { groupId: String(group.id), permission: "read/write" }],
      [`/admin/users/${user.id}/systems/${readOnly.id}`, { permission: "read/write" }],
      [`/admin/teams/${team.id}/systems`, { systemId: String(system.id), permission: "read/write" }],
      [`/admin/teams/${team.id}/groups`, { groupId: String(group.id), permission: "read/write" }],
    ];
    for (const [path, body] of attempts) {
      const res = await userAgent.post(path, body);
      expect(res.status, path).toBe(403);
      expect(hasAdminNavigation(res.text), path).toBe(false);
    }
    expect(await rowCount(db, "team_members")).toBe(0);
    expect(await rowCount(db, "team_system_grants")).toBe(0);
    expect(await rowCount(db, "team_group_grants")).toBe(0);
    expect(await rowCount(db, "user_group_grants")).toBe(0);
    expect(await db("user_system_grants").where({ user_id: user.id })).toEqual([expect.objectContaining({ system_id: expect.anything(), permission: 1 })]);
    expect(await permissionShown(userAgent, system.id)).toBeUndefined();
    expect(await permissionShown(userAgent, readOnly.id)).toBe("read");
    expect(await accessEvents(db)).toEqual([]);
  });

  it("A5: a user posting role or isAdmin to /profile gets 403", async () => {
    const { user, userAgent } = await people();
    const extras: Record<string, string>[] = [{ role: "admin" }, { isAdmin: "on" }];
    for (const extra of extras) {
      const res = await userAgent.post("/profile", { fullName: "Alice", title: "", phone: "", ...extra });
      expect(res.status).toBe(403);
    }
    expect(await db("users").where({ id: user.id }).first()).toMatchObject({ is_admin: false });
  });
});

type A7World = { user: People["user"]; system: System; adminAgent: TestAgent };

/** One path of access each, and the administrator's action that ends it. */
const A7_PATHS: [string, (w: A7World) => Promise<(agent: TestAgent) => Promise<{ status: number }>>][] = [
  [
    "the team membership is removed",
    async ({ user, system }) => {
      const team = await makeTeam(db, "storage", [user]);
      await grant(db, teamSubject(team.id), systemTarget(system.id));
      return (agent) => agent.post(`/admin/teams/${team.id}/members/${user.id}/remove`);
    },
  ],
  [
    "the team's grant is removed",
    async ({ user, system }) => {
      const team = await makeTeam(db, "storage", [user]);
      await grant(db, teamSubject(team.id), systemTarget(system.id), "read/write");
      return (agent) => agent.post(`/admin/teams/${team.id}/systems/${system.id}/remove`);
    },
  ],
  [
    "the team is deleted",
    async ({ user, system }) => {
      const team = await makeTeam(db, "storage", [user]);
      await grant(db, teamSubject(team.id), systemTarget(system.id));
      return (agent) => agent.post(`/admin/teams/${team.id}/delete`, { version: String(team.version) });
    },
  ],
  [
    "the system is removed from the group",
    async ({ user, system }) => {
      const group = await makeGroup(db, "prod", [system]);
      const team = await makeTeam(db, "storage", [user]);
      await grant(db, teamSubject(team.id), groupTarget(group.id));
      return (agent) => agent.post(`/admin/groups/${group.id}/systems/${system.id}/remove`);
    },
  ],
  [
    "the team's grant on the group is removed",
    async ({ user, system }) => {
      const group = await makeGroup(db, "prod", [system]);
      const team = await makeTeam(db, "storage", [user]);
      await grant(db, teamSubject(team.id), groupTarget(group.id), "read/write");
      return (agent) => agent.post(`/admin/teams/${team.id}/groups/${group.id}/remove`);
    },
  ],
  [
    "the user's own grant on the group is removed",
    async ({ user, system }) => {
      const group = await makeGroup(db, "prod", [system]);
      await grant(db, userSubject(user.id), groupTarget(group.id));
      return (agent) => agent.post(`/admin/users/${user.id}/groups/${group.id}/remove`);
    },
  ],
  [
    "the group is deleted",
    async ({ user, system }) => {
      const group = await makeGroup(db, "prod", [system]);
      const team = await makeTeam(db, "storage", [user]);
      await grant(db, teamSubject(team.id), groupTarget(group.id));
      return (agent) => agent.post(`/admin/groups/${group.id}/delete`, { version: String(group.version) });
    },
  ],
];

describe("A7: access removed while the user is signed in", () => {
  it.each(A7_PATHS)("A7: when %s, the user's very next request to /systems/:id is a 404 and /systems no longer lists it", async (_label, arrange) => {
    const { user, adminAgent, userAgent } = await people();
    const system = await makeSystem(db, { name: "nas-a7" });
    const remove = await arrange({ user, system, adminAgent });
    expect(await permissionShown(userAgent, system.id)).toMatch(/^read/);
    expect(await listedOnSystemsPage(userAgent, "nas-a7")).toBe(true);

    const res = await remove(adminAgent);
    expect(res.status).toBe(303);

    expect((await userAgent.get(`/systems/${system.id}`)).status).toBe(404);
    expect(await listedOnSystemsPage(userAgent, "nas-a7")).toBe(false);
    expect((await userAgent.post(`/systems/${system.id}`, { description: "x", notes: "", version: "1" })).status).toBe(404);
  });
});

describe("A8: the most permissive path wins, and removing one leaves the others", () => {
  it("A8: a direct read grant plus read/write through a team is read/write; removing either path leaves the other", async () => {
    const { user, adminAgent, userAgent } = await people();
    const system = await makeSystem(db, { name: "nas-a8" });
    const team = await makeTeam(db, "storage");

    expect((await adminAgent.post(`/admin/users/${user.id}/systems`, { systemId: String(system.id), permission: "read" })).status).toBe(303);
    expect((await adminAgent.post(`/admin/teams/${team.id}/members`, { username: "alice" })).status).toBe(303);
    expect((await adminAgent.post(`/admin/teams/${team.id}/systems`, { systemId: String(system.id), permission: "read/write" })).status).toBe(303);

    const page = await userAgent.get(`/systems/${system.id}`);
    expect(await permissionShown(userAgent, system.id)).toBe("read/write");
    expect(pageText(page.text)).toContain("you, directly: read");
    expect(pageText(page.text)).toContain("team storage: read/write (decides)");
    expect(pageText((await userAgent.get("/systems")).text)).toContain("nas-a8 10.0.0.1 read/write");

    // Leaving the team leaves the direct read grant: read-only, and a save is now refused.
    expect((await adminAgent.post(`/admin/teams/${team.id}/members/${user.id}/remove`)).status).toBe(303);
    expect(await permissionShown(userAgent, system.id)).toBe("read");
    expect((await userAgent.post(`/systems/${system.id}`, { description: "x", notes: "", version: "1" })).status).toBe(403);

    // Back in the team, then the direct grant goes: read/write through the team remains.
    expect((await adminAgent.post(`/admin/teams/${team.id}/members`, { username: "alice" })).status).toBe(303);
    expect(await permissionShown(userAgent, system.id)).toBe("read/write");
    expect((await adminAgent.post(`/admin/users/${user.id}/systems/${system.id}/remove`)).status).toBe(303);
    expect(await permissionShown(userAgent, system.id)).toBe("read/write");
    expect((await userAgent.post(`/systems/${system.id}`, { description: "via team", notes: "", version: "1" })).status).toBe(303);

    // And the last path.
    expect((await adminAgent.post(`/admin/teams/${team.id}/systems/${system.id}/remove`)).status).toBe(303);
    expect(await permissionShown(userAgent, system.id)).toBeUndefined();
  });

  it("A8: a read grant on a group plus read/write through a team's group grant is read/write; a downgrade of one grant leaves the other", async () => {
    const { user, adminAgent, userAgent } = await people();
    const system = await makeSystem(db, { name: "nas-a8g" });
    const group = await makeGroup(db, "prod", [system]);
    const team = await makeTeam(db, "storage", [user]);
    expect((await adminAgent.post(`/admin/users/${user.id}/groups`, { groupId: String(group.id), permission: "read" })).status).toBe(303);
    expect((await adminAgent.post(`/admin/teams/${team.id}/groups`, { groupId: String(group.id), permission: "read/write" })).status).toBe(303);
    expect(await permissionShown(userAgent, system.id)).toBe("read/write");

    expect((await adminAgent.post(`/admin/teams/${team.id}/groups/${group.id}`, { permission: "read" })).status).toBe(303);
    expect(await permissionShown(userAgent, system.id)).toBe("read");
    expect((await adminAgent.post(`/admin/users/${user.id}/groups/${group.id}`, { permission: "read/write" })).status).toBe(303);
    expect(await permissionShown(userAgent, system.id)).toBe("read/write");
    expect((await adminAgent.post(`/admin/users/${user.id}/groups/${group.id}/remove`)).status).toBe(303);
    expect(await permissionShown(userAgent, system.id)).toBe("read");
  });
});

describe("A14: ids that do not exist", () => {
  it("A14: a member username that does not exist is a 422 naming Username, and nothing is written", async () => {
    const { adminAgent } = await people();
    const team = await makeTeam(db, "storage");
    const res = await adminAgent.post(`/admin/teams/${team.id}/members`, { username: "nobody" });
    expect(res.status).toBe(422);
    expect(fieldError(res.text, "username")).toContain('"nobody"');
    expect(inputValue(res.text, "username")).toBe("nobody");
    expect(await rowCount(db, "team_members")).toBe(0);
    expect(await accessEvents(db)).toEqual([]);
  });

  it("A14: a system, group or team id that does not exist or was just deleted in an add form is a 422 naming the field", async () => {
    const { user, adminAgent } = await people();
    const team = await makeTeam(db, "storage");
    const group = await makeGroup(db, "prod");
    const kept = await makeSystem(db, { name: "kept" });
    await makeGroup(db, "other-group");
    await makeTeam(db, "other-team");
    const goneSystem = await makeSystem(db, { name: "gone" });
    const goneGroup = await makeGroup(db, "gone-group");
    const goneTeam = await makeTeam(db, "gone-team");
    expect((await adminAgent.post(`/admin/systems/${goneSystem.id}/delete`, { version: "1" })).status).toBe(303);
    expect((await adminAgent.post(`/admin/groups/${goneGroup.id}/delete`, { version: "1" })).status).toBe(303);
    expect((await adminAgent.post(`/admin/teams/${goneTeam.id}/delete`, { version: "1" })).status).toBe(303);
    const before = (await accessEvents(db)).length;

    const forms: [string, Record<string, string>, string][] = [];
    for (const [systemId, groupId, teamId] of [
      [goneSystem.id, goneGroup.id, goneTeam.id],
      [99_999, 99_998, 99_997],
    ]) {
      forms.push(
        [`/admin/teams/${team.id}/systems`, { systemId: String(systemId), permission: "read" }, "systemId"],
        [`/admin/teams/${team.id}/groups`, { groupId: String(groupId), permission: "read" }, "groupId"],
        [`/admin/groups/${group.id}/systems`, { systemId: String(systemId) }, "systemId"],
        [`/admin/users/${user.id}/systems`, { systemId: String(systemId), permission: "read/write" }, "systemId"],
        [`/admin/users/${user.id}/groups`, { groupId: String(groupId) }, "groupId"],
        [`/admin/users/${user.id}/teams`, { teamId: String(teamId) }, "teamId"],
      );
    }
    for (const [path, body, field] of forms) {
      const res = await adminAgent.post(path, body);
      const label = `${path} ${JSON.stringify(body)}`;
      expect(res.status, label).toBe(422);
      expect(errorSummary(res.text)?.links, label).toContain(field);
      expect(errorSummary(res.text)?.text, label).toMatch(/no longer exists/);
    }
    for (const table of ["team_system_grants", "team_group_grants", "user_system_grants", "user_group_grants", "system_group_members", "team_members"])
      expect(await rowCount(db, table), table).toBe(0);
    expect((await accessEvents(db)).length).toBe(before);
    expect(kept.id).toBeGreaterThan(0);
  });

  it("A14: ids like abc, -1, 0, 1.5, 1e3, 99999999999999999999 or 1;DROP in a URL are a 404, never a 500", async () => {
    const { adminAgent, userAgent } = await people();
    const team = await makeTeam(db, "storage");
    const group = await makeGroup(db, "prod");
    const bad = ["abc", "-1", "0", "1.5", "1e3", "99999999999999999999", "2147483648", "1;DROP", "%00", "01"];
    for (const id of bad) {
      const gets = [`/admin/teams/${id}`, `/admin/teams/${id}/delete`, `/admin/groups/${id}`, `/admin/groups/${id}/delete`, `/admin/systems/${id}`, `/admin/systems/${id}/delete`];
      for (const path of gets) expect((await adminAgent.get(path)).status, path).toBe(404);
      expect((await userAgent.get(`/systems/${id}`)).status, `/systems/${id}`).toBe(404);
      const posts: [string, Record<string, string>][] = [
        [`/admin/teams/${id}`, { name: "x", description: "", version: "1" }],
        [`/admin/teams/${id}/members`, { username: "alice" }],
        [`/admin/teams/${team.id}/members/${id}/remove`, {}],
        [`/admin/teams/${id}/systems`, { systemId: "1" }],
        [`/admin/teams/${team.id}/systems/${id}`, { permission: "read" }],
        [`/admin/teams/${team.id}/groups/${id}/remove`, {}],
        [`/admin/teams/${id}/delete`, { version: "1" }],
        [`/admin/groups/${id}`, { name: "x", description: "", version: "1" }],
        [`/admin/groups/${group.id}/systems/${id}/remove`, {}],
        [`/admin/groups/${id}/delete`, { version: "1" }],
        [`/admin/systems/${id}`, { name: "x", host: "a.example", description: "", notes: "", version: "1" }],
        [`/admin/systems/${id}/delete`, { version: "1" }],
      ];
      for (const [path, body] of posts) expect((await adminAgent.post(path, body)).status, path).toBe(404);
      expect((await userAgent.post(`/systems/${id}`, { description: "", notes: "", version: "1" })).status).toBe(404);
    }
    expect(await accessEvents(db)).toEqual([]);
  });

  it("A14: malformed ids in an add form are a 4xx naming the field, never a 500", async () => {
    const { adminAgent } = await people();
    const team = await makeTeam(db, "storage");
    const group = await makeGroup(db, "prod");
    for (const id of ["abc", "-1", "0", "1.5", "99999999999999999999", "1;DROP", ""]) {
      for (const [path, field] of [
        [`/admin/teams/${team.id}/systems`, "systemId"],
        [`/admin/teams/${team.id}/groups`, "groupId"],
        [`/admin/groups/${group.id}/systems`, "systemId"],
      ] as const) {
        const res = await adminAgent.post(path, { [field]: id });
        expect(res.status, `${path} ${id}`).toBe(422);
        expect(errorSummary(res.text)?.links, `${path} ${id}`).toContain(field);
      }
    }
    expect(await accessEvents(db)).toEqual([]);
  });
});

describe("A15: repeated fields and too many ids", () => {
  it("A15: systemId=1&systemId=1, username=a&username=b and a repeated permission are a 400, and nothing is written", async () => {
    const { user, adminAgent } = await people();
    await insertTestUser(db, { username: "bob" });
    const team = await makeTeam(db, "storage");
    const group = await makeGroup(db, "prod");
    const system = await makeSystem(db, { name: "nas-1" });
    const s = system.id;
    const cases: [string, string][] = [
      [`/admin/teams/${team.id}/systems`, `systemId=${s}&systemId=${s}`],
      [`/admin/teams/${team.id}/groups`, `groupId=${group.id}&groupId=${group.id}`],
      [`/admin/groups/${group.id}/systems`, `systemId=${s}&systemId=${s}`],
      [`/admin/users/${user.id}/systems`, `systemId=${s}&systemId=${s}`],
      [`/admin/users/${user.id}/teams`, `teamId=${team.id}&teamId=${team.id}`],
      [`/admin/teams/${team.id}/members`, "username=alice&username=bob"],
      [`/admin/teams/${team.id}/systems`, `systemId=${s}&permission=read&permission=read%2Fwrite`],
      [`/admin/teams`, "name=a&name=b&description="],
    ];
    for (const [path, body] of cases) expect((await postRaw(adminAgent, path, body)).status, `${path} ${body}`).toBe(400);
    for (const table of ["team_system_grants", "team_group_grants", "user_system_grants", "system_group_members", "team_members"])
      expect(await rowCount(db, table), table).toBe(0);
    expect(await rowCount(db, "teams")).toBe(1);
    expect(await accessEvents(db)).toEqual([]);
  });

  it("A15: 10 000 ids in one form are refused by the body or parameter limit, and in JSON by the schema; nothing is written", async () => {
    const { adminAgent } = await people();
    const team = await makeTeam(db, "storage");
    const group = await makeGroup(db, "prod");
    const system = await makeSystem(db, { name: "nas-1" });
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `systemId=${i + 1}`).join("&");

    // 2 000 fields fit in the 100 kB body but not in the 1 000-parameter limit: 400.
    expect((await postRaw(adminAgent, `/admin/groups/${group.id}/systems`, ids(2_000))).status).toBe(400);
    // 10 000 fields (about 130 kB) are over the body limit first: 413.
    expect([400, 413]).toContain((await postRaw(adminAgent, `/admin/groups/${group.id}/systems`, ids(10_000))).status);
    const many = Array.from({ length: 10_000 }, () => system.id);
    expect((await postJson(adminAgent, `/admin/groups/${group.id}/systems`, { systemId: many })).status).toBe(400);
    expect((await postJson(adminAgent, `/admin/teams/${team.id}/systems`, { systemId: many, permission: "read" })).status).toBe(400);
    expect((await postJson(adminAgent, `/admin/teams/${team.id}/members`, { username: many.map(String) })).status).toBe(400);
    expect(await rowCount(db, "system_group_members")).toBe(0);
    expect(await rowCount(db, "team_system_grants")).toBe(0);
    expect(await accessEvents(db)).toEqual([]);
  });
});

describe("A18: deleting a team or group that still grants access", () => {
  it("A18: the team's delete page lists the affected users and systems; the POST removes team, memberships and grants together and says how many users lost access", async () => {
    const { admin, adminAgent } = await people();
    const bob = await insertTestUser(db, { username: "bob" });
    const carol = await insertTestUser(db, { username: "carol" });
    const alice = await db("users").where({ username: "alice" }).first();
    const nas1 = await makeSystem(db, { name: "nas-1" });
    const nas2 = await makeSystem(db, { name: "nas-2" });
    const group = await makeGroup(db, "prod", [nas2]);
    const team = await makeTeam(db, "storage", [alice, bob, carol, admin]);
    await grant(db, teamSubject(team.id), systemTarget(nas1.id), "read/write");
    await grant(db, teamSubject(team.id), groupTarget(group.id), "read");
    // bob keeps read on nas-1 directly: his access drops from read/write to read, it does not end.
    await grant(db, userSubject(bob.id), systemTarget(nas1.id), "read");
    // carol has read/write on the group herself: the team adds nothing for her.
    await grant(db, userSubject(carol.id), groupTarget(group.id), "read/write");
    await grant(db, userSubject(carol.id), systemTarget(nas1.id), "read/write");
    const other = await makeTeam(db, "other", [alice]);
    await grant(db, teamSubject(other.id), systemTarget(nas1.id), "read");
    await db("teams").where({ id: team.id }).update({ version: 3 });

    const confirm = await adminAgent.get(`/admin/teams/${team.id}/delete`);
    expect(confirm.status).toBe(200);
    const text = pageText(confirm.text);
    expect(text).toContain("Delete team storage?");
    expect(text).toContain("2 users lose access to 2 systems");
    expect(text).toContain("alice nas-1: read/write → read nas-2: read → no access");
    expect(text).toContain("bob nas-1: read/write → read nas-2: read → no access");
    expect(text).not.toContain("carol");
    expect(text).not.toContain("root");
    expect(confirm.text).toContain('name="version" value="3"');

    const res = await adminAgent.post(`/admin/teams/${team.id}/delete`, { version: "3" });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/admin/teams");
    expect(flashText((await adminAgent.get("/admin/teams")).text)).toBe("Team storage deleted; 2 users lost access to 2 systems.");

    expect(await rowCount(db, "teams", { id: team.id })).toBe(0);
    expect(await rowCount(db, "team_members", { team_id: team.id })).toBe(0);
    expect(await rowCount(db, "team_system_grants", { team_id: team.id })).toBe(0);
    expect(await rowCount(db, "team_group_grants", { team_id: team.id })).toBe(0);
    // Users, systems, groups and the other team's grants stay.
    expect(await rowCount(db, "users")).toBe(4);
    expect(await rowCount(db, "systems")).toBe(2);
    expect(await rowCount(db, "system_group_members")).toBe(1);
    expect(await rowCount(db, "team_system_grants", { team_id: other.id })).toBe(1);
    expect(await rowCount(db, "user_system_grants")).toBe(2);

    // No grant.removed event per cascaded row: the one team.deleted event records what went with the team.
    const [event] = await accessEvents(db, "team.deleted");
    expect(event?.details).toMatchObject({
      changes: { name: { from: "storage", to: null } },
      usersLosingAccess: ["alice", "bob"],
      members: ["alice", "bob", "carol", "root"],
      grants: [
        { system: { id: nas1.id, name: "nas-1" }, permission: "read/write" },
        { group: { id: group.id, name: "prod" }, permission: "read" },
      ],
    });
  });

  it("A18: the group's delete page lists the affected users and systems; the POST removes the group, its system links and every grant on it", async () => {
    const { user, adminAgent } = await people();
    const bob = await insertTestUser(db, { username: "bob" });
    const nas1 = await makeSystem(db, { name: "nas-1" });
    const nas2 = await makeSystem(db, { name: "nas-2" });
    const group = await makeGroup(db, "prod", [nas1, nas2]);
    const team = await makeTeam(db, "storage", [bob]);
    await grant(db, userSubject(user.id), groupTarget(group.id), "read/write");
    await grant(db, teamSubject(team.id), groupTarget(group.id), "read");

    const confirm = await adminAgent.get(`/admin/groups/${group.id}/delete`);
    expect(confirm.status).toBe(200);
    const text = pageText(confirm.text);
    expect(text).toContain("Delete group prod?");
    expect(text).toContain("2 users lose access to 2 systems");
    expect(text).toContain("alice nas-1: read/write → no access nas-2: read/write → no access");
    expect(text).toContain("bob nas-1: read → no access nas-2: read → no access");

    const res = await adminAgent.post(`/admin/groups/${group.id}/delete`, { version: "1" });
    expect(res.status).toBe(303);
    expect(flashText((await adminAgent.get("/admin/groups")).text)).toBe("Group prod deleted; 2 users lost access to 2 systems.");
    for (const table of ["system_group_members", "user_group_grants", "team_group_grants", "system_groups"]) expect(await rowCount(db, table), table).toBe(0);
    expect(await rowCount(db, "systems")).toBe(2);
    expect(await rowCount(db, "team_members")).toBe(1);
    const [event] = await accessEvents(db, "group.deleted");
    expect(event?.details).toMatchObject({
      usersLosingAccess: ["alice", "bob"],
      systems: [
        { id: nas1.id, name: "nas-1" },
        { id: nas2.id, name: "nas-2" },
      ],
      grants: [
        { user: { id: user.id, name: "alice" }, permission: "read/write" },
        { team: { id: team.id, name: "storage" }, permission: "read" },
      ],
    });
  });

  it("A18: deleting a system lists who loses it, removes every grant on it and its group links at once, and the event records them", async () => {
    const { user, adminAgent } = await people();
    const system = await makeSystem(db, { name: "nas-1" });
    const kept = await makeSystem(db, { name: "nas-2" });
    const group = await makeGroup(db, "prod", [system, kept]);
    const team = await makeTeam(db, "storage", [user]);
    await grant(db, userSubject(user.id), systemTarget(system.id), "read");
    await grant(db, teamSubject(team.id), systemTarget(system.id), "read/write");
    await grant(db, teamSubject(team.id), groupTarget(group.id), "read");

    const text = pageText((await adminAgent.get(`/admin/systems/${system.id}/delete`)).text);
    expect(text).toContain("1 user loses access to 1 system");
    expect(text).toContain("alice nas-1: read/write → no access");
    expect((await adminAgent.post(`/admin/systems/${system.id}/delete`, { version: "1" })).status).toBe(303);
    expect(flashText((await adminAgent.get("/admin/systems")).text)).toBe("System nas-1 deleted; 1 user lost access to 1 system.");
    expect(await rowCount(db, "user_system_grants")).toBe(0);
    expect(await rowCount(db, "team_system_grants")).toBe(0);
    expect(await rowCount(db, "system_group_members")).toBe(1);
    expect(await rowCount(db, "team_group_grants")).toBe(1);
    const [event] = await accessEvents(db, "system.deleted");
    expect(event?.details).toMatchObject({
      usersLosingAccess: ["alice"],
      groups: [{ id: group.id, name: "prod" }],
      grants: [
        { user: { id: user.id, name: "alice" }, permission: "read" },
        { team: { id: team.id, name: "storage" }, permission: "read/write" },
      ],
    });
  });

  it("A18: a team that grants nothing says so, and its deletion says no user lost access", async () => {
    const { adminAgent } = await people();
    const team = await makeTeam(db, "empty");
    expect(pageText((await adminAgent.get(`/admin/teams/${team.id}/delete`)).text)).toContain("No user loses access to any system.");
    expect((await adminAgent.post(`/admin/teams/${team.id}/delete`, { version: "1" })).status).toBe(303);
    expect(flashText((await adminAgent.get("/admin/teams")).text)).toBe("Team empty deleted; no user lost access.");
  });
});

const KINDS = [
  { label: "teams", path: "/admin/teams", table: "teams", fields: { description: "" } },
  { label: "groups", path: "/admin/groups", table: "system_groups", fields: { description: "" } },
  { label: "systems", path: "/admin/systems", table: "systems", fields: { host: "10.0.0.1", description: "", notes: "" } },
] as const;

describe.each(KINDS)("A9–A12: names of $label", ({ path, table, fields }) => {
  const create = (agent: TestAgent, name: string) => agent.post(path, { name, ...fields });

  it("A9: Prod, prod, ' prod ' and ｐｒｏｄ are one name: a 409 naming Name and the existing name, one row", async () => {
    const { adminAgent } = await people();
    expect((await create(adminAgent, "Prod")).status).toBe(303);
    for (const name of ["Prod", "prod", " prod ", "PROD", "ｐｒｏｄ", "Ｐrod"]) {
      const res = await create(adminAgent, name);
      expect(res.status, name).toBe(409);
      expect(fieldError(res.text, "name"), name).toMatch(/already used by another/);
      expect(errorSummary(res.text)?.text, name).toContain('"Prod"');
      expect(errorSummary(res.text)?.links).toContain("name");
      expect(inputValue(res.text, "name"), name).toBe(name);
    }
    expect(await rowCount(db, table)).toBe(1);
    expect((await db(table).first()).name).toBe("Prod");
  });

  it("A9: renaming to a name in use (PROD, ｐｒｏｄ) is a 409 naming Name, and nothing changes", async () => {
    const { adminAgent } = await people();
    expect((await create(adminAgent, "Prod")).status).toBe(303);
    expect((await create(adminAgent, "Test")).status).toBe(303);
    const id = await idByName(db, table, "Test");
    for (const name of ["PROD", "ｐｒｏｄ"]) {
      const res = await adminAgent.post(`${path}/${id}`, { name, ...fields, version: "1" });
      expect(res.status, name).toBe(409);
      expect(fieldError(res.text, "name"), name).toMatch(/already used by another/);
      expect(inputValue(res.text, "name")).toBe(name);
    }
    expect(await db(table).where({ id }).first()).toMatchObject({ name: "Test", version: 1 });
    // A change of case of its own name is not a clash.
    expect((await adminAgent.post(`${path}/${id}`, { name: "TEST", ...fields, version: "1" })).status).toBe(303);
  });

  it("A9: prod with a zero-width space (or another invisible character) is refused, never a second prod", async () => {
    const { adminAgent } = await people();
    expect((await create(adminAgent, "prod")).status).toBe(303);
    for (const name of ["prod\u200b", "\u200bprod", "pr\u00adod", "prod\u2060", "prod\ufeff", "pr\u200dod"]) {
      const res = await create(adminAgent, name);
      expect([409, 422], JSON.stringify(name)).toContain(res.status);
      expect(fieldError(res.text, "name"), JSON.stringify(name)).toBeTruthy();
    }
    // The same character is refused without any clash too, and so is a variation selector after a letter.
    expect((await create(adminAgent, "staging\u200b")).status).toBe(422);
    expect((await create(adminAgent, "stag\ufe0fing")).status).toBe(422);
    expect(await rowCount(db, table)).toBe(1);
    // What emoji need is kept: a zero-width joiner between pictographs, the emoji presentation selector.
    for (const name of ["\u{1F469}\u200D\u{1F4BB} devs", "\u2764\uFE0F team", "1\uFE0F\u20E3 first"]) expect((await create(adminAgent, name)).status, name).toBe(303);
    expect(await rowCount(db, table)).toBe(4);
  });

  it("A10: empty, blank, 101 code points and 10 000 characters are refused naming Name; 100 code points, emoji and combining marks are kept whole", async () => {
    const { adminAgent } = await people();
    for (const name of ["", "   ", "\t", "a".repeat(101), "🙂".repeat(101), "x".repeat(10_000)]) {
      const res = await create(adminAgent, name);
      expect(res.status, `${name.length} chars`).toBe(422);
      expect(fieldError(res.text, "name"), `${name.length} chars`).toMatch(/name/i);
    }
    const keep = ["b".repeat(100), "🙂".repeat(100), "Café de l’équipe", "e\u0301te\u0301", "日本のサーバー"];
    for (const name of keep) expect((await create(adminAgent, name)).status, name).toBe(303);
    const names = (await db(table).select("name")).map((r: { name: string }) => r.name);
    expect(names.sort()).toEqual([...keep].sort());
    expect(await rowCount(db, table)).toBe(keep.length);
  });

  it("A11: NUL, a lone surrogate and an RTL override in a name or description are a 4xx, never a 500", async () => {
    const { adminAgent } = await people();
    for (const name of ["pr\u0000od", "\u202Eprod", "prod\u202E", "line\nbreak"]) {
      const res = await create(adminAgent, name);
      expect(res.status, JSON.stringify(name)).toBe(422);
      expect(fieldError(res.text, "name"), JSON.stringify(name)).toBeTruthy();
    }
    for (const name of ["pr\ud800od", "\udfffprod"]) {
      const res = await postJson(adminAgent, path, { name, ...fields });
      expect(res.status, JSON.stringify(name)).toBe(422);
      expect(fieldError(res.text, "name")).toBeTruthy();
    }
    const res = await create(adminAgent, "fine");
    expect(res.status).toBe(303);
    const id = await idByName(db, table, "fine");
    for (const description of ["a\u0000b", "\u202Eevil"]) {
      const edit = await adminAgent.post(`${path}/${id}`, { ...fields, name: "fine", description, version: "1" });
      expect(edit.status, JSON.stringify(description)).toBe(422);
      expect(fieldError(edit.text, "description")).toBeTruthy();
    }
    expect(await rowCount(db, table)).toBe(1);
  });

  it("A12: <script> and attribute-breaking names are stored raw and rendered escaped on the list, detail and delete pages", async () => {
    const { adminAgent } = await people();
    const names = ["<script>alert(1)</script>", '"><svg onload=alert(1)>'];
    for (const name of names) expect((await create(adminAgent, name)).status).toBe(303);
    const stored = (await db(table).select("id", "name")) as { id: string; name: string }[];
    expect(stored.map((r) => r.name).sort()).toEqual([...names].sort());

    const pages = [(await adminAgent.get(path)).text];
    for (const row of stored) pages.push((await adminAgent.get(`${path}/${row.id}`)).text, (await adminAgent.get(`${path}/${row.id}/delete`)).text);
    for (const html of pages) {
      expect(html).not.toContain("<script>alert(1)");
      expect(html).not.toContain("<svg onload");
      expect(html).toMatch(/&lt;script&gt;alert\(1\)&lt;\/script&gt;|&#34;&gt;&lt;svg onload=alert\(1\)&gt;/);
    }
  });
});

describe("A11 in searches", () => {
  it("A11: NUL and other control characters in the search of /systems and /admin/systems are dropped before SQL: 200, never an error", async () => {
    const { user, adminAgent, userAgent } = await people();
    const system = await makeSystem(db, { name: "nas-search" });
    await grant(db, userSubject(user.id), systemTarget(system.id));
    for (const [agent, base] of [
      [userAgent, "/systems"],
      [adminAgent, "/admin/systems"],
    ] as const) {
      for (const q of ["%00", "nas%00-search", "nas-%1Bsearch", "%ED%A0%80"]) {
        const res = await agent.get(`${base}?q=${q}`);
        expect(res.status, `${base}?q=${q}`).toBe(200);
      }
      expect((await agent.get(`${base}?q=nas%00-search`)).text).toContain(">nas-search</a>");
    }
  });
});

describe("A12 on the user's own pages", () => {
  it("A12: a <script> system, team and group name is rendered escaped on /systems and /systems/:id", async () => {
    const { user, userAgent } = await people();
    const system = await makeSystem(db, { name: "<script>alert(1)</script>", description: "<img src=x onerror=alert(2)>", notes: "<b>n</b>" });
    const group = await makeGroup(db, "<i>group</i>", [system]);
    const team = await makeTeam(db, "<u>team</u>", [user]);
    await grant(db, teamSubject(team.id), groupTarget(group.id), "read/write");
    for (const url of ["/systems", `/systems/${system.id}`]) {
      const res = await userAgent.get(url);
      expect(res.status).toBe(200);
      for (const raw of ["<script>alert(1)", "<img src=x", "<i>group", "<u>team", "<b>n"]) expect(res.text, url).not.toContain(raw);
      expect(res.text).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    }
    const detail = pageText((await userAgent.get(`/systems/${system.id}`)).text);
    expect(detail).toContain("team <u>team</u>, through group <i>group</i>: read/write");
  });
});

describe("host of a system", () => {
  const accepted = ["nas1.example.com", "nas1.example.com:8443", "10.0.0.5", "10.0.0.5:443", "fd00::5", "[fd00::5]:443", "NAS2.Example.COM", "localhost"];
  const refused = ["", "   ", "not a host!", "10.0.0.5:99999", "10.0.0.5:0", "http://x", "https://nas.example.com", "a..b", "-bad.example.com", "bad-.example.com", "[fd00::5", "fd00::5]:443", "999.1.1.1", "nas1.example.com/path", "user@nas1", "nas\u0000.example.com"];

  it("host (A10): accepts a DNS name, an IPv4 or an IPv6 address, each with an optional port", async () => {
    const { adminAgent } = await people();
    for (const [i, host] of accepted.entries()) {
      const res = await adminAgent.post("/admin/systems", { name: `ok-${i}`, host, description: "", notes: "" });
      expect(res.status, host).toBe(303);
      expect((await db("systems").where({ name: `ok-${i}` }).first()).host, host).toBe(host.toLowerCase());
    }
  });

  it("host (A10, A11): refuses anything else with a message naming Host, on create and on edit, and writes nothing", async () => {
    const { adminAgent } = await people();
    for (const host of refused) {
      const res = await adminAgent.post("/admin/systems", { name: "bad", host, description: "", notes: "" });
      expect(res.status, JSON.stringify(host)).toBe(422);
      expect(fieldError(res.text, "host"), JSON.stringify(host)).toMatch(/host/i);
      expect(errorSummary(res.text)?.links).toContain("host");
    }
    expect(await rowCount(db, "systems")).toBe(0);
    const system = await makeSystem(db, { name: "nas-1", host: "nas1.example.com" });
    for (const host of ["http://x", "10.0.0.5:99999", ""]) {
      const res = await adminAgent.post(`/admin/systems/${system.id}`, { name: "nas-1", host, description: "", notes: "", version: "1" });
      expect(res.status, host).toBe(422);
      expect(fieldError(res.text, "host")).toMatch(/host/i);
      expect(inputValue(res.text, "host")).toBe(host);
    }
    expect(await systemRow(system.id)).toMatchObject({ host: "nas1.example.com", version: 1 });
    expect(await accessEvents(db)).toEqual([]);
  });
});

describe("audit trail of the access feature", () => {
  it("audit (docs/domain.md, Audit log): every change of systems, groups, teams, memberships and grants writes one event with the changed fields before and after", async () => {
    const { user, adminAgent } = await people();
    const ok = async (res: Promise<{ status: number; text: string }>) => {
      const r = await res;
      expect(r.status, pageText(r.text).slice(0, 300)).toBe(303);
    };

    await ok(adminAgent.post("/admin/systems", { name: "nas-1", host: "10.0.0.1", description: "first", notes: "" }));
    const system = await idByName(db, "systems", "nas-1");
    await ok(adminAgent.post(`/admin/systems/${system}`, { name: "nas-1", host: "10.0.0.2", description: "first", notes: "", version: "1" }));
    await ok(adminAgent.post("/admin/groups", { name: "prod", description: "" }));
    const group = await idByName(db, "system_groups", "prod");
    await ok(adminAgent.post(`/admin/groups/${group}`, { name: "production", description: "live", version: "1" }));
    await ok(adminAgent.post(`/admin/groups/${group}/systems`, { systemId: String(system) }));
    await ok(adminAgent.post(`/admin/groups/${group}/systems`, { systemId: String(system) }));
    await ok(adminAgent.post(`/admin/teams`, { name: "storage", description: "" }));
    const team = await idByName(db, "teams", "storage");
    await ok(adminAgent.post(`/admin/teams/${team}`, { name: "storage-team", description: "", version: "1" }));
    await ok(adminAgent.post(`/admin/teams/${team}/members`, { username: "alice" }));
    await ok(adminAgent.post(`/admin/teams/${team}/members`, { username: "ALICE" }));
    await ok(adminAgent.post(`/admin/teams/${team}/systems`, { systemId: String(system) }));
    await ok(adminAgent.post(`/admin/teams/${team}/systems/${system}`, { permission: "read/write" }));
    await ok(adminAgent.post(`/admin/teams/${team}/systems/${system}`, { permission: "read/write" }));
    await ok(adminAgent.post(`/admin/teams/${team}/groups`, { groupId: String(group), permission: "read/write" }));
    await ok(adminAgent.post(`/admin/users/${user.id}/groups`, { groupId: String(group) }));
    await ok(adminAgent.post(`/admin/users/${user.id}/groups/${group}/remove`));
    await ok(adminAgent.post(`/admin/users/${user.id}/groups/${group}/remove`));
    await ok(adminAgent.post(`/admin/teams/${team}/systems/${system}/remove`));
    await ok(adminAgent.post(`/admin/teams/${team}/members/${user.id}/remove`));
    await ok(adminAgent.post(`/admin/teams/${team}/members/${user.id}/remove`));
    await ok(adminAgent.post(`/admin/groups/${group}/systems/${system}/remove`));
    await ok(adminAgent.post(`/admin/teams/${team}/delete`, { version: "2" }));
    await ok(adminAgent.post(`/admin/groups/${group}/delete`, { version: "2" }));
    await ok(adminAgent.post(`/admin/systems/${system}/delete`, { version: "2" }));

    const all = await accessEvents(db);
    expect(all.every((e) => e.actorUsername === "root" && e.clientIp)).toBe(true);
    expect(all.map((e) => e.action)).toEqual([
      "system.created",
      "system.updated",
      "group.created",
      "group.updated",
      "group.system_added",
      "team.created",
      "team.updated",
      "team.member_added",
      "grant.added",
      "grant.changed",
      "grant.added",
      "grant.added",
      "grant.removed",
      "grant.removed",
      "team.member_removed",
      "group.system_removed",
      "team.deleted",
      "group.deleted",
      "system.deleted",
    ]);
    const details = all.map((e) => ({ action: e.action, target: `${e.targetType}:${e.targetLabel}`, details: e.details }));
    expect(details).toEqual([
      { action: "system.created", target: "system:nas-1", details: { changes: { name: { from: null, to: "nas-1" }, host: { from: null, to: "10.0.0.1" }, gateMode: { from: null, to: "by-method" }, description: { from: null, to: "first" }, notes: { from: null, to: "" } } } },
      { action: "system.updated", target: "system:nas-1", details: { changes: { host: { from: "10.0.0.1", to: "10.0.0.2" } } } },
      { action: "group.created", target: "group:prod", details: { changes: { name: { from: null, to: "prod" }, description: { from: null, to: "" } } } },
      { action: "group.updated", target: "group:production", details: { changes: { name: { from: "prod", to: "production" }, description: { from: "", to: "live" } } } },
      { action: "group.system_added", target: "group:production", details: { system: { id: system, name: "nas-1" } } },
      { action: "team.created", target: "team:storage", details: { changes: { name: { from: null, to: "storage" }, description: { from: null, to: "" } } } },
      { action: "team.updated", target: "team:storage-team", details: { changes: { name: { from: "storage", to: "storage-team" } } } },
      { action: "team.member_added", target: "team:storage-team", details: { user: { id: user.id, username: "alice" } } },
      { action: "grant.added", target: "team:storage-team", details: { system: { id: system, name: "nas-1" }, permission: { from: null, to: "read" } } },
      { action: "grant.changed", target: "team:storage-team", details: { system: { id: system, name: "nas-1" }, permission: { from: "read", to: "read/write" } } },
      { action: "grant.added", target: "team:storage-team", details: { group: { id: group, name: "production" }, permission: { from: null, to: "read/write" } } },
      { action: "grant.added", target: "user:alice", details: { group: { id: group, name: "production" }, permission: { from: null, to: "read" } } },
      { action: "grant.removed", target: "user:alice", details: { group: { id: group, name: "production" }, permission: { from: "read", to: null } } },
      { action: "grant.removed", target: "team:storage-team", details: { system: { id: system, name: "nas-1" }, permission: { from: "read/write", to: null } } },
      { action: "team.member_removed", target: "team:storage-team", details: { user: { id: user.id, username: "alice" } } },
      { action: "group.system_removed", target: "group:production", details: { system: { id: system, name: "nas-1" } } },
      { action: "team.deleted", target: "team:storage-team", details: expect.objectContaining({ changes: { name: { from: "storage-team", to: null }, description: { from: "", to: null } } }) },
      { action: "group.deleted", target: "group:production", details: expect.objectContaining({ changes: { name: { from: "production", to: null }, description: { from: "live", to: null } } }) },
      { action: "system.deleted", target: "system:nas-1", details: expect.objectContaining({ changes: expect.objectContaining({ name: { from: "nas-1", to: null }, host: { from: "10.0.0.2", to: null } }) }) },
    ]);
  });
});
