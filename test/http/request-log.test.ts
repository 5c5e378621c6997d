import type { Express } from "express";
import supertest from "supertest";
import { beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { TestAgent } from "../helpers/agent.ts";
import { createTestAppWithLog, type LogLine } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { insertTestUser } from "../helpers/users.ts";

let db: Db;
let lines: LogLine[];
let app: Express;

useTestDb((d) => {
  db = d;
});
beforeEach(() => {
  ({ app, lines } = createTestAppWithLog(db, "info"));
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const completed = () => lines.filter((l) => l.msg === "request completed");

describe("request ids and the request log", () => {
  it("answers each request with its own id and logs one line with method, path (no query string), client address in its IPv4 form, status and time", async () => {
    await insertTestUser(db, { username: "someone" });
    const first = await supertest(app).get("/login?returnTo=%2Fsystems%3Fcode%3D918273");
    const second = await supertest(app).get("/nowhere");
    expect(first.headers["x-request-id"]).toMatch(UUID);
    expect(second.headers["x-request-id"]).toMatch(UUID);
    expect(first.headers["x-request-id"]).not.toBe(second.headers["x-request-id"]);
    expect(completed()).toEqual([
      expect.objectContaining({ level: 30, reqId: first.headers["x-request-id"], req: { method: "GET", path: "/login", ip: "127.0.0.1" }, res: { status: 200 } }),
      expect.objectContaining({ reqId: second.headers["x-request-id"], req: { method: "GET", path: "/nowhere", ip: "127.0.0.1" }, res: { status: 404 } }),
    ]);
    expect(completed()[0]?.responseTime).toEqual(expect.any(Number));
    expect(JSON.stringify(lines)).not.toContain("918273");
  });

  it("does not log health probes", async () => {
    await supertest(app).get("/healthz").expect(200);
    await supertest(app).get("/readyz").expect(200);
    expect(lines).toEqual([]);
  });

  it("records the id of the request in the audit event it wrote", async () => {
    const user = await insertTestUser(db, { username: "auditor" });
    const agent = new TestAgent(app);
    await agent.refreshToken("/login");
    const res = await agent.post("/login", { username: user.username, password: user.password });
    expect(res.status).toBe(303);
    const events = await db("audit_events").select("request_id").where({ action: "sign_in.succeeded" });
    expect(events).toEqual([{ request_id: res.headers["x-request-id"] }]);
  });
});
