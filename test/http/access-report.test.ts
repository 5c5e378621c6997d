import type { Express } from "express";
import supertest from "supertest";
import { beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { grant, makeGroup, makeSystem, makeTeam } from "../helpers/access.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestApiToken } from "../helpers/api-tokens.ts";
import { createTestApp } from "../helpers/app.ts";
import { parseCsv } from "../helpers/csv.ts";
import { useTestDb } from "../helpers/db.ts";
import { errorSummary, fieldError, h1, inputValue, isInvalid, pageText, tableRows } from "../helpers/html.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/**
 * The access report (docs/domain.md, "The access report"): the page, its CSV and GET /api/v1/reports/access, on a
 * fixture with every source of the resolver: direct (A), through a group (B), a team (C), a team through a group
 * (D), and dave, who reaches beta by read and by read/write paths at once (docs/security.md A8).
 */

let db: Db;
let app: Express;
useTestDb((created) => {
  db = created;
});
beforeEach(() => {
  app = createTestApp(db);
});

async function fixture() {
  const root = await insertTestAdmin(db, { username: "root" });
  const ada = await insertTestUser(db, { username: "ada" });
  const bob = await insertTestUser(db, { username: "bob" });
  const carol = await insertTestUser(db, { username: "carol" });
  const dave = await insertTestUser(db, { username: "dave" });
  const eve = await insertTestUser(db, { username: "eve" });
  const alpha = await makeSystem(db, { name: "alpha" });
  const beta = await makeSystem(db, { name: "beta" });
  const gamma = await makeSystem(db, { name: "gamma" });
  const storage = await makeGroup(db, "storage", [beta, gamma]);
  const ops = await makeTeam(db, "Ops", [carol, dave]);
  const night = await makeTeam(db, "Night", [dave]);
  await grant(db, { kind: "user", id: ada.id }, { kind: "system", id: alpha.id }, "read");
  await grant(db, { kind: "user", id: bob.id }, { kind: "group", id: storage.id }, "read/write");
  await grant(db, { kind: "team", id: ops.id }, { kind: "system", id: beta.id }, "read");
  await grant(db, { kind: "team", id: night.id }, { kind: "group", id: storage.id }, "read/write");
  await grant(db, { kind: "user", id: dave.id }, { kind: "system", id: beta.id }, "read");
  // A disabled account reaches nothing, whatever it was granted.
  await grant(db, { kind: "user", id: eve.id }, { kind: "system", id: alpha.id }, "read/write");
  await db("users").where({ id: eve.id }).update({ disabled: true });
  return { root, ada, bob, carol, dave, eve, alpha, beta, gamma, storage, ops, night };
}

/** [user, system, permission, decided by, every grant] of the whole report, as the tests read it. */
const WHOLE_REPORT = [
  ["ada", "alpha", "read", "directly", "directly (read)"],
  ["bob", "beta", "read/write", "through group storage", "through group storage (read/write)"],
  ["bob", "gamma", "read/write", "through group storage", "through group storage (read/write)"],
  ["carol", "beta", "read", "team Ops", "team Ops (read)"],
  ["dave", "beta", "read/write", "team Night, through group storage", "directly (read); team Ops (read); team Night, through group storage (read/write)"],
  ["dave", "gamma", "read/write", "team Night, through group storage", "team Night, through group storage (read/write)"],
  ["root", "alpha", "read/write", "administrator", ""],
  ["root", "beta", "read/write", "administrator", ""],
  ["root", "gamma", "read/write", "administrator", ""],
];

/** Table rows with each list item of a cell on a line of its own. */
function rowsWithItems(html: string): string[][] {
  return tableRows(html.replace(/<\/li>/g, "</li>\n"));
}

function pageRows(html: string): string[][] {
  return rowsWithItems(html).map(([user, system, permission, decidedBy, grants]) => [
    user ?? "",
    system ?? "",
    permission ?? "",
    decidedBy ?? "",
    (grants ?? "")
      .split(/\n\s*/)
      .map((g) => g.trim())
      .filter((g) => g && g !== "none needed")
      .join("; "),
  ]);
}

function linkHref(html: string, text: string): string | undefined {
  return new RegExp(`<a href="([^"]*)"[^>]*>${text}</a>`).exec(html)?.[1]?.replace(/&amp;/g, "&");
}

describe("who may see the access report", () => {
  it("is linked from the administration menu, and refused to anyone else (docs/security.md A3, X2)", async () => {
    const { root, ada } = await fixture();
    const admin = await signedInAgent(app, root);
    const home = await admin.get("/admin/users");
    expect(linkHref(home.text, "Access report")).toBe("/admin/reports/access");

    const user = await signedInAgent(app, ada);
    for (const path of ["/admin/reports/access", "/admin/reports/access.csv"]) {
      const res = await user.get(path);
      expect(res.status, path).toBe(403);
      expect(res.text).not.toContain("alpha");
    }
    const anonymous = await new TestAgent(app).get("/admin/reports/access.csv");
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.location).toBe(`/login?returnTo=${encodeURIComponent("/admin/reports/access.csv")}`);
  });
});

describe("the access report page", () => {
  it("lists every user and system they reach, with the permission and the console's words for why", async () => {
    const { root } = await fixture();
    const agent = await signedInAgent(app, root);
    const res = await agent.get("/admin/reports/access");
    expect(res.status).toBe(200);
    expect(h1(res.text)).toBe("Access report");
    expect(pageRows(res.text)).toEqual(WHOLE_REPORT);
    expect(pageText(res.text)).toContain("9 rows");
    expect(linkHref(res.text, "Download CSV")).toBe("/admin/reports/access.csv");
  });

  it("filters by user, team, system and group, keeps what was typed, and the download carries the filters", async () => {
    const { root } = await fixture();
    const agent = await signedInAgent(app, root);
    const byTeam = await agent.get("/admin/reports/access?team=ops");
    expect(pageRows(byTeam.text).map((r) => r.slice(0, 2))).toEqual([
      ["carol", "beta"],
      ["dave", "beta"],
    ]);
    expect(inputValue(byTeam.text, "team")).toBe("ops");

    const byGroup = await agent.get("/admin/reports/access?group=storage");
    expect(pageRows(byGroup.text).map((r) => r.slice(0, 2))).toEqual([
      ["bob", "beta"],
      ["bob", "gamma"],
      ["dave", "beta"],
      ["dave", "gamma"],
    ]);

    const bySystemAndUser = await agent.get("/admin/reports/access?user=DAVE&system=beta");
    expect(pageRows(bySystemAndUser.text)).toEqual([WHOLE_REPORT[4]]);
    expect(linkHref(bySystemAndUser.text, "Download CSV")).toBe("/admin/reports/access.csv?user=DAVE&system=beta");

    const bySystem = await agent.get("/admin/reports/access?system=alpha");
    expect(pageRows(bySystem.text).map((r) => r[0])).toEqual(["ada", "root"]);

    const nothing = await agent.get("/admin/reports/access?user=carol&group=storage");
    expect(tableRows(nothing.text)).toEqual([]);
    expect(pageText(nothing.text)).toContain("No access matches these filters.");
  });

  it("names the field of a filter that matches no record, keeps the input and shows no rows", async () => {
    const { root } = await fixture();
    const agent = await signedInAgent(app, root);
    const res = await agent.get("/admin/reports/access?team=Opps&system=alpha");
    expect(res.status).toBe(422);
    expect(isInvalid(res.text, "team")).toBe(true);
    expect(fieldError(res.text, "team")).toContain("There is no team with the name “Opps”");
    expect(errorSummary(res.text)?.links).toEqual(["team"]);
    expect(inputValue(res.text, "team")).toBe("Opps");
    expect(inputValue(res.text, "system")).toBe("alpha");
    expect(tableRows(res.text)).toEqual([]);

    const long = await agent.get(`/admin/reports/access.csv?user=${"x".repeat(201)}`);
    expect(long.status).toBe(422);
    expect(fieldError(long.text, "user")).toBe("User must be at most 200 characters; this one has 201.");
  });

  it("pages the rows, 50 a page", async () => {
    const { root } = await fixture();
    const systems = await Promise.all(Array.from({ length: 60 }, (_, i) => makeSystem(db, { name: `many-${String(i).padStart(2, "0")}` })));
    const ada = await db("users").where({ username: "ada" }).first();
    for (const system of systems) await grant(db, { kind: "user", id: Number(ada.id) }, { kind: "system", id: system.id });
    const agent = await signedInAgent(app, root);
    const first = await agent.get("/admin/reports/access?user=ada");
    expect(tableRows(first.text)).toHaveLength(50);
    expect(pageText(first.text)).toContain("Page 1 of 2 (61 in all)");
    expect(linkHref(first.text, "Next")).toBe("/admin/reports/access?user=ada&page=2");
    const second = await agent.get("/admin/reports/access?user=ada&page=2");
    expect(tableRows(second.text).map((r) => r[1])).toEqual(["many-49", "many-50", "many-51", "many-52", "many-53", "many-54", "many-55", "many-56", "many-57", "many-58", "many-59"]);
    const past = await agent.get("/admin/reports/access?user=ada&page=3");
    expect(tableRows(past.text)).toEqual([]);
    expect(pageText(past.text)).toContain("There is no page 3: the last is page 2.");
  });
});

describe("the report agrees with each user's effective access (docs/security.md A8)", () => {
  it("says for every row what the user's page says: the permission, the deciding grant and every grant", async () => {
    const fixed = await fixture();
    const agent = await signedInAgent(app, fixed.root);
    const report = pageRows((await agent.get("/admin/reports/access")).text);
    for (const user of [fixed.ada, fixed.bob, fixed.carol, fixed.dave]) {
      const page = await agent.get(`/admin/users/${user.id}`);
      const section = /id="effective-access">([\s\S]*?)<\/section>/.exec(page.text)?.[1] ?? "";
      const onPage = rowsWithItems(section).map(([system, permission, why]) => {
        const grants = (why ?? "")
          .split(/\n\s*/)
          .map((g) => g.trim())
          .filter(Boolean);
        const decides = grants.find((g) => g.endsWith("(decides)")) ?? "";
        return [
          user.username,
          system ?? "",
          permission ?? "",
          decides.replace(/: [^:]*\(decides\)$/, ""),
          grants.map((g) => g.replace(/ \(decides\)$/, "").replace(/: (read\/write|read)$/, " ($1)")).join("; "),
        ];
      });
      expect(onPage.length, user.username).toBeGreaterThan(0);
      expect(report.filter((row) => row[0] === user.username)).toEqual(onPage);
    }
    // Removing one of dave's paths leaves the others (A8): without the team through the group, the direct read decides.
    await db("team_group_grants").where({ team_id: fixed.night.id }).delete();
    const after = pageRows((await agent.get("/admin/reports/access?user=dave")).text);
    expect(after).toEqual([["dave", "beta", "read", "directly", "directly (read); team Ops (read)"]]);
  });
});

describe("the access report as CSV", () => {
  it("streams a header and every row, with the filters of the page", async () => {
    const { root } = await fixture();
    const agent = await signedInAgent(app, root);
    const res = await agent.get("/admin/reports/access.csv");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("text/csv; charset=utf-8");
    expect(res.headers["content-disposition"]).toMatch(/^attachment; filename="gatehouse-access-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z\.csv"$/);
    const [header, ...rows] = parseCsv(res.text);
    expect(header).toEqual(["username", "user_id", "system", "system_id", "permission", "deciding_source", "grants"]);
    expect(rows.map(([user, , system, , permission, decidedBy, grants]) => [user, system, permission, decidedBy, grants])).toEqual(WHOLE_REPORT);

    const filtered = parseCsv((await agent.get("/admin/reports/access.csv?team=Night")).text);
    expect(filtered.slice(1).map((r) => [r[0], r[2]])).toEqual([
      ["dave", "beta"],
      ["dave", "gamma"],
    ]);
    // Each download is on the trail, with its filters as typed, by the time the file has arrived.
    const events = await listAuditEvents(db, { action: "grant.report_downloaded" });
    expect(events.map((e) => [e.actorUsername, e.details])).toEqual(
      expect.arrayContaining([
        ["root", { format: "csv", filters: {} }],
        ["root", { format: "csv", filters: { team: "Night" } }],
      ]),
    );
    expect(events).toHaveLength(2);
  });

  it("reads the report in batches of accounts and loses no row between them", async () => {
    const { root } = await fixture();
    const { accessReportCsvChunks } = await import("../../src/services/access-report.ts");
    const actor = { id: root.id, username: root.username, isAdmin: true, clientIp: null, requestId: null };
    const chunks: string[] = [];
    for await (const chunk of accessReportCsvChunks(db, actor, {}, 2)) chunks.push(chunk);
    // A header, then one chunk for each batch of two accounts that reaches something (eve, disabled, reaches nothing).
    expect(chunks.length).toBeGreaterThan(3);
    expect(parseCsv(chunks.join("")).slice(1).map((r) => [r[0], r[2]])).toEqual(WHOLE_REPORT.map((r) => [r[0], r[1]]));
  });

  it("neutralises cells a spreadsheet would read as a formula (docs/security.md X1)", async () => {
    const root = await insertTestAdmin(db, { username: "root" });
    const formula = await insertTestUser(db, { username: '=HYPERLINK("http://x","y")' });
    const at = await insertTestUser(db, { username: "@SUM(1)" });
    const system = await makeSystem(db, { name: "-2+3" });
    await grant(db, { kind: "user", id: formula.id }, { kind: "system", id: system.id });
    await grant(db, { kind: "user", id: at.id }, { kind: "system", id: system.id }, "read/write");
    const agent = await signedInAgent(app, root);
    const res = await agent.get(`/admin/reports/access.csv?system=${encodeURIComponent("-2+3")}`);
    expect(res.text).toContain(`"'=HYPERLINK(""http://x"",""y"")"`);
    const rows = parseCsv(res.text).slice(1);
    expect(rows.map((r) => [r[0], r[2], r[4]])).toEqual([
      ["'=HYPERLINK(\"http://x\",\"y\")", "'-2+3", "read"],
      ["'@SUM(1)", "'-2+3", "read/write"],
      ["root", "'-2+3", "read/write"],
    ]);
    // The page shows the names as they are, escaped.
    const page = await agent.get("/admin/reports/access?system=-2%2B3");
    expect(page.text).toContain("=HYPERLINK(&#34;http://x&#34;,&#34;y&#34;)");
  });
});

describe("GET /api/v1/reports/access", () => {
  it("answers pages of rows with the permission, the deciding source and every grant", async () => {
    const { root, dave, beta, night, storage } = await fixture();
    const token = await createTestApiToken(db, root);
    const res = await supertest(app).get("/api/v1/reports/access?perPage=4&page=2").set("Authorization", `Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(res.body.paging).toEqual({ page: 2, perPage: 4, total: 9, pageCount: 3 });
    expect(res.body.data.map((r: { user: { username: string }; system: { name: string } }) => [r.user.username, r.system.name])).toEqual([
      ["dave", "beta"],
      ["dave", "gamma"],
      ["root", "alpha"],
      ["root", "beta"],
    ]);
    expect(res.body.data[0]).toEqual({
      user: { id: dave.id, username: "dave" },
      system: { id: beta.id, name: "beta" },
      permission: "read/write",
      basis: "grants",
      summary: "read/write, the most permissive of 3 grants.",
      decidedBy: "team Night, through group storage",
      grants: [
        { source: "A", explanation: "directly", permission: "read", team: null, group: null, decides: false },
        { source: "C", explanation: "team Ops", permission: "read", team: expect.objectContaining({ name: "Ops" }), group: null, decides: false },
        {
          source: "D",
          explanation: "team Night, through group storage",
          permission: "read/write",
          team: { id: night.id, name: "Night" },
          group: { id: storage.id, name: "storage" },
          decides: true,
        },
      ],
    });
    expect(res.body.data[2]).toMatchObject({ basis: "administrator", decidedBy: "administrator", grants: [] });
  });

  it("filters by ids, and names the field of an id that is no record's", async () => {
    const { root, ops, gamma } = await fixture();
    const token = await createTestApiToken(db, root);
    const api = (query: string) => supertest(app).get(`/api/v1/reports/access?${query}`).set("Authorization", `Bearer ${token}`);
    const byTeam = await api(`team=${ops.id}`);
    expect(byTeam.body.data.map((r: { user: { username: string } }) => r.user.username)).toEqual(["carol", "dave"]);
    const bySystem = await api(`system=${gamma.id}`);
    expect(bySystem.body.paging.total).toBe(3);
    const missing = await api("group=999999&user=abc");
    expect(missing.status).toBe(400);
    expect(missing.body.error.fields).toEqual({ user: "user must be a user's id, a whole number from 1." });
    const unknown = await api("group=999999");
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.fields).toEqual({ group: "There is no system group with id 999999." });
  });

  it("refuses a token whose owner is not an administrator (403, docs/security.md X2) and a request without a token (401)", async () => {
    const { ada } = await fixture();
    const token = await createTestApiToken(db, ada);
    const res = await supertest(app).get("/api/v1/reports/access").set("Authorization", `Bearer ${token}`);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("forbidden");
    expect(JSON.stringify(res.body)).not.toContain("alpha");
    expect((await supertest(app).get("/api/v1/reports/access")).status).toBe(401);
  });
});
