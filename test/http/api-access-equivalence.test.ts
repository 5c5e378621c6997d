import supertest from "supertest";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { insertMember } from "../../src/repositories/teams.ts";
import { insertGroupSystem } from "../../src/repositories/system-groups.ts";
import { grant, makeGroup, makeSystem, makeTeam } from "../helpers/access.ts";
import { signedInAgent } from "../helpers/agent.ts";
import { createTestApiToken } from "../helpers/api-tokens.ts";
import { createTestApp } from "../helpers/app.ts";
import { createTestDb, resetDb } from "../helpers/db.ts";
import { tableRows } from "../helpers/html.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/**
 * The API and the console answer from one resolver: for a few hundred random grants (users and teams, on systems
 * and groups, with random team and group membership), the API's effective access and its explanation equal what
 * the administrator's user page shows, for every (user, system) pair.
 */

let db: Db;
beforeAll(async () => {
  db = await createTestDb();
  await resetDb(db);
});
afterAll(async () => {
  await db.destroy();
});

/** mulberry32: a small seeded generator, so that a failure can be replayed with the seed it prints. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

it("the API's effective access equals the console's for every (user, system) pair", async () => {
  const seed = Number(process.env.ACCESS_SEED ?? Date.now() % 1_000_000);
  const next = random(seed);
  const pick = <T>(list: T[]): T => list[Math.floor(next() * list.length)] as T;
  const context = `seed ${seed} (ACCESS_SEED=${seed} replays it)`;

  const admin = await insertTestAdmin(db, { username: "root" });
  const users = [
    ...(await Promise.all(Array.from({ length: 7 }, (_, i) => insertTestUser(db, { username: `eq-user-${i}` })))),
    await insertTestUser(db, { username: "eq-admin", isAdmin: true }),
  ];
  await db("users").where({ id: users[0]!.id }).update({ disabled: true });
  const systems = await Promise.all(Array.from({ length: 12 }, (_, i) => makeSystem(db, { name: `eq-system-${i}` })));
  const groups = await Promise.all(Array.from({ length: 4 }, (_, i) => makeGroup(db, `eq-group-${i}`)));
  const teams = await Promise.all(Array.from({ length: 5 }, (_, i) => makeTeam(db, `eq-team-${i}`)));
  for (let i = 0; i < 20; i++) await insertMember(db, pick(teams).id, pick(users).id);
  for (let i = 0; i < 14; i++) await insertGroupSystem(db, pick(groups).id, pick(systems).id);
  const grants = 300;
  for (let i = 0; i < grants; i++) {
    const subject = next() < 0.5 ? { kind: "user" as const, id: pick(users).id } : { kind: "team" as const, id: pick(teams).id };
    const target = next() < 0.6 ? { kind: "system" as const, id: pick(systems).id } : { kind: "group" as const, id: pick(groups).id };
    await grant(db, subject, target, next() < 0.5 ? "read" : "read/write");
  }

  // Three accounts the dice do not touch, so that every kind of answer is among the pairs whatever the seed.
  const reader = await insertTestUser(db, { username: "eq-reader" });
  const writer = await insertTestUser(db, { username: "eq-writer" });
  users.push(reader, writer, await insertTestUser(db, { username: "eq-nobody" }));
  await grant(db, { kind: "user", id: reader.id }, { kind: "system", id: systems[0]!.id }, "read");
  await grant(db, { kind: "user", id: writer.id }, { kind: "group", id: groups[0]!.id }, "read/write");
  await insertGroupSystem(db, groups[0]!.id, systems[1]!.id);

  const app = createTestApp(db);
  const console_ = await signedInAgent(app, admin);
  const token = await createTestApiToken(db, admin);
  let pairs = 0;
  const seen = new Set<string>();
  for (const user of users) {
    const page = await console_.get(`/admin/users/${user.id}`);
    expect(page.status).toBe(200);
    const section = /id="effective-access">([\s\S]*?)<\/section>/.exec(page.text)?.[1] ?? "";
    const administrator = /Administrator: read\/write on every system/.test(section);
    const disabled = /The account is disabled/.test(section);
    const onPage = new Map(tableRows(section).map(([name, permission, why]) => [name, { permission, why: (why ?? "").replace(/\s+/g, " ").trim() }]));

    for (const system of systems) {
      const res = await supertest(app).get(`/api/v1/access?user=${user.id}&system=${system.id}`).set("Authorization", `Bearer ${token}`);
      expect(res.status, context).toBe(200);
      const where = `${context}: ${user.username} on ${system.name}`;
      if (administrator) {
        expect(res.body.basis, where).toBe("administrator");
        expect(res.body.permission, where).toBe("read/write");
      } else if (disabled) {
        expect(res.body.basis, where).toBe("disabled");
        expect(res.body.permission, where).toBe("none");
      } else {
        const shown = onPage.get(system.name);
        expect(res.body.permission, where).toBe(shown?.permission ?? "none");
        const why = (res.body.grants as { explanation: string; permission: string; decides: boolean }[])
          .map((g) => `${g.explanation}: ${g.permission}${g.decides ? " (decides)" : ""}`)
          .join(" ");
        expect(why, where).toBe(shown?.why ?? "");
      }
      pairs += 1;
      seen.add(`${res.body.basis} ${res.body.permission}`);
    }
  }
  expect(pairs).toBe(users.length * systems.length);
  // Not vacuous: every kind of answer came up.
  expect([...seen].sort(), context).toEqual(["administrator read/write", "disabled none", "grants read", "grants read/write", "no-grants none"]);
});
