import supertest from "supertest";
import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { digestOfToken, RANDOM_TOKEN } from "../../src/lib/secret-box.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { clientSecretMatches, findOidcClientByClientId } from "../../src/services/oidc-clients.ts";
import { flashText, grant, makeSystem, rowCount } from "../helpers/access.ts";
import { signedInAgent, type TestAgent } from "../helpers/agent.ts";
import { createTestApiToken } from "../helpers/api-tokens.ts";
import { createTestApp } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import { decodeEntities, errorSummary, fieldError, h1, inputValue, isInvalid, labelText, pageText } from "../helpers/html.ts";

let db: Db;
useTestDb((created) => {
  db = created;
});

const URIS = "https://grafana.example.com/login/generic_oauth";

/** The text inside the textarea named `name`, decoded. */
function textareaText(html: string, name: string): string | undefined {
  const match = new RegExp(`<textarea\\b[^>]*\\bname="${name}"[^>]*>([\\s\\S]*?)</textarea>`).exec(html);
  return match ? decodeEntities(match[1] ?? "") : undefined;
}

/** The value of the input with this id (the read-only Client ID and Client secret have no name), decoded. */
function valueById(html: string, id: string): string | undefined {
  const tag = new RegExp(`<input id="${id}"[^>]*>`).exec(html)?.[0];
  const value = tag ? /\bvalue="([^"]*)"/.exec(tag)?.[1] : undefined;
  return value === undefined ? undefined : decodeEntities(value);
}

/** The input with this id is read-only. */
function isReadOnly(html: string, id: string): boolean {
  return /\breadonly\b/.test(new RegExp(`<input id="${id}"[^>]*>`).exec(html)?.[0] ?? "");
}

/** The section "Sign in with Gatehouse" of a system's page, as HTML. */
function signInSection(html: string): string {
  return /<section aria-labelledby="sign-in-heading"[\s\S]*?<\/section>/.exec(html)?.[0] ?? "";
}

async function adminWithSystem() {
  const admin = await buildAdmin(db, { username: "root" });
  const system = await makeSystem(db, { name: "grafana" });
  const app = createTestApp(db);
  const agent = await signedInAgent(app, admin);
  return { admin, system, app, agent };
}

/** Enables sign-in through the form; returns the client id and secret the answer shows. */
async function enable(agent: TestAgent, systemId: number, redirectUris = URIS) {
  const res = await agent.post(`/admin/systems/${systemId}/oidc-client`, { redirectUris });
  expect(res.status).toBe(200);
  return { res, clientId: valueById(res.text, "oidc-client-id") ?? "", clientSecret: valueById(res.text, "oidc-client-secret") ?? "" };
}

async function storedRow(systemId: number) {
  return db("oidc_clients").where({ system_id: systemId }).first<Record<string, unknown> | undefined>();
}

describe("Sign in with Gatehouse on a system's administration page", () => {
  it("off: the section explains it and offers Redirect URIs and Enable sign-in", async () => {
    const { system, agent } = await adminWithSystem();
    const page = await agent.get(`/admin/systems/${system.id}`);
    expect(page.status).toBe(200);
    const section = signInSection(page.text);
    expect(section).toContain('<h2 id="sign-in-heading">Sign in with Gatehouse</h2>');
    expect(labelText(section, "redirectUris")).toBe("Redirect URIs");
    expect(section).toMatch(/<button type="submit">Enable sign-in<\/button>/);
    const text = pageText(section);
    expect(text).toContain("gatehouse_permission");
    expect(text).toContain("http://127.0.0.1/.well-known/openid-configuration");
  });

  it("A20: Enable sign-in shows the Client ID and the Client secret once, read-only; only the secret's digest is stored", async () => {
    const { system, agent } = await adminWithSystem();
    const { res, clientId, clientSecret } = await enable(agent, system.id, ` ${URIS} \n\n${URIS}\r\nhttp://localhost:3000/login/generic_oauth\n`);
    expect(h1(res.text)).toBe("Sign in with Gatehouse enabled for grafana");
    expect(labelText(res.text, "oidc-client-id")).toBe("Client ID");
    expect(labelText(res.text, "oidc-client-secret")).toBe("Client secret");
    expect(isReadOnly(res.text, "oidc-client-id")).toBe(true);
    expect(isReadOnly(res.text, "oidc-client-secret")).toBe(true);
    expect(clientId).toMatch(/^gh-[A-Za-z0-9_-]{22}$/);
    expect(clientSecret).toMatch(RANDOM_TOKEN);
    const text = pageText(res.text);
    expect(text).toContain("it will not be shown again");
    expect(text).toContain("openid profile email groups");
    expect(text).toContain("required, S256");
    expect(text).toContain("client_secret_basic or client_secret_post");
    expect(text).toContain("http://127.0.0.1/.well-known/openid-configuration");
    expect(res.headers["cache-control"]).toBe("no-store");

    const row = await storedRow(system.id);
    expect(row).toMatchObject({ client_id: clientId, secret_digest: digestOfToken(clientSecret), version: 1, secret_rotated_at: null });
    // Trimmed, blank lines dropped, the duplicate once, in the order given.
    expect(row?.redirect_uris).toEqual([URIS, "http://localhost:3000/login/generic_oauth"]);
    expect(JSON.stringify(row)).not.toContain(clientSecret);

    const again = await agent.get(`/admin/systems/${system.id}`);
    const section = signInSection(again.text);
    expect(valueById(section, "oidc-client-id")).toBe(clientId);
    expect(isReadOnly(section, "oidc-client-id")).toBe(true);
    expect(labelText(section, "oidc-client-id")).toBe("Client ID");
    expect(again.text).not.toContain(clientSecret);
    expect(textareaText(section, "redirectUris")).toBe(`${URIS}\nhttp://localhost:3000/login/generic_oauth`);
    expect(section).toMatch(/>Save addresses<\/button>/);
    expect(section).toMatch(/>Rotate secret<\/button>/);
    expect(section).toMatch(/>Disable sign-in<\/button>/);
    expect(section).not.toMatch(/>Enable sign-in<\/button>/);

    const [event] = await listAuditEvents(db, { action: "oidc_client.created" });
    expect(event).toMatchObject({ targetType: "system", targetId: String(system.id), targetLabel: "grafana" });
    expect(event?.details).toEqual({
      clientId,
      changes: { redirectUris: { from: null, to: [URIS, "http://localhost:3000/login/generic_oauth"] }, clientSecret: { from: null, to: "------" } },
    });
    expect(JSON.stringify(event)).not.toContain(clientSecret);
    expect(JSON.stringify(event)).not.toContain(digestOfToken(clientSecret));
  });

  it("the provider's lookup finds the client by its id, and the secret matches by its digest", async () => {
    const { system, agent } = await adminWithSystem();
    const { clientId, clientSecret } = await enable(agent, system.id);
    const client = await findOidcClientByClientId(db, clientId);
    expect(client).toEqual({ clientId, systemId: system.id, systemName: "grafana", secretDigest: digestOfToken(clientSecret), redirectUris: [URIS], backchannelLogoutUri: null });
    expect(clientSecretMatches(client!, clientSecret)).toBe(true);
    expect(clientSecretMatches(client!, `${clientSecret.slice(0, -1)}${clientSecret.endsWith("A") ? "B" : "A"}`)).toBe(false);
    expect(clientSecretMatches(client!, "")).toBe(false);
    expect(clientSecretMatches(client!, undefined)).toBe(false);
    expect(clientSecretMatches(client!, client!.secretDigest)).toBe(false);
    expect(await findOidcClientByClientId(db, "gh-AAAAAAAAAAAAAAAAAAAAAA")).toBeUndefined();
    expect(await findOidcClientByClientId(db, "' OR 1=1 --")).toBeUndefined();
  });

  it("A19: refuses bad redirect URIs, naming the field and keeping what was typed", async () => {
    const { system, agent } = await adminWithSystem();
    const eleven = Array.from({ length: 11 }, (_, i) => `https://app${i}.example.com/cb`).join("\n");
    const refused: [string, RegExp][] = [
      ["http://grafana.example.com/login", /must use https:\/\//],
      ["https://grafana.example.com/login#top", /fragment/],
      ["/login/generic_oauth", /not an absolute address/],
      ["grafana.example.com/login", /not an absolute address/],
      ["com.example.app:/oauth2redirect", /scheme com\.example\.app:/],
      ["javascript:alert(1)", /scheme javascript:/],
      ["https://admin:secret@grafana.example.com/login", /user name or password/],
      ["https:grafana.example.com/login", /must start with https:\/\//],
      ["https://grafana.example.com/log in", /space/],
      ["https://grafana.example.com/café", /outside ASCII/],
      ["http://localhost.evil.example/cb", /must use https:\/\//],
      ["http://127.0.0.1.nip.io/cb", /must use https:\/\//],
      [`https://grafana.example.com/${"a".repeat(2000)}`, /at most 2000 characters/],
      [`${URIS}\nhttp://10.0.0.5/cb`, /must use https:\/\//],
      [eleven, /at most 10; you entered 11/],
      ["  \n ", /enter at least one/],
    ];
    for (const [typed, problem] of refused) {
      const res = await agent.post(`/admin/systems/${system.id}/oidc-client`, { redirectUris: typed });
      expect(res.status, typed).toBe(422);
      expect(fieldError(res.text, "redirectUris"), typed).toMatch(/^Redirect URIs: /);
      expect(fieldError(res.text, "redirectUris"), typed).toMatch(problem);
      expect(isInvalid(res.text, "redirectUris"), typed).toBe(true);
      expect(errorSummary(res.text)?.links, typed).toEqual(["redirectUris"]);
      expect(textareaText(res.text, "redirectUris"), typed).toBe(typed);
      // The details form shows the system as saved.
      expect(inputValue(res.text, "name")).toBe("grafana");
    }
    expect(await rowCount(db, "oidc_clients")).toBe(0);
    expect(await listAuditEvents(db, { action: "oidc_client.created" })).toEqual([]);

    // Loopback may use http: localhost, 127.0.0.0/8 and [::1].
    const { clientId } = await enable(agent, system.id, "http://localhost:3000/cb\nhttp://127.0.0.2:8080/cb\nhttp://[::1]:9000/cb?x=1");
    expect(clientId).toMatch(/^gh-/);
  });

  it("Save addresses replaces the redirect URIs (audited before and after); the same ones again change nothing; a stale form is refused, keeping the text", async () => {
    const { system, agent } = await adminWithSystem();
    const { clientId } = await enable(agent, system.id);
    const saved = await agent.post(`/admin/systems/${system.id}/oidc-client/redirect-uris`, { redirectUris: `${URIS}\nhttps://grafana2.example.com/cb`, version: "1" });
    expect(saved.status).toBe(303);
    expect(saved.headers.location).toBe(`/admin/systems/${system.id}#sign-in`);
    expect(flashText((await agent.get(`/admin/systems/${system.id}`)).text)).toBe("Sign-in addresses of grafana saved.");
    expect((await storedRow(system.id))?.redirect_uris).toEqual([URIS, "https://grafana2.example.com/cb"]);
    const [event] = await listAuditEvents(db, { action: "oidc_client.changed" });
    expect(event?.details).toEqual({ clientId, changes: { redirectUris: { from: [URIS], to: [URIS, "https://grafana2.example.com/cb"] } } });

    const same = await agent.post(`/admin/systems/${system.id}/oidc-client/redirect-uris`, { redirectUris: `${URIS}\nhttps://grafana2.example.com/cb`, version: "2" });
    expect(same.status).toBe(303);
    expect(await listAuditEvents(db, { action: "oidc_client.changed" })).toHaveLength(1);

    // Opened at version 1, saved by someone else since.
    const stale = await agent.post(`/admin/systems/${system.id}/oidc-client/redirect-uris`, { redirectUris: "https://other.example.com/cb", version: "1" });
    expect(stale.status).toBe(409);
    expect(fieldError(stale.text, "redirectUris")).toContain("Someone else changed this sign-in's addresses");
    expect(textareaText(stale.text, "redirectUris")).toBe("https://other.example.com/cb");
    expect(/name="version" value="2"/.test(signInSection(stale.text))).toBe(true);

    const bad = await agent.post(`/admin/systems/${system.id}/oidc-client/redirect-uris`, { redirectUris: "http://grafana.example.com/cb", version: "2" });
    expect(bad.status).toBe(422);
    expect(fieldError(bad.text, "redirectUris")).toMatch(/^Redirect URIs: .*must use https/);
    expect(textareaText(bad.text, "redirectUris")).toBe("http://grafana.example.com/cb");
    expect((await storedRow(system.id))?.redirect_uris).toEqual([URIS, "https://grafana2.example.com/cb"]);
  });

  it("Back-channel logout URI: optional on enabling and saving, checked like a redirect URI, kept when wrong, audited when changed", async () => {
    const { system, agent } = await adminWithSystem();
    const wrong = await agent.post(`/admin/systems/${system.id}/oidc-client`, { redirectUris: URIS, backchannelLogoutUri: "http://grafana.example.com/logout" });
    expect(wrong.status).toBe(422);
    expect(fieldError(wrong.text, "backchannelLogoutUri")).toMatch(/^Back-channel logout URI: .*must use https/);
    expect(labelText(signInSection(wrong.text), "backchannelLogoutUri")).toBe("Back-channel logout URI");
    expect(valueById(wrong.text, "backchannelLogoutUri")).toBe("http://grafana.example.com/logout");
    expect(textareaText(wrong.text, "redirectUris")).toBe(URIS);
    expect(await rowCount(db, "oidc_clients")).toBe(0);

    const made = await agent.post(`/admin/systems/${system.id}/oidc-client`, { redirectUris: URIS, backchannelLogoutUri: " https://grafana.example.com/logout " });
    expect(made.status).toBe(200);
    expect(pageText(made.text)).toContain("Back-channel logout URI https://grafana.example.com/logout");
    expect((await storedRow(system.id))?.backchannel_logout_uri).toBe("https://grafana.example.com/logout");
    const [created] = await listAuditEvents(db, { action: "oidc_client.created" });
    expect(created?.details).toMatchObject({ changes: { backchannelLogoutUri: { from: null, to: "https://grafana.example.com/logout" } } });
    expect(valueById((await agent.get(`/admin/systems/${system.id}`)).text, "backchannelLogoutUri")).toBe("https://grafana.example.com/logout");

    const cleared = await agent.post(`/admin/systems/${system.id}/oidc-client/redirect-uris`, { redirectUris: URIS, backchannelLogoutUri: "", version: "1" });
    expect(cleared.status).toBe(303);
    expect((await storedRow(system.id))?.backchannel_logout_uri).toBeNull();
    const [changed] = await listAuditEvents(db, { action: "oidc_client.changed" });
    expect(changed?.details).toEqual({
      clientId: expect.any(String),
      changes: { backchannelLogoutUri: { from: "https://grafana.example.com/logout", to: null } },
    });
  });

  it("Enable sign-in a second time (another tab, a double click) makes no second client and says how to get a secret", async () => {
    const { system, agent } = await adminWithSystem();
    const { clientId } = await enable(agent, system.id);
    const again = await agent.post(`/admin/systems/${system.id}/oidc-client`, { redirectUris: "https://other.example.com/cb" });
    expect(again.status).toBe(409);
    expect(fieldError(again.text, "redirectUris")).toContain("already enabled");
    expect(fieldError(again.text, "redirectUris")).toContain("Rotate secret");
    expect(textareaText(again.text, "redirectUris")).toBe("https://other.example.com/cb");
    expect(await rowCount(db, "oidc_clients")).toBe(1);
    expect((await storedRow(system.id))?.client_id).toBe(clientId);
  });

  it("Enable sign-in sent twice at the same moment: one client, one event; the other answer says it is already on", async () => {
    const { system, agent } = await adminWithSystem();
    await agent.refreshToken(`/admin/systems/${system.id}`);
    const answers = await Promise.all([0, 1].map(() => agent.post(`/admin/systems/${system.id}/oidc-client`, { redirectUris: URIS })));
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
    const shown = answers.find((r) => r.status === 200)!;
    expect(valueById(shown.text, "oidc-client-id")).toBe((await storedRow(system.id))?.client_id);
    expect(fieldError(answers.find((r) => r.status === 409)!.text, "redirectUris")).toContain("already enabled");
    expect(await rowCount(db, "oidc_clients")).toBe(1);
    expect(await listAuditEvents(db, { action: "oidc_client.created" })).toHaveLength(1);
  });

  it("Rotate secret asks first, then shows a new secret once; the old one no longer matches", async () => {
    const { system, agent } = await adminWithSystem();
    const { clientId, clientSecret: old } = await enable(agent, system.id);
    const confirm = await agent.get(`/admin/systems/${system.id}/oidc-client/rotate`);
    expect(confirm.status).toBe(200);
    expect(h1(confirm.text)).toBe("Rotate the client secret of grafana?");
    expect(confirm.text).toMatch(/<button type="submit" class="danger">Rotate secret<\/button>/);
    expect(await storedRow(system.id)).toMatchObject({ secret_digest: digestOfToken(old) });

    const rotated = await agent.post(`/admin/systems/${system.id}/oidc-client/rotate`);
    expect(rotated.status).toBe(200);
    expect(h1(rotated.text)).toBe("New client secret for grafana");
    const fresh = valueById(rotated.text, "oidc-client-secret") ?? "";
    expect(fresh).toMatch(RANDOM_TOKEN);
    expect(fresh).not.toBe(old);
    expect(valueById(rotated.text, "oidc-client-id")).toBe(clientId);
    expect(pageText(rotated.text)).toContain("The old secret no longer works");

    const client = await findOidcClientByClientId(db, clientId);
    expect(clientSecretMatches(client!, fresh)).toBe(true);
    expect(clientSecretMatches(client!, old)).toBe(false);
    const row = await storedRow(system.id);
    expect(row?.secret_rotated_at).not.toBeNull();
    expect(row?.version).toBe(2);
    const [event] = await listAuditEvents(db, { action: "oidc_client.secret_rotated" });
    expect(event).toMatchObject({ targetId: String(system.id), details: { clientId, changes: { clientSecret: { from: "------", to: "------" } } } });
    expect(JSON.stringify(event)).not.toContain(fresh);
    expect((await agent.get(`/admin/systems/${system.id}`)).text).not.toContain(fresh);
  });

  it("Disable sign-in asks first, then deletes the client; enabling again makes another client", async () => {
    const { system, agent } = await adminWithSystem();
    const { clientId } = await enable(agent, system.id);
    const confirm = await agent.get(`/admin/systems/${system.id}/oidc-client/disable`);
    expect(h1(confirm.text)).toBe("Disable sign-in with Gatehouse for grafana?");
    expect(pageText(confirm.text)).toContain(clientId);
    expect(confirm.text).toMatch(/<button type="submit" class="danger">Disable sign-in<\/button>/);

    const disabled = await agent.post(`/admin/systems/${system.id}/oidc-client/disable`);
    expect(disabled.status).toBe(303);
    const page = await agent.get(`/admin/systems/${system.id}`);
    expect(flashText(page.text)).toBe(`Sign in with Gatehouse disabled for grafana: client ${clientId} deleted.`);
    expect(signInSection(page.text)).toMatch(/>Enable sign-in<\/button>/);
    expect(await rowCount(db, "oidc_clients")).toBe(0);
    expect(await findOidcClientByClientId(db, clientId)).toBeUndefined();
    const [event] = await listAuditEvents(db, { action: "oidc_client.disabled" });
    expect(event?.details).toEqual({ clientId, changes: { redirectUris: { from: [URIS], to: null }, clientSecret: { from: "------", to: null } } });

    // Twice: nothing more happens. The confirmation page of a client that is gone leads back.
    expect((await agent.post(`/admin/systems/${system.id}/oidc-client/disable`)).status).toBe(303);
    expect(flashText((await agent.get(`/admin/systems/${system.id}`)).text)).toBe("Sign in with Gatehouse was already off for grafana.");
    expect(await listAuditEvents(db, { action: "oidc_client.disabled" })).toHaveLength(1);
    const gone = await agent.get(`/admin/systems/${system.id}/oidc-client/rotate`);
    expect(gone.status).toBe(303);
    expect(flashText((await agent.get(`/admin/systems/${system.id}`)).text)).toBe("Sign in with Gatehouse is not enabled for grafana.");
    expect((await agent.post(`/admin/systems/${system.id}/oidc-client/rotate`)).status).toBe(404);

    const second = await enable(agent, system.id);
    expect(second.clientId).not.toBe(clientId);
  });

  it("deleting the system deletes its client, and the deletion's event names it", async () => {
    const { system, agent } = await adminWithSystem();
    const { clientId } = await enable(agent, system.id);
    expect((await agent.post(`/admin/systems/${system.id}/delete`, { version: String(system.version) })).status).toBe(303);
    expect(await rowCount(db, "oidc_clients")).toBe(0);
    const [event] = await listAuditEvents(db, { action: "system.deleted" });
    expect(event?.details).toMatchObject({ oidcClientId: clientId });
  });

  it("is the administrators' alone: a user with read/write on the system gets 403; an unknown system is 404", async () => {
    const { system, agent, app } = await adminWithSystem();
    await enable(agent, system.id);
    const writer = await buildUser(db, { username: "writer" });
    await grant(db, { kind: "user", id: writer.id }, { kind: "system", id: system.id }, "read/write");
    const writerAgent = await signedInAgent(app, writer);
    expect((await writerAgent.get(`/admin/systems/${system.id}`)).status).toBe(403);
    for (const path of ["oidc-client", "oidc-client/redirect-uris", "oidc-client/rotate", "oidc-client/disable"]) {
      const res = await writerAgent.post(`/admin/systems/${system.id}/${path}`, { redirectUris: URIS, version: "1" });
      expect(res.status, path).toBe(403);
    }
    // The system's own page shows the writer nothing of the client.
    const own = await writerAgent.get(`/systems/${system.id}`);
    expect(own.status).toBe(200);
    expect(own.text).not.toContain("gh-");
    expect(await rowCount(db, "oidc_clients")).toBe(1);
    expect((await storedRow(system.id))?.version).toBe(1);

    expect((await agent.post("/admin/systems/999999/oidc-client", { redirectUris: URIS })).status).toBe(404);
    expect((await agent.get("/admin/systems/999999/oidc-client/rotate")).status).toBe(404);
  });

  it("every form needs the session's CSRF token", async () => {
    const { system, agent } = await adminWithSystem();
    const forged = (path: string) =>
      agent.http.post(`/admin/systems/${system.id}/${path}`).set("Accept", "text/html").type("form").send({ redirectUris: URIS, version: "1" });
    expect((await forged("oidc-client")).status).toBe(403);
    expect(await rowCount(db, "oidc_clients")).toBe(0);
    await enable(agent, system.id);
    for (const path of ["oidc-client/redirect-uris", "oidc-client/rotate", "oidc-client/disable"]) expect((await forged(path)).status, path).toBe(403);
    expect((await storedRow(system.id))?.version).toBe(1);
  });
});

describe("Sign in with Gatehouse through the API", () => {
  it("PUT enables (201, the secret once) and changes (200, no secret); GET reads; POST …/secret rotates; DELETE disables; all audited", async () => {
    const admin = await buildAdmin(db, { username: "root" });
    const system = await makeSystem(db, { name: "grafana" });
    const app = createTestApp(db);
    const token = await createTestApiToken(db, admin);
    const api = supertest(app);
    const path = `/api/v1/systems/${system.id}/oidc-client`;
    const auth = { Authorization: `Bearer ${token}` };

    expect((await api.get(path).set(auth)).status).toBe(404);

    const created = await api.put(path).set(auth).send({ redirectUris: [` ${URIS} `, URIS] });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(path);
    expect(created.body).toEqual({
      clientId: expect.stringMatching(/^gh-[A-Za-z0-9_-]{22}$/),
      clientSecret: expect.stringMatching(RANDOM_TOKEN),
      redirectUris: [URIS],
      backchannelLogoutUri: null,
      issuer: "http://127.0.0.1",
      createdAt: expect.any(String),
      secretRotatedAt: null,
    });
    const { clientId, clientSecret } = created.body as { clientId: string; clientSecret: string };
    expect((await storedRow(system.id))?.secret_digest).toBe(digestOfToken(clientSecret));

    const read = await api.get(path).set(auth);
    expect(read.status).toBe(200);
    expect(read.body).toEqual({ clientId, redirectUris: [URIS], backchannelLogoutUri: null, issuer: "http://127.0.0.1", createdAt: created.body.createdAt, secretRotatedAt: null });

    const changed = await api.put(path).set(auth).send({ redirectUris: ["https://grafana.example.com/cb", "http://127.0.0.1:3000/cb"] });
    expect(changed.status).toBe(200);
    expect(changed.body).not.toHaveProperty("clientSecret");
    expect(changed.body).toMatchObject({ clientId, redirectUris: ["https://grafana.example.com/cb", "http://127.0.0.1:3000/cb"] });

    const withLogout = await api.put(path).set(auth).send({ redirectUris: [URIS], backchannelLogoutUri: "https://grafana.example.com/logout" });
    expect(withLogout.body.backchannelLogoutUri).toBe("https://grafana.example.com/logout");
    const kept = await api.put(path).set(auth).send({ redirectUris: [URIS] });
    expect(kept.body.backchannelLogoutUri).toBe("https://grafana.example.com/logout");
    const badLogout = await api.put(path).set(auth).send({ redirectUris: [URIS], backchannelLogoutUri: "javascript:alert(1)" });
    expect(badLogout.status).toBe(400);
    expect(badLogout.body.error.fields.backchannelLogoutUri).toMatch(/^Back-channel logout URI: /);
    const none = await api.put(path).set(auth).send({ redirectUris: [URIS], backchannelLogoutUri: null });
    expect(none.body.backchannelLogoutUri).toBeNull();

    const rotated = await api.post(`${path}/secret`).set(auth);
    expect(rotated.status).toBe(200);
    expect(rotated.body.clientSecret).toMatch(RANDOM_TOKEN);
    expect(rotated.body.secretRotatedAt).toEqual(expect.any(String));
    const client = await findOidcClientByClientId(db, clientId);
    expect(clientSecretMatches(client!, rotated.body.clientSecret)).toBe(true);
    expect(clientSecretMatches(client!, clientSecret)).toBe(false);

    expect((await api.delete(path).set(auth)).status).toBe(204);
    expect((await api.get(path).set(auth)).status).toBe(404);
    expect((await api.delete(path).set(auth)).status).toBe(204);
    expect((await api.post(`${path}/secret`).set(auth)).status).toBe(404);

    const actions = (await listAuditEvents(db, { limit: 1000 })).map((e) => e.action).filter((a) => a.startsWith("oidc_client."));
    expect(actions.reverse()).toEqual(["oidc_client.created", "oidc_client.changed", "oidc_client.changed", "oidc_client.changed", "oidc_client.secret_rotated", "oidc_client.disabled"]);
    const [viaApi] = await listAuditEvents(db, { action: "oidc_client.created" });
    expect(viaApi?.details).toHaveProperty("viaApiToken");
  });

  it("bad redirect URIs are a 400 naming redirectUris; other tokens and unknown systems are refused", async () => {
    const admin = await buildAdmin(db, { username: "root" });
    const writer = await buildUser(db, { username: "writer" });
    const system = await makeSystem(db, { name: "grafana" });
    await grant(db, { kind: "user", id: writer.id }, { kind: "system", id: system.id }, "read/write");
    const api = supertest(createTestApp(db));
    const adminAuth = { Authorization: `Bearer ${await createTestApiToken(db, admin)}` };
    const writerAuth = { Authorization: `Bearer ${await createTestApiToken(db, writer)}` };
    const path = `/api/v1/systems/${system.id}/oidc-client`;

    for (const redirectUris of [["http://grafana.example.com/cb"], ["https://grafana.example.com/cb#x"], ["myapp://cb"], [], Array.from({ length: 11 }, (_, i) => `https://a${i}.example.com/`)]) {
      const res = await api.put(path).set(adminAuth).send({ redirectUris });
      expect(res.status, JSON.stringify(redirectUris)).toBe(400);
      expect(res.body.error.code).toBe("validation_failed");
      expect(res.body.error.fields.redirectUris).toMatch(/^Redirect URIs: /);
    }
    for (const body of [{}, { redirectUris: "https://grafana.example.com/cb" }, { redirectUris: [42] }, { redirectUris: [URIS], extra: true }]) {
      const res = await api.put(path).set(adminAuth).send(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect(await rowCount(db, "oidc_clients")).toBe(0);

    expect((await api.put(path).set(writerAuth).send({ redirectUris: [URIS] })).status).toBe(403);
    expect((await api.get(path).set(writerAuth)).status).toBe(403);
    expect((await api.put(path).send({ redirectUris: [URIS] })).status).toBe(401);
    const missing = await api.put("/api/v1/systems/999999/oidc-client").set(adminAuth).send({ redirectUris: [URIS] });
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toBe("There is no such system.");
    expect(await rowCount(db, "oidc_clients")).toBe(0);
  });

  it("the OpenAPI document describes the four operations", async () => {
    const { body } = await supertest(createTestApp(db)).get("/api/v1/openapi.json");
    const ops = body.paths["/systems/{id}/oidc-client"];
    expect(Object.keys(ops).sort()).toEqual(["delete", "get", "put"]);
    expect(Object.keys(ops.put.responses)).toEqual(expect.arrayContaining(["200", "201", "400", "403", "404"]));
    expect(ops.put.responses["201"].content["application/json"].schema.required).toContain("clientSecret");
    expect(ops.put.requestBody.content["application/json"].schema.required).toEqual(["redirectUris"]);
    expect(body.paths["/systems/{id}/oidc-client/secret"].post.operationId).toBe("rotateSystemOidcClientSecret");
  });
});
