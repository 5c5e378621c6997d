import { Writable } from "node:stream";
import type { Express } from "express";
import pino from "pino";
import supertest from "supertest";
import { beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import type { Db } from "../../src/db/index.ts";
import { TEST_APP_SECRET } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";

/**
 * What a vulnerability scanner sends (docs/security.md H1): files that are not there. Each gets a plain client
 * error; nothing is logged above debug.
 */

interface LogLine {
  level: number;
  msg: string;
}

let db: Db;
let lines: LogLine[];
let app: Express;

useTestDb((d) => {
  db = d;
});
beforeEach(() => {
  lines = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString("utf8").split("\n").filter(Boolean)) lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  const config = loadConfig({ NODE_ENV: "test", LOG_LEVEL: "debug", BASE_URL: "http://127.0.0.1" });
  app = createApp({ config, db, logger: pino({ level: "debug" }, sink), appSecret: TEST_APP_SECRET }).app;
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
