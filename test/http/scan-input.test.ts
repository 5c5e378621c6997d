import type { Express } from "express";
import supertest from "supertest";
import { beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { createTestApiToken } from "../helpers/api-tokens.ts";
import { createTestAppWithLog, type LogLine } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { insertTestAdmin } from "../helpers/users.ts";

/**
 * What a vulnerability scanner sends (docs/security.md H1, H2): files that are not there, and JSON in a character
 * set other than UTF-8. Each gets a plain client error; nothing is logged above debug.
 */

let db: Db;
let lines: LogLine[];
let app: Express;

useTestDb((d) => {
  db = d;
});
beforeEach(() => {
  ({ app, lines } = createTestAppWithLog(db, "debug"));
});

/** pino's levels: 20 debug, 30 info, 40 warn, 50 error. */
const aboveDebug = () => lines.filter((l) => l.level > 20);

describe("files that are not there", () => {
  it("answer 404 under /css/pico/ without signing in, and log nothing above debug, for a few hundred of them", async () => {
    const paths = [
      "/css/pico/nonexistent.css",
      "/css/pico/",
      "/css/pico/pico.min.css/inside-a-file",
      "/css/pico/deeper/still/missing.css",
      "/css/pico/.env",
    ];
    const statuses = new Map<string, number>();
    for (let i = 0; i < 300; i += 1) {
      const path = i < paths.length ? (paths[i] as string) : `/css/pico/scan-${i}.css`;
      const res = await supertest(app).get(path);
      statuses.set(path, res.status);
    }
    expect(new Set(statuses.values())).toEqual(new Set([404]));
    expect(aboveDebug()).toEqual([]);
  });

  it("answer 404 under /css/ and /js/ too, before any session or setup redirect, with nothing logged above debug", async () => {
    for (const path of ["/css/nonexistent.css", "/js/nonexistent.js", "/css/", "/js/app.js/x", "/css/pico.min.css"]) {
      const res = await supertest(app).get(path);
      expect(res.status, path).toBe(404);
      expect(res.headers["set-cookie"], path).toBeUndefined();
    }
    expect(aboveDebug()).toEqual([]);
  });

  it("still serve the files that are there", async () => {
    await supertest(app).get("/css/pico/pico.min.css").expect(200).expect("content-type", /text\/css/);
    await supertest(app).get("/css/app.css").expect(200).expect("content-type", /text\/css/);
    await supertest(app).get("/js/app.js").expect(200).expect("content-type", /javascript/);
    expect(aboveDebug()).toEqual([]);
  });

  it("answer a JSON client with a JSON 404", async () => {
    const res = await supertest(app).get("/css/pico/nonexistent.css").set("Accept", "application/json");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: "not_found", message: expect.any(String) } });
  });
});

describe("JSON in a character set other than UTF-8", () => {
  const UTF7_BODY = '{"name":"+ACI-x"}';

  it("is refused with 415 and a JSON error by the API, and nothing is created", async () => {
    const admin = await insertTestAdmin(db, { username: "scanner-admin" });
    const token = await createTestApiToken(db, admin);
    for (const charset of ["utf-7", "UTF-16", "utf-16le", "iso-8859-1", '"utf-7"', "utf8"]) {
      const res = await supertest(app)
        .post("/api/v1/teams")
        .set("Authorization", `Bearer ${token}`)
        .set("Accept", "application/json")
        .set("Content-Type", `application/json; charset=${charset}`)
        .send(UTF7_BODY);
      expect(res.status, charset).toBe(415);
      expect(res.body, charset).toEqual({ error: { code: "unsupported_media_type", message: expect.stringMatching(/UTF-8/) } });
    }
    expect(await db("teams").count<{ count: string }[]>("* as count")).toEqual([{ count: "0" }]);
    expect(aboveDebug().filter((l) => l.msg !== "request completed")).toEqual([]);
  });

  it("is read as before when the charset is UTF-8 or not given", async () => {
    const admin = await insertTestAdmin(db, { username: "scanner-admin2" });
    const token = await createTestApiToken(db, admin);
    for (const [i, type] of ["application/json", "application/json; charset=utf-8", "application/json; charset=UTF-8", 'application/json;charset="utf-8"'].entries()) {
      const res = await supertest(app)
        .post("/api/v1/teams")
        .set("Authorization", `Bearer ${token}`)
        .set("Content-Type", type)
        .send(JSON.stringify({ name: `team-${i}` }));
      expect(res.status, type).toBe(201);
    }
  });

  it("is refused with 415 by the console too (before its CSRF check)", async () => {
    await insertTestAdmin(db, { username: "someone" });
    const res = await supertest(app)
      .post("/login")
      .set("Accept", "application/json")
      .set("Content-Type", "application/json; charset=utf-7")
      .send('{"username":"someone","password":"x"}');
    expect(res.status).toBe(415);
    expect(res.body).toEqual({ error: { code: "unsupported_media_type", message: expect.stringMatching(/UTF-8/) } });
  });
});
