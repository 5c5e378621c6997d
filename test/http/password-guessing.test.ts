import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { signedInAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { buildUser } from "../helpers/factories.ts";

let db: Db;
useTestDb(
  (created) => {
    db = created;
  },
  { reset: "once" },
);

describe("guessing the current password from a signed-in session", () => {
  it("is throttled like sign-in: from the fifth wrong current password the account waits, even for the right one", async () => {
    const user = await buildUser(db, { username: "pat" });
    const agent = await signedInAgent(createTestApp(db), user);
    const attempt = (current: string) =>
      agent.post("/profile/password", { currentPassword: current, newPassword: "a brand new passphrase", confirmPassword: "a brand new passphrase" });

    for (let i = 0; i < 5; i++) expect((await attempt(`wrong guess ${i}`)).status).toBe(422);
    const blocked = await attempt(user.password);
    expect(blocked.status).toBe(429);
    expect(blocked.text).toContain("Too many wrong passwords. Try again in a minute.");

    // When the wait is over, the right password works and clears the counter.
    await db("login_failures").where({ scope: "account", key: "pat" }).update({ blocked_until: db.raw("now() - interval '1 second'") });
    expect((await attempt(user.password)).status).toBe(303);
    expect(await db("login_failures").where({ scope: "account", key: "pat" }).first()).toBeUndefined();
  });
});
