import { Validator } from "@seriousme/openapi-schema-validator";
import supertest from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { createTestApp } from "../helpers/app.ts";
import { createTestDb, resetDb } from "../helpers/db.ts";
import { h1, pageText } from "../helpers/html.ts";
import { insertTestAdmin } from "../helpers/users.ts";

let db: Db;
beforeAll(async () => {
  db = await createTestDb();
  await resetDb(db);
  await insertTestAdmin(db, { username: "root" });
});
afterAll(async () => {
  await db.destroy();
});

describe("the OpenAPI document", () => {
  it("is served without a token and validates against the OpenAPI 3.1 schema", async () => {
    const res = await supertest(createTestApp(db)).get("/api/v1/openapi.json");
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe("3.1.0");
    const validator = new Validator();
    const result = await validator.validate(res.body);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("describes bodies from the same zod schemas the server applies: strict, with their required fields and choices", async () => {
    const { body } = await supertest(createTestApp(db)).get("/api/v1/openapi.json");
    const createUser = body.paths["/users"].post;
    const schema = createUser.requestBody.content["application/json"].schema;
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(["username"]);
    expect(schema.properties.authSource.enum).toEqual(["local", "ldap"]);
    expect(Object.keys(createUser.responses)).toEqual(expect.arrayContaining(["201", "400", "401", "403", "409"]));
    expect(body.paths["/access"].get.parameters.map((p: { name: string; required: boolean }) => [p.name, p.required])).toEqual([
      ["user", true],
      ["system", true],
    ]);
    expect(body.paths["/users"].get.responses["200"].content["application/json"].schema.properties).toHaveProperty("paging");
  });

  it("a document a validator must refuse is refused: the check can fail", async () => {
    const { body } = await supertest(createTestApp(db)).get("/api/v1/openapi.json");
    const broken = structuredClone(body);
    broken.paths["/users"].get.parameters[0] = { name: "q" }; // a parameter must say where it goes (in)
    const result = await new Validator().validate(broken);
    expect(result.valid).toBe(false);
  });
});

describe("the documentation page", () => {
  it("lists every operation with its method, path and who may call it, readable without signing in", async () => {
    const app = createTestApp(db);
    const res = await supertest(app).get("/api/v1/docs").set("Accept", "text/html");
    expect(res.status).toBe(200);
    expect(h1(res.text)).toBe("API documentation");
    const text = pageText(res.text);
    const { body } = await supertest(app).get("/api/v1/openapi.json");
    for (const [path, methods] of Object.entries(body.paths as Record<string, Record<string, unknown>>))
      for (const method of Object.keys(methods)) expect(text).toContain(`${method.toUpperCase()} /api/v1${path}`);
    expect(text).toContain("An administrator's token.");
    expect(text).toContain("Authorization: Bearer");
  });
});
