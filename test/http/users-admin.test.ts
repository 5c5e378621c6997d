import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { findUserByUsername } from "../../src/repositories/users.ts";
import { createTestApp } from "../helpers/app.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestDb, resetDb } from "../helpers/db.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";

let db: Db;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(async () => {
  await db.destroy();
});
beforeEach(async () => {
  await resetDb(db);
});

describe("POST /admin/users", () => {
  it("sends an anonymous visitor to sign in", async () => {
    await buildAdmin(db);
    const agent = new TestAgent(createTestApp(db));
    const res = await agent.get("/admin/users/new");
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("/login?returnTo=%2Fadmin%2Fusers%2Fnew");
  });

  it("refuses a user with 403", async () => {
    await buildAdmin(db);
    const user = await buildUser(db);
    const agent = await signedInAgent(createTestApp(db), user);
    const res = await agent.post("/admin/users", { username: "mallory", password: "a very long password 1", confirmPassword: "a very long password 1" });
    expect(res.status).toBe(403);
    expect(await findUserByUsername(db, "mallory")).toBeUndefined();
  });

  it("creates the user for an administrator", async () => {
    const admin = await buildAdmin(db);
    const agent = await signedInAgent(createTestApp(db), admin);
    const res = await agent.post("/admin/users", {
      username: "bob",
      fullName: "Bob Builder",
      password: "a very long password 1",
      confirmPassword: "a very long password 1",
    });
    expect(res.status).toBe(303);
    const bob = await findUserByUsername(db, "bob");
    expect(bob?.fullName).toBe("Bob Builder");
    expect(res.headers.location).toBe(`/admin/users/${bob?.id}`);
  });

  it("re-renders with 422 naming the field and keeping the input, never the password", async () => {
    const admin = await buildAdmin(db);
    const agent = await signedInAgent(createTestApp(db), admin);
    const res = await agent.post("/admin/users", {
      username: "carol",
      fullName: "Carol <b>",
      email: "not-an-email",
      password: "short",
      confirmPassword: "short",
    });
    expect(res.status).toBe(422);
    expect(res.text).toContain("Enter an email address like name@example.com.");
    expect(res.text).toContain('value="Carol &lt;b&gt;"');
    expect(res.text).not.toContain('value="short"');
  });
});
