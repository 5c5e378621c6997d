import { createServer, get as httpGet, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Express, Response } from "express";
import { beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { streamText } from "../../src/routes/stream-text.ts";
import { CATEGORY_OPTIONS } from "../../src/services/audit-log-actions.ts";
import { LogRetentionSchedule, pruneAuditEvents } from "../../src/services/log-retention.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { insertAuditEvents, insertPlainAuditEvents, storedEventIds, type TestAuditEvent } from "../helpers/audit-log.ts";
import { parseCsv } from "../helpers/csv.ts";
import { useTestDb } from "../helpers/db.ts";
import { errorSummary, fieldError, h1, inputValue, isInvalid, pageText, tableRows } from "../helpers/html.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

let db: Db;
let app: Express;
useTestDb((created) => {
  db = created;
});
beforeEach(() => {
  app = createTestApp(db);
});

const DAY = 86_400_000;
const silentLogger = { info: () => undefined, warn: () => undefined, error: () => undefined } as never;

async function signedInAdmin(username = "root") {
  const admin = await insertTestAdmin(db, { username });
  return { admin, agent: await signedInAgent(app, admin) };
}

/** The events the table shows, as [when, actor, client address, action, target]. */
function rowsOf(html: string): string[][] {
  return tableRows(html);
}

function actionCodes(html: string): string[] {
  return [...html.matchAll(/<code class="log-action">([^<]*)<\/code>/g)].map((m) => m[1] ?? "");
}

function linkHref(html: string, text: string): string | undefined {
  const match = new RegExp(`<a href="([^"]*)"[^>]*>${text}</a>`).exec(html);
  return match?.[1]?.replace(/&amp;/g, "&");
}

/** Events at known times around 2024-03-10 (UTC), always in the past, and a sign-in that the test adds now. */
const BASE = Date.parse("2024-03-10T12:00:00Z");
const SAMPLE: TestAuditEvent[] = [
  { occurredAt: new Date(BASE - 3 * DAY), action: "sign_in.failed", actorUsername: "Mallory", clientIp: "203.0.113.9", details: { reason: "bad_password" } },
  {
    occurredAt: new Date(BASE - DAY),
    action: "user.created",
    actorId: 1,
    actorUsername: "ada",
    clientIp: "198.51.100.7",
    targetType: "user",
    targetId: "42",
    targetLabel: "bob",
    details: { changes: { fullName: { from: null, to: "Bob Builder" }, password: { from: null, to: "------" } } },
  },
  {
    occurredAt: new Date(BASE),
    action: "team.updated",
    actorId: 1,
    actorUsername: "ada",
    clientIp: "198.51.100.7",
    targetType: "team",
    targetId: "7",
    targetLabel: "storage_100%",
    details: { note: "renamed for the audit" },
  },
  { occurredAt: new Date(BASE + 3_600_000), action: "sign_out", actorId: 2, actorUsername: "bob", clientIp: "2001:db8::1" },
  { occurredAt: new Date(BASE + 2 * DAY), action: "report.exported", actorId: 1, actorUsername: "ada", clientIp: "198.51.100.7", targetLabel: "deploy" },
];

describe("who may see the Logs", () => {
  const paths = ["/admin/logs", "/admin/logs/1", "/admin/logs/download.csv", "/admin/logs/download.json", "/admin/logs/retention"];

  it("sends an anonymous visitor to sign in, and back afterwards", async () => {
    await insertTestAdmin(db, { username: "root" });
    const agent = new TestAgent(app);
    for (const path of paths) {
      const res = await agent.get(path);
      expect(res.status, path).toBe(303);
      expect(res.headers.location).toBe(`/login?returnTo=${encodeURIComponent(path)}`);
    }
  });

  it("refuses a user who is not an administrator (403), for every page, download and the retention form", async () => {
    await insertAuditEvents(db, SAMPLE);
    const user = await insertTestUser(db, { username: "uma" });
    const agent = await signedInAgent(app, user);
    for (const path of paths) {
      const res = await agent.get(path);
      expect(res.status, path).toBe(403);
      expect(res.headers["content-disposition"]).toBeUndefined();
    }
    const post = await agent.post("/admin/logs/retention", { retentionDays: "30", version: "0" });
    expect(post.status).toBe(403);
    expect(await listAuditEvents(db, { action: "settings.logs_updated" })).toHaveLength(0);
  });

  it("shows administrators a Logs link after Settings, marked as the current page on the Logs", async () => {
    const { agent } = await signedInAdmin();
    const users = await agent.get("/admin/users");
    expect(users.text).toMatch(/>Settings<\/a><\/li>\s*<li><a href="\/admin\/logs">Logs<\/a>/);
    const logs = await agent.get("/admin/logs");
    expect(logs.text).toContain('<a href="/admin/logs" aria-current="page">Logs</a>');
  });
});

describe("the list", () => {
  it("lists events newest first: readable time with the exact time as a title, actor, address, action in words and code, target", async () => {
    await insertAuditEvents(db, SAMPLE);
    const { agent } = await signedInAdmin();
    const res = await agent.get("/admin/logs");
    expect(res.status).toBe(200);
    expect(h1(res.text)).toBe("Logs");
    const rows = rowsOf(res.text);
    // The administrator's own sign-in is the newest event.
    expect(rows[0]?.[1]).toBe("root");
    expect(rows[0]?.[3]).toBe("Signed in sign_in.succeeded");
    expect(rows.slice(1)).toEqual([
      ["2024-03-12 12:00:00 UTC", "ada", "198.51.100.7", "Report exported report.exported", "deploy"],
      ["2024-03-10 13:00:00 UTC", "bob", "2001:db8::1", "Signed out sign_out", ""],
      ["2024-03-10 12:00:00 UTC", "ada", "198.51.100.7", "Team changed team.updated", "storage_100%"],
      ["2024-03-09 12:00:00 UTC", "ada", "198.51.100.7", "User created user.created", "bob"],
      ["2024-03-07 12:00:00 UTC", "Mallory", "203.0.113.9", "Sign-in failed sign_in.failed", ""],
    ]);
    expect(res.text).toContain('<time datetime="2024-03-10T12:00:00.000Z" title="2024-03-10T12:00:00.000000Z">');
    expect(pageText(res.text)).toContain("6 events");
    expect(pageText(res.text)).toContain("Events are kept for 365 days.");
  });

  it("says so when nothing matches, and offers to show everything", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.get("/admin/logs?actor=nobody");
    expect(res.status).toBe(200);
    expect(pageText(res.text)).toContain("No events match these filters. Show all events");
    expect(tableRows(res.text)).toEqual([]);
  });

  describe("filters", () => {
    const cases: { name: string; query: string; actions: string[] }[] = [
      { name: "From (a date: from its start)", query: "from=2024-03-10", actions: ["sign_in.succeeded", "report.exported", "sign_out", "team.updated"] },
      { name: "From (a date and time)", query: "from=2024-03-10+12:00:01", actions: ["sign_in.succeeded", "report.exported", "sign_out"] },
      { name: "To (a date: to the end of that day)", query: "to=2024-03-10", actions: ["sign_out", "team.updated", "user.created", "sign_in.failed"] },
      { name: "To (a date and time: to the end of that minute)", query: "to=2024-03-10T12:00", actions: ["team.updated", "user.created", "sign_in.failed"] },
      { name: "To on the last day of the calendar", query: "to=9999-12-31", actions: ["sign_in.succeeded", "report.exported", "sign_out", "team.updated", "user.created", "sign_in.failed"] },
      { name: "From and To on the same day", query: "from=2024-03-10&to=2024-03-10", actions: ["sign_out", "team.updated"] },
      { name: "Actor, without regard to case", query: "actor=ADA", actions: ["report.exported", "team.updated", "user.created"] },
      { name: "Category Users", query: "category=user", actions: ["user.created"] },
      { name: "Category Sign-out (an action with no dot)", query: "category=sign_out", actions: ["sign_out"] },
      { name: "Category Sign-in", query: "category=sign_in", actions: ["sign_in.succeeded", "sign_in.failed"] },
      { name: "Category Other (a prefix not in the list)", query: "category=other", actions: ["report.exported"] },
      { name: "Search in the action", query: "q=TEAM.upd", actions: ["team.updated"] },
      { name: "Search in the actor", query: "q=mallo", actions: ["sign_in.failed"] },
      { name: "Search in the target label", query: "q=deplo", actions: ["report.exported"] },
      { name: "Search in the client address", query: "q=2001%3Adb8", actions: ["sign_out"] },
      { name: "Search in the details", query: "q=Bob+Builder", actions: ["user.created"] },
      { name: "Search with % taken literally", query: "q=100%25", actions: ["team.updated"] },
      { name: "Search with % not a wildcard", query: "q=sto%25100", actions: [] },
      { name: "Search with _ not a wildcard", query: "q=s_orage", actions: [] },
      { name: "combined: Actor, Category and time", query: "actor=ada&category=user&from=2024-03-01&to=2024-03-31", actions: ["user.created"] },
      { name: "combined: Search and To", query: "q=198.51&to=2024-03-10", actions: ["team.updated", "user.created"] },
    ];
    for (const { name, query, actions } of cases) {
      it(name, async () => {
        await insertAuditEvents(db, SAMPLE);
        const { agent } = await signedInAdmin();
        const res = await agent.get(`/admin/logs?${query}`);
        expect(res.status).toBe(200);
        expect(actionCodes(res.text)).toEqual(actions);
      });
    }

    it("offers every category of the one list in code, and finds API token events under API tokens", async () => {
      await insertAuditEvents(db, [...SAMPLE, { occurredAt: new Date(BASE), action: "api_token.revoked", actorUsername: "ada", targetLabel: "bob" }]);
      const { agent } = await signedInAdmin();
      const res = await agent.get("/admin/logs?category=api_token");
      const options = [...res.text.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]);
      expect(options).toEqual(["", ...CATEGORY_OPTIONS.map((c) => c.value)]);
      expect(options).toEqual(expect.arrayContaining(["sign_in", "sign_out", "user", "team", "system", "group", "grant", "settings", "password", "session", "two_factor", "email", "profile", "setup", "other"]));
      expect(rowsOf(res.text).map((r) => r[3])).toEqual(["API token revoked api_token.revoked"]);
    });

    it("keeps every value in the form, and carries the filters into the downloads and the paging links", async () => {
      await insertPlainAuditEvents(db, 60, new Date(BASE));
      const { agent } = await signedInAdmin();
      const res = await agent.get("/admin/logs?from=2024-03-01&to=2024-03-10+12%3A00&actor=bulk&category=user&q=user");
      expect(inputValue(res.text, "from")).toBe("2024-03-01");
      expect(inputValue(res.text, "to")).toBe("2024-03-10 12:00");
      expect(inputValue(res.text, "actor")).toBe("bulk");
      expect(inputValue(res.text, "q")).toBe("user");
      expect(res.text).toMatch(/<option value="user" selected>Users<\/option>/);
      expect(pageText(res.text)).toContain("60 events matching the filters");
      const filters = "from=2024-03-01&to=2024-03-10+12%3A00&actor=bulk&category=user&q=user";
      expect(linkHref(res.text, "Download JSON")).toBe(`/admin/logs/download.json?${filters}`);
      expect(linkHref(res.text, "Download CSV")).toBe(`/admin/logs/download.csv?${filters}`);
      expect(linkHref(res.text, "Older")).toMatch(new RegExp(`^/admin/logs\\?${filters.replace(/[+?]/g, "\\$&")}&older=`));
    });
  });

  describe("bad filters", () => {
    const cases: { name: string; query: string; field: string; message: RegExp; kept: Record<string, string> }[] = [
      { name: "a From that is no date", query: "from=yesterday", field: "from", message: /^From must be a date or a date and time, as YYYY-MM-DD or YYYY-MM-DD HH:MM, in UTC; "yesterday" is not\.$/, kept: { from: "yesterday" } },
      { name: "a To that is no real date", query: "to=2024-02-30", field: "to", message: /^To is not a real date and time/, kept: { to: "2024-02-30" } },
      { name: "a time past 23:59", query: "to=2024-03-01+24:10", field: "to", message: /^To is not a real date and time/, kept: { to: "2024-03-01 24:10" } },
      { name: "From after To", query: "from=2024-03-11&to=2024-03-10&actor=ada", field: "from", message: /^From \(2024-03-11\) is after To \(2024-03-10\)/, kept: { from: "2024-03-11", to: "2024-03-10", actor: "ada" } },
      { name: "an Actor too long", query: `actor=${"a".repeat(65)}`, field: "actor", message: /^Actor must be at most 64 characters; this one has 65\.$/, kept: { actor: "a".repeat(65) } },
      { name: "a Search too long", query: `q=${"x".repeat(201)}&from=2024-01-01`, field: "q", message: /^Search must be at most 200 characters/, kept: { q: "x".repeat(201), from: "2024-01-01" } },
      { name: "a Search with a control character", query: "q=a%00b", field: "q", message: /^Search cannot contain line breaks or control characters\.$/, kept: {} },
      { name: "a Category not in the list", query: "category=nope&q=ok", field: "category", message: /^Choose a Category from the list; "nope" is not one\.$/, kept: { q: "ok" } },
    ];
    for (const { name, query, field, message, kept } of cases) {
      it(`${name}: 422, the field named and marked, the values kept, no events shown`, async () => {
        await insertAuditEvents(db, SAMPLE);
        const { agent } = await signedInAdmin();
        const res = await agent.get(`/admin/logs?${query}`);
        expect(res.status).toBe(422);
        expect(fieldError(res.text, field)).toMatch(message);
        expect(errorSummary(res.text)?.links).toContain(field);
        if (field === "category") expect(res.text).toMatch(/<select id="category"[^>]*aria-invalid="true"/);
        else expect(isInvalid(res.text, field)).toBe(true);
        for (const [name, value] of Object.entries(kept)) expect(inputValue(res.text, name)).toBe(value);
        expect(tableRows(res.text)).toEqual([]);
        expect(res.text).not.toContain("Download CSV");
      });
    }

    it("a download with bad filters answers with the Logs page and its message, not a file", async () => {
      const { agent } = await signedInAdmin();
      const res = await agent.get("/admin/logs/download.csv?from=soon");
      expect(res.status).toBe(422);
      expect(res.headers["content-disposition"]).toBeUndefined();
      expect(res.headers["content-type"]).toMatch(/^text\/html/);
      expect(fieldError(res.text, "from")).toMatch(/^From must be a date/);
    });

    it("a repeated field is refused with the page, never a 500", async () => {
      const { agent } = await signedInAdmin();
      const res = await agent.get("/admin/logs?actor=a&actor=b");
      expect(res.status).toBe(400);
      expect(h1(res.text)).toBe("Logs");
    });
  });

  describe("paging", () => {
    it("pages by Older and Newer through events that share one timestamp, each shown once, in order", async () => {
      const at = new Date(BASE);
      const ids = await insertAuditEvents(
        db,
        Array.from({ length: 120 }, (_, i) => ({ occurredAt: at, action: "system.updated", actorUsername: "ada", targetLabel: `nas-${i}` })),
      );
      const { agent } = await signedInAdmin();
      const newestFirst = [...ids].reverse().map((id) => `/admin/logs/${id}`);
      const hrefs = (html: string) => [...html.matchAll(/<a href="(\/admin\/logs\/\d+)">/g)].map((m) => m[1]);

      const first = await agent.get("/admin/logs?category=system");
      expect(hrefs(first.text)).toEqual(newestFirst.slice(0, 50));
      expect(first.text).toContain('<span aria-disabled="true">Newer</span>');
      const second = await agent.get(linkHref(first.text, "Older") as string);
      expect(hrefs(second.text)).toEqual(newestFirst.slice(50, 100));
      const third = await agent.get(linkHref(second.text, "Older") as string);
      expect(hrefs(third.text)).toEqual(newestFirst.slice(100));
      expect(third.text).toContain('<span aria-disabled="true">Older</span>');
      expect(pageText(third.text)).toContain("120 events matching the filters");

      const backToSecond = await agent.get(linkHref(third.text, "Newer") as string);
      expect(hrefs(backToSecond.text)).toEqual(newestFirst.slice(50, 100));
      const backToFirst = await agent.get(linkHref(backToSecond.text, "Newer") as string);
      expect(hrefs(backToFirst.text)).toEqual(newestFirst.slice(0, 50));
      expect(backToFirst.text).toContain('<span aria-disabled="true">Newer</span>');
    });

    it("ignores a paging link it did not make, showing the newest events", async () => {
      await insertAuditEvents(db, SAMPLE);
      const { agent } = await signedInAdmin();
      for (const cursor of ["garbage", "2024-02-30T00:00:00.000000Z_5", "0000-01-01T00:00:00.000000Z_1", "2024-03-10T12:00:00.000000Z_99999999999999999999"]) {
        const res = await agent.get(`/admin/logs?older=${encodeURIComponent(cursor)}`);
        expect(res.status, cursor).toBe(200);
        expect(rowsOf(res.text)).toHaveLength(6);
      }
    });

    it("a page past the oldest event (its events deleted meanwhile) says so and links back to the newest", async () => {
      await insertAuditEvents(db, SAMPLE);
      const { agent } = await signedInAdmin();
      const res = await agent.get(`/admin/logs?older=${encodeURIComponent("1970-01-02T00:00:00.000000Z_1")}`);
      expect(res.status).toBe(200);
      expect(tableRows(res.text)).toEqual([]);
      expect(pageText(res.text)).toContain("No events on this page; they may have been deleted by the log retention. Show the newest events");
      expect(linkHref(res.text, "Newer")).toMatch(/^\/admin\/logs\?newer=/);
    });

    it("counts up to 10,000 and says 'more than' above that", async () => {
      await insertPlainAuditEvents(db, 10_050, new Date(BASE));
      const { agent } = await signedInAdmin();
      const res = await agent.get("/admin/logs");
      expect(pageText(res.text)).toContain("More than 10,000 events");
      // One second apart up to 12:00:00: 61 of them from 11:59:00 on, counted exactly under the cap.
      const few = await agent.get("/admin/logs?from=2024-03-10+11:59&to=2024-03-10+12:00");
      expect(pageText(few.text)).toContain("61 events matching the filters");
    });
  });
});

describe("one event", () => {
  it("shows every fact, the changed fields before and after, and the other details, all escaped", async () => {
    const [id] = await insertAuditEvents(db, [
      {
        occurredAt: new Date("2024-03-10T12:00:00.123Z"),
        action: "user.updated",
        actorId: 1,
        actorUsername: "ada",
        clientIp: "198.51.100.7",
        requestId: "req-123",
        targetType: "user",
        targetId: "42",
        targetLabel: "<b>bob</b>",
        details: {
          changes: { fullName: { from: "Bob", to: "Robert <script>alert(1)</script>" }, password: { from: "------", to: "------" }, email: { from: null, to: "" } },
          grants: [{ system: "nas-1", permission: "read" }],
          permission: { from: "read", to: "read/write" },
          sessionsEnded: 2,
        },
      },
    ]);
    const { agent } = await signedInAdmin();
    const res = await agent.get(`/admin/logs/${id}`);
    expect(res.status).toBe(200);
    expect(h1(res.text)).toBe("User changed");
    const text = pageText(res.text);
    for (const fact of [
      "When 2024-03-10 12:00:00 UTC",
      "Exact time (UTC) 2024-03-10T12:00:00.123000Z",
      "Actor ada (account 1). Events by ada",
      "Client address 198.51.100.7",
      "Action User changed user.updated",
      "Category Users. Events of this category",
      "Target <b>bob</b> (user 42)",
      "Request id req-123",
      `Event number ${id}`,
    ])
      expect(text).toContain(fact);
    expect(res.text).not.toContain("<script>alert(1)</script>");
    expect(res.text).not.toContain("<b>bob</b>");
    expect(res.text).toContain("Robert &lt;script&gt;alert(1)&lt;/script&gt;");
    const changes = tableRows(res.text);
    // In the order of their names; a {from, to} beside `changes` (a grant's permission) is a changed field too.
    expect(changes).toEqual([
      ["email", "(none)", "(empty)"],
      ["fullName", "Bob", "Robert <script>alert(1)</script>"],
      ["password", "------", "------"],
      ["permission", "read", "read/write"],
    ]);
    const others = [...res.text.matchAll(/<th scope="row"><code>([^<]*)<\/code><\/th><td>([\s\S]*?)<\/td><\/tr>/g)].map((m) => [m[1], pageText(m[2] ?? "")]);
    expect(others).toEqual([
      ["grants", '[ { "system": "nas-1", "permission": "read" } ]'],
      ["sessionsEnded", "2"],
    ]);
    expect(res.text).toContain("&#34;system&#34;: &#34;nas-1&#34;");
    expect(linkHref(res.text, "Events by ada")).toBe("/admin/logs?actor=ada");
    expect(linkHref(res.text, "Events of this category")).toBe("/admin/logs?category=user");
  });

  it("shows an event with no actor, target or details in words", async () => {
    const [id] = await insertAuditEvents(db, [{ occurredAt: new Date(BASE), action: "brand_new.thing" }]);
    const { agent } = await signedInAdmin();
    const res = await agent.get(`/admin/logs/${id}`);
    expect(res.status).toBe(200);
    expect(h1(res.text)).toBe("Brand new thing");
    const text = pageText(res.text);
    expect(text).toContain("Actor None (not signed in)");
    expect(text).toContain("Category Other.");
    expect(text).toContain("This event records no changed fields.");
    expect(text).toContain("No other details were recorded.");
  });

  it("answers 404, never 500, for ids that are not an event", async () => {
    const { agent } = await signedInAdmin();
    for (const id of ["abc", "-1", "0", "1e3", "12.5", "0x10", "99999999999999999999", "9007199254740993", "999999"]) {
      const res = await agent.get(`/admin/logs/${id}`);
      expect(res.status, id).toBe(404);
    }
  });
});

describe("downloads", () => {
  /** 2,500 events (more than two batches of 1,000), three to a second, with cells that need quoting or defusing. */
  function manyEvents(): TestAuditEvent[] {
    const tricky = ['He said "hi", then left', "line one\nline two", "a,b,c", "=HYPERLINK(\"http://evil\")", "+1", "-2", "@SUM(A1)", "\tTab", "\rReturn"];
    return Array.from({ length: 2_500 }, (_, i) => ({
      occurredAt: new Date(BASE + Math.floor(i / 3) * 1_000),
      action: i % 2 === 0 ? "user.updated" : "team.updated",
      actorId: (i % 4) + 1,
      actorUsername: ["ada", "bob", "cy", "dee"][i % 4] as string,
      clientIp: "192.0.2.1",
      requestId: `req-${i}`,
      targetType: i % 2 === 0 ? "user" : "team",
      targetId: String(i),
      targetLabel: tricky[i % tricky.length] as string,
      details: { changes: { note: { from: tricky[(i + 1) % tricky.length], to: `n${i}` } }, index: i },
    }));
  }

  it("JSON: one array of every event, newest first, each field as stored", async () => {
    await insertAuditEvents(db, manyEvents());
    const { agent } = await signedInAdmin();
    const expected = await storedEventIds(db);
    const res = await agent.get("/admin/logs/download.json").buffer(true).parse((r, done) => {
      let body = "";
      r.setEncoding("utf8");
      r.on("data", (chunk: string) => {
        body += chunk;
      });
      r.on("end", () => done(null, body));
    });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.headers["content-disposition"]).toMatch(/^attachment; filename="gatehouse-logs-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z\.json"$/);
    expect(res.headers["cache-control"]).toBe("no-store");
    const events = JSON.parse(res.body as string) as Record<string, unknown>[];
    expect(events).toHaveLength(2_501);
    expect(events.map((e) => e.id)).toEqual(expected);
    const newest = events.find((e) => e.requestId === "req-2499");
    expect(newest).toEqual({
      id: expect.any(Number),
      occurredAt: "2024-03-10T12:13:53.000000Z",
      actorId: 4,
      actorUsername: "dee",
      clientAddress: "192.0.2.1",
      requestId: "req-2499",
      action: "team.updated",
      description: "Team changed",
      category: "team",
      targetType: "team",
      targetId: "2499",
      targetLabel: "@SUM(A1)",
      details: { changes: { note: { from: "\tTab", to: "n2499" } }, index: 2499 },
    });
  });

  it("a download is itself recorded, after the copy (which does not contain its own record), with its filters", async () => {
    await insertAuditEvents(db, manyEvents().slice(0, 3));
    const { agent } = await signedInAdmin();
    const res = await agent.get("/admin/logs/download.json?category=user");
    expect(res.status).toBe(200);
    expect(JSON.stringify(JSON.parse(res.text))).not.toContain("audit.downloaded");
    const [event] = await db("audit_events").where({ action: "audit.downloaded" });
    expect(event).toBeDefined();
    expect(event.details).toMatchObject({ format: "json", filters: { category: "user" } });
  });

  it("CSV: a header, one quoted-where-needed row per event in order, formulas defused", async () => {
    await insertAuditEvents(db, manyEvents());
    const { agent } = await signedInAdmin();
    const expected = await storedEventIds(db);
    const res = await agent.get("/admin/logs/download.csv");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("text/csv; charset=utf-8");
    expect(res.headers["content-disposition"]).toMatch(/^attachment; filename="gatehouse-logs-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z\.csv"$/);
    expect(res.headers["cache-control"]).not.toMatch(/public/);
    const records = parseCsv(res.text);
    const [header, ...rows] = records;
    expect(header).toEqual([
      "id",
      "occurred_at",
      "actor_id",
      "actor_username",
      "client_address",
      "request_id",
      "action",
      "description",
      "category",
      "target_type",
      "target_id",
      "target_label",
      "details",
    ]);
    expect(rows).toHaveLength(2_501);
    expect(rows.map((r) => Number(r[0]))).toEqual(expected);
    const byRequest = new Map(rows.map((r) => [r[5], r]));
    const cells = (i: number) => byRequest.get(`req-${i}`) as string[];
    expect(cells(0)[11]).toBe('He said "hi", then left');
    expect(cells(1)[11]).toBe("line one\nline two");
    expect(cells(2)[11]).toBe("a,b,c");
    expect(cells(3)[11]).toBe("'=HYPERLINK(\"http://evil\")");
    expect(cells(4)[11]).toBe("'+1");
    expect(cells(5)[11]).toBe("'-2");
    expect(cells(6)[11]).toBe("'@SUM(A1)");
    expect(cells(7)[11]).toBe("'\tTab");
    expect(cells(8)[11]).toBe("'\rReturn");
    expect(JSON.parse(cells(0)[12] as string)).toEqual({ changes: { note: { from: "line one\nline two", to: "n0" } }, index: 0 });
    expect(cells(0).slice(1, 11)).toEqual(["2024-03-10T12:00:00.000000Z", "1", "ada", "192.0.2.1", "req-0", "user.updated", "User changed", "user", "user", "0"]);
    // The raw text: quotes doubled inside a quoted cell, records ended by CRLF.
    expect(res.text).toContain('"He said ""hi"", then left"');
    expect(res.text.startsWith("id,occurred_at,")).toBe(true);
    expect(res.text.endsWith("\r\n")).toBe(true);
  });

  it("applies the filters: only the matching events, in the same order", async () => {
    await insertAuditEvents(db, manyEvents());
    const { agent } = await signedInAdmin();
    const json = await agent.get("/admin/logs/download.json?actor=ADA&category=user&to=2024-03-10+12:10");
    const events = JSON.parse(json.text) as { actorUsername: string; action: string; occurredAt: string; id: number }[];
    // ada acts in every fourth event (i % 4 == 0), all of them user.updated; up to 12:10:59 means i / 3 < 660.
    const expectedCount = Array.from({ length: 2_500 }, (_, i) => i).filter((i) => i % 4 === 0 && Math.floor(i / 3) < 660).length;
    expect(events).toHaveLength(expectedCount);
    expect(new Set(events.map((e) => `${e.actorUsername} ${e.action}`))).toEqual(new Set(["ada user.updated"]));
    const sorted = [...events].sort((a, b) => (a.occurredAt === b.occurredAt ? b.id - a.id : a.occurredAt < b.occurredAt ? 1 : -1));
    expect(events.map((e) => e.id)).toEqual(sorted.map((e) => e.id));

    const csv = await agent.get("/admin/logs/download.csv?q=line+two");
    const rows = parseCsv(csv.text).slice(1);
    // "line one\nline two" is a target label (i % 9 == 1) or a changed value (i % 9 == 0): two in nine events.
    const expectedSearch = Array.from({ length: 2_500 }, (_, i) => i).filter((i) => i % 9 === 1 || i % 9 === 0).length;
    expect(rows).toHaveLength(expectedSearch);
  });

  it("writes no faster than the client reads, and stops producing when the client goes away", async () => {
    let serverResponse: ServerResponse | undefined;
    let produced = 0;
    let pulledWhileFull = 0;
    let generatorClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => {
      generatorClosed = resolve;
    });
    async function* endless(): AsyncGenerator<string> {
      try {
        for (;;) {
          // Asked for more while the socket's buffer is still full: backpressure ignored.
          if (serverResponse?.writableNeedDrain) pulledWhileFull += 1;
          produced += 1;
          yield "x".repeat(65_536);
        }
      } finally {
        generatorClosed();
      }
    }
    const server = createServer((_req, res) => {
      serverResponse = res;
      void streamText(res as unknown as Response, endless(), () => res.setHeader("Content-Type", "text/plain"), silentLogger);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      // A client that takes the headers and then reads nothing.
      const request = httpGet(`http://127.0.0.1:${port}/`);
      await new Promise<void>((resolve, reject) => {
        request.on("response", (response) => {
          response.pause();
          resolve();
        });
        request.on("error", reject);
      });
      // Turn by turn of the event loop (no clock), until the server's buffers are full; then the client hangs up.
      while (!serverResponse?.writableNeedDrain) await new Promise((resolve) => setImmediate(resolve));
      request.on("error", () => undefined);
      request.destroy();
      await closed;
      expect(pulledWhileFull).toBe(0);
      // What the buffers between the two ends hold, not an endless stream.
      expect(produced).toBeLessThan(1_000);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("an empty selection is still a well-formed file", async () => {
    const { agent } = await signedInAdmin();
    const json = await agent.get("/admin/logs/download.json?actor=nobody");
    expect(JSON.parse(json.text)).toEqual([]);
    const csv = await agent.get("/admin/logs/download.csv?actor=nobody");
    expect(parseCsv(csv.text)).toHaveLength(1);
  });
});

describe("log retention", () => {
  async function retentionForm(agent: TestAgent) {
    const page = await agent.get("/admin/logs/retention");
    return { days: inputValue(page.text, "retentionDays"), version: inputValue(page.text, "version") ?? "" };
  }

  it("shows the default of 365 days with its bounds, linked from the Logs", async () => {
    const { agent } = await signedInAdmin();
    const logs = await agent.get("/admin/logs");
    expect(linkHref(logs.text, "Change log retention")).toBe("/admin/logs/retention");
    const page = await agent.get("/admin/logs/retention");
    expect(page.status).toBe(200);
    expect(h1(page.text)).toBe("Log retention");
    expect(page.text).toContain('<label for="retentionDays">Keep log events for (days)</label>');
    expect(await retentionForm(agent)).toEqual({ days: "365", version: "0" });
    expect(pageText(page.text)).toContain("From 30 to 3650 (ten years)");
  });

  it("saving deletes the events older than the new retention at once, keeps the rest, and audits both", async () => {
    const now = Date.now();
    await insertAuditEvents(db, [
      ...Array.from({ length: 7 }, (_, i) => ({ occurredAt: new Date(now - (31 + i) * DAY), action: "user.updated", targetLabel: `old-${i}` })),
      { occurredAt: new Date(now - 29 * DAY), action: "user.updated", targetLabel: "recent" },
    ]);
    const { agent } = await signedInAdmin();
    const { version } = await retentionForm(agent);
    const res = await agent.post("/admin/logs/retention", { retentionDays: "30", version });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/admin/logs");
    const logs = await agent.get("/admin/logs");
    expect(pageText(logs.text)).toContain("Log retention saved. Log events are kept for 30 days. 7 older events were deleted.");
    expect(pageText(logs.text)).toContain("Events are kept for 30 days.");

    const labels = (await listAuditEvents(db, { action: "user.updated" })).map((e) => e.targetLabel);
    expect(labels).toEqual(["recent"]);
    const [saved] = await listAuditEvents(db, { action: "settings.logs_updated" });
    expect(saved).toMatchObject({ actorUsername: "root", targetLabel: "Logs", details: { changes: { retentionDays: { from: 365, to: 30 } } } });
    const [pruned] = await listAuditEvents(db, { action: "audit.pruned" });
    expect(pruned?.actorUsername).toBe("system");
    expect(pruned?.details).toMatchObject({ deleted: 7, retentionDays: 30, reason: "setting saved" });
    const cutoff = Date.parse(pruned?.details.cutoff as string);
    expect(cutoff).toBeGreaterThan(now - 30 * DAY - 60_000);
    expect(cutoff).toBeLessThan(now - 29 * DAY);
    expect(await retentionForm(agent)).toEqual({ days: "30", version: "1" });
  });

  const invalid: [string, RegExp][] = [
    ["", /^Enter Keep log events for \(days\): a whole number of days from 30 to 3650\.$/],
    ["abc", /^Keep log events for \(days\) must be a whole number of days from 30 to 3650; "abc" is not\.$/],
    ["29", /^Keep log events for \(days\) must be a whole number of days from 30 to 3650; "29" is not\.$/],
    ["3651", /must be a whole number of days from 30 to 3650; "3651" is not\.$/],
    ["90.5", /"90\.5" is not\.$/],
  ];
  for (const [typed, message] of invalid) {
    it(`refuses "${typed}" with a 422 naming the field, keeping what was typed`, async () => {
      const { agent } = await signedInAdmin();
      const res = await agent.post("/admin/logs/retention", { retentionDays: typed, version: "0" });
      expect(res.status).toBe(422);
      expect(fieldError(res.text, "retentionDays")).toMatch(message);
      expect(isInvalid(res.text, "retentionDays")).toBe(true);
      expect(errorSummary(res.text)?.links).toEqual(["retentionDays"]);
      expect(inputValue(res.text, "retentionDays")).toBe(typed);
      expect(await listAuditEvents(db, { action: "settings.logs_updated" })).toHaveLength(0);
    });
  }

  it("refuses a save over someone else's (409): their value shown, the typed one kept, the next save applies it", async () => {
    const { agent } = await signedInAdmin();
    const other = await signedInAgent(app, await insertTestAdmin(db, { username: "other" }));
    const mine = await retentionForm(agent);
    expect((await other.post("/admin/logs/retention", { retentionDays: "90", version: "0" })).status).toBe(303);
    const res = await agent.post("/admin/logs/retention", { retentionDays: "400", version: mine.version });
    expect(res.status).toBe(409);
    expect(pageText(res.text)).toContain("Someone else saved the log retention after you opened it.");
    expect(pageText(res.text)).toContain("Now saved: Keep log events for (days): 90.");
    expect(inputValue(res.text, "retentionDays")).toBe("400");
    expect(inputValue(res.text, "version")).toBe("1");
    const again = await agent.post("/admin/logs/retention", { retentionDays: "400", version: "1" });
    expect(again.status).toBe(303);
    expect(await retentionForm(agent)).toEqual({ days: "400", version: "2" });
    expect((await listAuditEvents(db, { action: "settings.logs_updated" })).map((e) => e.details.changes)).toEqual([
      { retentionDays: { from: 90, to: 400 } },
      { retentionDays: { from: 365, to: 90 } },
    ]);
  });

  it("pruning deletes in batches until nothing older is left, and records one event only when it deleted something", async () => {
    const now = new Date();
    await insertAuditEvents(db, [
      ...Array.from({ length: 250 }, (_, i) => ({ occurredAt: new Date(now.getTime() - 400 * DAY - i * 1000), action: "user.updated" })),
      { occurredAt: new Date(now.getTime() - 364 * DAY), action: "team.updated" },
    ]);
    const partial = await pruneAuditEvents(db, { reason: "schedule", now, batchSize: 100, maxBatches: 2 });
    expect(partial).toMatchObject({ deleted: 200, complete: false, retentionDays: 365 });
    const rest = await pruneAuditEvents(db, { reason: "schedule", now, batchSize: 100 });
    expect(rest).toMatchObject({ deleted: 50, complete: true });
    const nothing = await pruneAuditEvents(db, { reason: "schedule", now, batchSize: 100 });
    expect(nothing).toMatchObject({ deleted: 0, complete: true });

    expect(await listAuditEvents(db, { action: "user.updated" })).toHaveLength(0);
    expect(await listAuditEvents(db, { action: "team.updated" })).toHaveLength(1);
    const pruned = await listAuditEvents(db, { action: "audit.pruned" });
    expect(pruned.map((e) => e.details.deleted)).toEqual([50, 200]);
    expect(pruned[0]?.details.cutoff).toBe(new Date(now.getTime() - 365 * DAY).toISOString());
  });

  it("the schedule prunes once as it starts, and stop() waits for that run", async () => {
    await insertAuditEvents(db, [
      { occurredAt: new Date(Date.now() - 400 * DAY), action: "user.updated" },
      { occurredAt: new Date(Date.now() - DAY), action: "team.updated" },
    ]);
    const schedule = new LogRetentionSchedule(db, silentLogger);
    schedule.start();
    await schedule.stop();
    expect(await listAuditEvents(db, { action: "user.updated" })).toHaveLength(0);
    expect(await listAuditEvents(db, { action: "team.updated" })).toHaveLength(1);
    const [pruned] = await listAuditEvents(db, { action: "audit.pruned" });
    expect(pruned?.details).toMatchObject({ deleted: 1, reason: "startup" });
  });
});
