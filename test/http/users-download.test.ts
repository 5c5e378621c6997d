import type { Express } from "express";
import { beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { usersCsvChunks } from "../../src/services/users-download.ts";
import { makeTeam } from "../helpers/access.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { parseCsv } from "../helpers/csv.ts";
import { useTestDb } from "../helpers/db.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/** "Download CSV" on the Users list (docs/domain.md, "The access report"): the list's search and sort, every page. */

let db: Db;
let app: Express;
useTestDb((created) => {
  db = created;
});
beforeEach(() => {
  app = createTestApp(db);
});

const HEADER = [
  "id",
  "username",
  "full_name",
  "email",
  "email_verified",
  "pending_email",
  "title",
  "phone",
  "authentication",
  "administrator",
  "enabled",
  "teams",
  "two_factor",
  "created_at",
  "last_sign_in_at",
];

function linkHref(html: string, text: string): string | undefined {
  return new RegExp(`<a href="([^"]*)"[^>]*>${text}</a>`).exec(html)?.[1]?.replace(/&amp;/g, "&");
}

function column(rows: string[][], name: string): string[] {
  const index = HEADER.indexOf(name);
  return rows.map((row) => row[index] ?? "");
}

describe("Download CSV on the Users list", () => {
  it("links from the list with its search and sort, and downloads every match in that order, not one page", async () => {
    const root = await insertTestAdmin(db, { username: "root", fullName: "Root" });
    for (let i = 0; i < 60; i++) await insertTestUser(db, { username: `ops-${String(i).padStart(2, "0")}`, fullName: `Operator ${60 - i}` });
    await insertTestUser(db, { username: "zed", fullName: "Not matched" });
    const agent = await signedInAgent(app, root);

    const list = await agent.get("/admin/users?q=ops-&sort=name&dir=desc&page=2");
    expect(list.status).toBe(200);
    const href = linkHref(list.text, "Download CSV");
    expect(href).toBe("/admin/users/export.csv?q=ops-&sort=name&dir=desc");

    const res = await agent.get(href as string);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("text/csv; charset=utf-8");
    expect(res.headers["content-disposition"]).toMatch(/^attachment; filename="gatehouse-users-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z\.csv"$/);
    const [header, ...rows] = parseCsv(res.text);
    expect(header).toEqual(HEADER);
    // Full names sort without regard to case, as text: "Operator 9" > "Operator 60" > … > "Operator 1".
    const expected = Array.from({ length: 60 }, (_, i) => `Operator ${60 - i}`).sort((a, b) => (a < b ? 1 : -1));
    expect(column(rows, "full_name")).toEqual(expected);

    // The download is on the trail, with its search and sort, by the time the file has arrived.
    const [event] = await listAuditEvents(db, { action: "user.list_downloaded" });
    expect(event).toMatchObject({ actorUsername: "root", details: { format: "csv", filters: { search: "ops-", sort: "name", direction: "desc" } } });

    const everyone = parseCsv((await agent.get("/admin/users/export.csv")).text).slice(1);
    expect(column(everyone, "username")).toEqual(["ops-00", ...Array.from({ length: 59 }, (_, i) => `ops-${String(i + 1).padStart(2, "0")}`), "root", "zed"]);
  });

  it("reads in batches by keyset on the sort key, nulls last, and loses no account between batches", async () => {
    const root = await insertTestAdmin(db, { username: "root" });
    const users = [];
    for (let i = 0; i < 7; i++) users.push(await insertTestUser(db, { username: `u${i}` }));
    // Two share a sign-in time (the id breaks the tie), three never signed in (they sort last, by id).
    // Microseconds apart: a cursor that kept only milliseconds would repeat or skip accounts.
    await db("users")
      .whereIn("id", [users[1]!.id, users[4]!.id])
      .update({ last_login_at: db.raw("timestamptz '2026-11-01 10:00:00.123456+00'") });
    await db("users").where({ id: users[2]!.id }).update({ last_login_at: db.raw("timestamptz '2026-11-01 10:00:00.123457+00'") });
    await db("users").where({ id: users[0]!.id }).update({ last_login_at: new Date("2026-10-01T00:00:00Z") });
    await db("users").where({ id: root.id }).update({ last_login_at: new Date("2026-12-01T00:00:00Z") });
    const actor = { id: root.id, username: "root", isAdmin: true, clientIp: null, requestId: null };
    for (const direction of ["asc", "desc"] as const) {
      const chunks: string[] = [];
      for await (const chunk of usersCsvChunks(db, actor, { search: "", sort: "lastLogin", direction }, 2)) chunks.push(chunk);
      expect(chunks.length).toBe(1 + 4);
      const names = column(parseCsv(chunks.join("")).slice(1), "username");
      const withTime = ["u0", "u1", "u4", "u2", "root"];
      const never = ["u3", "u5", "u6"];
      expect(names, direction).toEqual(direction === "asc" ? [...withTime, ...never] : [...withTime.reverse(), ...never.reverse()]);
    }
  });

  it("has every useful column, quoted where needed", async () => {
    const root = await insertTestAdmin(db, { username: "root" });
    const ada = await insertTestUser(db, {
      username: "ada",
      fullName: 'Lovelace, Ada "the first"',
      title: "Analyst\nEngine",
      email: "ada@example.com",
      phone: "+44 20 1234",
      authSource: "ldap",
    });
    await db("users").where({ id: ada.id }).update({ email_verified: true, two_factor_method: "email", disabled: true });
    await makeTeam(db, "Storage", [ada]);
    await makeTeam(db, "Backup, nightly", [ada]);
    const agent = await signedInAgent(app, root);
    const res = await agent.get("/admin/users/export.csv?q=ada");
    expect(res.text).toContain('"Lovelace, Ada ""the first"""');
    const [, row] = parseCsv(res.text);
    const record = Object.fromEntries(HEADER.map((name, i) => [name, row?.[i]]));
    expect(record).toMatchObject({
      id: String(ada.id),
      username: "ada",
      full_name: 'Lovelace, Ada "the first"',
      email: "ada@example.com",
      email_verified: "yes",
      title: "Analyst\nEngine",
      // A phone number starting with + is what a spreadsheet would compute: it keeps its text (docs/security.md X1).
      phone: "'+44 20 1234",
      authentication: "LDAP",
      administrator: "no",
      enabled: "no",
      teams: "Backup, nightly; Storage",
      two_factor: "Email code",
      last_sign_in_at: "",
    });
    expect(record.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it("neutralises usernames a spreadsheet would read as a formula (docs/security.md X1)", async () => {
    const root = await insertTestAdmin(db, { username: "root" });
    await insertTestUser(db, { username: '=HYPERLINK("http://x","y")', fullName: "-1+1" });
    await insertTestUser(db, { username: "@SUM(1)", fullName: "=1+2" });
    const agent = await signedInAgent(app, root);
    const res = await agent.get("/admin/users/export.csv");
    expect(res.text).toContain(`"'=HYPERLINK(""http://x"",""y"")"`);
    const rows = parseCsv(res.text).slice(1);
    expect(column(rows, "username")).toEqual(["'=HYPERLINK(\"http://x\",\"y\")", "'@SUM(1)", "root"]);
    expect(column(rows, "full_name").slice(0, 2)).toEqual(["'-1+1", "'=1+2"]);
  });

  it("is refused to anyone but an administrator (403), and an unknown sort falls back to the list's default (docs/security.md X2, A16)", async () => {
    const root = await insertTestAdmin(db, { username: "root" });
    const user = await insertTestUser(db, { username: "plain" });
    const agent = await signedInAgent(app, user);
    const refused = await agent.get("/admin/users/export.csv");
    expect(refused.status).toBe(403);
    expect(refused.text).not.toContain("root");
    expect(await listAuditEvents(db, { action: "user.list_downloaded" })).toEqual([]);
    const anonymous = await new TestAgent(app).get("/admin/users/export.csv");
    expect(anonymous.status).toBe(303);

    const admin = await signedInAgent(app, root);
    const res = await admin.get("/admin/users/export.csv?sort=password_hash&dir=sideways");
    expect(res.status).toBe(200);
    expect(column(parseCsv(res.text).slice(1), "username")).toEqual(["plain", "root"]);
  });
});
