import type { Express } from "express";
import { beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { h1, pageText, tableRows } from "../helpers/html.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/** Administration → Settings → Signing keys: the list, and "Rotate signing keys" behind its confirmation page. */

let db: Db;
let app: Express;
useTestDb((d) => {
  db = d;
});
beforeEach(() => {
  app = createTestApp(db);
});

const PAGE = "/admin/settings/signing-keys";
const ROTATE = `${PAGE}/rotate`;

function keyCount(): Promise<number> {
  return db("oidc_signing_keys")
    .count<{ count: string }[]>("* as count")
    .then(([row]) => Number(row?.count ?? 0));
}

async function signedInAdmin() {
  const admin = await insertTestAdmin(db, { username: "root" });
  return { admin, agent: await signedInAgent(app, admin) };
}

describe("who may see and rotate the signing keys", () => {
  it("an anonymous visitor is sent to sign in; a non-administrator gets 403 and nothing is made or rotated", async () => {
    const anonymous = new TestAgent(app);
    await insertTestAdmin(db, { username: "root" });
    await anonymous.refreshToken("/login");
    const get = await anonymous.get(PAGE);
    expect(get.status).toBe(303);
    expect(get.headers.location).toBe("/login?returnTo=%2Fadmin%2Fsettings%2Fsigning-keys");
    expect((await anonymous.post(ROTATE)).headers.location).toBe("/login");

    const user = await insertTestUser(db, { username: "pat" });
    const agent = await signedInAgent(app, user);
    for (const url of [PAGE, ROTATE]) expect((await agent.get(url)).status, url).toBe(403);
    expect((await agent.post(ROTATE)).status).toBe(403);
    expect(await keyCount()).toBe(0);
    expect(await listAuditEvents(db, { action: "signing_keys.rotated" })).toEqual([]);
  });

  it("a rotation without the form's CSRF token is refused with 403 and rotates nothing", async () => {
    const { agent } = await signedInAdmin();
    await agent.get(PAGE);
    const before = await db("oidc_signing_keys").select("kid", "retired_at").orderBy("kid");
    const forged = await agent.http.post(ROTATE).set("Accept", "text/html").type("form").send({});
    expect(forged.status).toBe(403);
    expect(await db("oidc_signing_keys").select("kid", "retired_at").orderBy("kid")).toEqual(before);
  });
});

describe("the Signing keys page", () => {
  it("lists the current ES256 and RS256 keys (made if there were none), linked from the settings navigation", async () => {
    const { agent } = await signedInAdmin();
    const page = await agent.get(PAGE);
    expect(page.status).toBe(200);
    expect(h1(page.text)).toBe("Signing keys");
    expect(page.text).toMatch(/<title>Signing keys — Gatehouse<\/title>/);
    expect(page.text).toMatch(/<a href="\/admin\/settings\/signing-keys" aria-current="page">Signing keys<\/a>/);
    const kids = (await db("oidc_signing_keys").orderBy("alg").select("kid")).map((r) => r.kid);
    const rows = tableRows(page.text);
    expect(rows.map((r) => [r[0], r[1], r[3]])).toEqual([
      [kids[0], "ES256", "Current: signs new tokens"],
      [kids[1], "RS256", "Current: signs new tokens"],
    ]);
    expect(rows[0]?.[2]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    expect(pageText(page.text)).toContain("2 keys");
    expect(page.text).toMatch(/<a href="\/admin\/settings\/signing-keys\/rotate" role="button"[^>]*>Rotate signing keys<\/a>/);

    for (const other of ["/admin/settings/general", "/admin/settings/smtp", "/admin/settings/ldap"]) {
      expect((await agent.get(other)).text, other).toMatch(/<a href="\/admin\/settings\/signing-keys">Signing keys<\/a>/);
    }
  });

  it("Rotate signing keys asks first, says old tokens stay valid, then rotates: the old keys are listed as retired until a day later; audited", async () => {
    const { admin, agent } = await signedInAdmin();
    await agent.get(PAGE);
    const old = (await db("oidc_signing_keys").orderBy("alg").select("kid")).map((r) => r.kid);

    const confirm = await agent.get(ROTATE);
    expect(confirm.status).toBe(200);
    expect(h1(confirm.text)).toBe("Rotate the signing keys?");
    expect(pageText(confirm.text)).toContain("tokens they already signed stay valid until they expire, and nobody is signed out");
    expect(pageText(confirm.text)).toContain("stay published for 24 hours");
    expect(confirm.text).toMatch(/<form method="post" action="\/admin\/settings\/signing-keys\/rotate"/);
    expect(confirm.text).toMatch(/<button type="submit">Rotate signing keys<\/button>/);
    expect(confirm.text).toMatch(/<a href="\/admin\/settings\/signing-keys"[^>]*>Cancel<\/a>/);
    // Looking at the question changes nothing.
    expect(await keyCount()).toBe(2);

    await agent.refreshToken(ROTATE);
    const done = await agent.post(ROTATE);
    expect(done.status).toBe(303);
    expect(done.headers.location).toBe(PAGE);
    const page = await agent.get(PAGE);
    const current = (await db("oidc_signing_keys").whereNull("retired_at").orderBy("alg").select("kid")).map((r) => r.kid);
    expect(pageText(page.text)).toContain(`Signing keys rotated: new tokens are signed with ${current[0]} (ES256) and ${current[1]} (RS256).`);
    expect(pageText(page.text)).toMatch(/The previous keys stay published for verification until \d{4}-\d\d-\d\d \d\d:\d\d UTC\./);
    const rows = tableRows(page.text);
    expect(rows.map((r) => r[0])).toEqual([...current, ...old]);
    expect(rows.slice(0, 2).map((r) => r[3])).toEqual(["Current: signs new tokens", "Current: signs new tokens"]);
    const retired = await db("oidc_signing_keys").whereNotNull("retired_at").select("retired_at");
    const until = new Date(new Date(retired[0].retired_at).getTime() + 24 * 3_600_000).toISOString();
    for (const row of rows.slice(2)) expect(row[3]).toBe(`Retired, published until ${until.slice(0, 10)} ${until.slice(11, 16)} UTC`);
    expect(page.text).toContain(`Retired, published until <time datetime="${until}" title="${until}">`);

    const [event] = await listAuditEvents(db, { action: "signing_keys.rotated" });
    expect(event).toMatchObject({ actorId: admin.id, actorUsername: "root", targetLabel: "Signing keys" });
    expect(event?.clientIp).toBeTruthy();
    expect(event?.details).toMatchObject({ created: current.map((kid, i) => ({ kid, alg: ["ES256", "RS256"][i] })) });
    const logs = await agent.get(`/admin/logs?category=signing_keys`);
    expect(pageText(logs.text)).toContain("Signing keys rotated");
  });

  it("shows a retired key past its window as no longer published until it is deleted", async () => {
    const { agent } = await signedInAdmin();
    await agent.get(PAGE);
    await agent.refreshToken(ROTATE);
    await agent.post(ROTATE);
    await db("oidc_signing_keys")
      .whereNotNull("retired_at")
      .update({ retired_at: db.raw("now() - interval '25 hours'"), created_at: db.raw("now() - interval '26 hours'") });
    const rows = tableRows((await agent.get(PAGE)).text);
    expect(rows.map((r) => r[3])).toEqual(["Current: signs new tokens", "Current: signs new tokens", "Retired, no longer published", "Retired, no longer published"]);
  });
});
