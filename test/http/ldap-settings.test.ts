import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Express } from "express";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import {
  addLdapServer,
  directoryServers,
  type LdapServerInput,
  listLdapDefaultTeams,
  listLdapGroupMappings,
  listLdapServers,
  readLdapOptions,
  saveLdapOptions,
} from "../../src/services/ldap-settings.ts";
import { createTeam } from "../../src/services/teams.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { errorSummary, fieldError, h1, inputTag, inputValue, isInvalid, labelText, pageText, tableRows } from "../helpers/html.ts";
import { skipLdapTests, TestDirectory } from "../helpers/ldap.ts";
import { testKeys } from "../helpers/mail.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

let db: Db;
let app: Express;

useTestDb((d) => {
  db = d;
});

beforeEach(() => {
  app = createTestApp(db);
});

const LDAP = "/admin/settings/ldap";
const BIND_PASSWORD = "Bind-Secret-Hunter2!";
const UNREACHABLE = "ldap://127.0.0.1:1";

/** A real self-signed certificate (and its key) for the CA certificate field. */
let pem: { cert: string; key: string };
let certDir: string;
beforeAll(() => {
  certDir = mkdtempSync(path.join(tmpdir(), "gatehouse-ldap-pem-"));
  const cert = path.join(certDir, "ca.pem");
  const key = path.join(certDir, "ca.key");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=Gatehouse Test CA", "-days", "2"],
    { stdio: "ignore" },
  );
  pem = { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") };
});
afterAll(() => {
  rmSync(certDir, { recursive: true, force: true });
});

async function signedInAdmin() {
  const admin = await insertTestAdmin(db, { username: "root" });
  const agent = await signedInAgent(app, admin);
  return { admin, agent };
}

/** The server form as a browser sends it (unticked boxes are simply absent). */
function serverForm(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const form: Record<string, string | undefined> = {
    url: "ldap://ldap.example.test:389",
    startTls: "on",
    caCertificate: "",
    verifyCertificate: "on",
    baseDn: "dc=example,dc=test",
    groupSearchBase: "",
    userIdField: "uid",
    groupIdField: "cn",
    bindDn: "cn=gatehouse,ou=services,dc=example,dc=test",
    bindPassword: "",
    emailAttribute: "mail",
    fullNameAttribute: "cn",
    testUsername: "",
    ...overrides,
  };
  return Object.fromEntries(Object.entries(form).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

function serverInput(overrides: Partial<LdapServerInput> = {}): LdapServerInput {
  return {
    url: "ldap://ldap.example.test:389",
    startTls: true,
    caCertificate: "",
    verifyCertificate: true,
    baseDn: "dc=example,dc=test",
    groupSearchBase: "",
    userIdField: "uid",
    groupIdField: "cn",
    bindDn: "",
    bindPassword: undefined,
    removeBindPassword: false,
    emailAttribute: "mail",
    fullNameAttribute: "cn",
    ...overrides,
  };
}

async function follow(agent: TestAgent, res: { status: number; headers: Record<string, string> }) {
  expect(res.status).toBe(303);
  return agent.get(res.headers.location ?? "/");
}

/** The accessible name of the button or link whose aria-label starts with `start`. */
function hasControl(html: string, label: string): boolean {
  return html.includes(`aria-label="${label.replace(/&/g, "&amp;").replace(/"/g, "&#34;").replace(/</g, "&lt;").replace(/>/g, "&gt;")}"`);
}

async function serverRow(id: number): Promise<Record<string, unknown>> {
  return (await db("ldap_servers").where({ id }).first()) as Record<string, unknown>;
}

describe("who may open the LDAP settings", () => {
  it("an anonymous visitor is sent to sign in; a non-administrator gets 403 and changes nothing", async () => {
    await insertTestAdmin(db, { username: "root" });
    const server = await addLdapServer(db, SYSTEM_ACTOR, testKeys, serverInput());
    const team = await createTeam(db, SYSTEM_ACTOR, { name: "storage", description: "" });

    const anonymous = new TestAgent(app);
    await anonymous.refreshToken("/login");
    const get = await anonymous.get(LDAP);
    expect(get.status).toBe(303);
    expect(get.headers.location).toBe("/login?returnTo=%2Fadmin%2Fsettings%2Fldap");
    const post = await anonymous.post(`${LDAP}/servers`, serverForm());
    expect(post.status).toBe(303);
    expect(post.headers.location).toBe("/login");

    const user = await insertTestUser(db, { username: "pat" });
    const agent = await signedInAgent(app, user);
    for (const url of [LDAP, `${LDAP}/servers/new`, `${LDAP}/servers/${server.id}`, `${LDAP}/servers/${server.id}/test`, `${LDAP}/servers/${server.id}/remove`]) {
      expect((await agent.get(url)).status, url).toBe(403);
    }
    for (const [url, body] of [
      [LDAP, { version: "0", allowUserCreation: "on" }],
      [`${LDAP}/servers`, serverForm()],
      [`${LDAP}/servers/new/test`, serverForm({ url: UNREACHABLE })],
      [`${LDAP}/servers/${server.id}`, serverForm({ version: "1" })],
      [`${LDAP}/servers/${server.id}/test`, { testUsername: "" }],
      [`${LDAP}/servers/${server.id}/move`, { direction: "down" }],
      [`${LDAP}/servers/${server.id}/remove`, {}],
      [`${LDAP}/default-teams`, { teamId: String(team.id) }],
      [`${LDAP}/mappings`, { groupName: "operators", teamIds: String(team.id) }],
    ] as const) {
      expect((await agent.post(url, body)).status, url).toBe(403);
    }
    expect(await listLdapServers(db)).toHaveLength(1);
    expect((await readLdapOptions(db)).value.allowUserCreation).toBe(false);
    expect(await listLdapDefaultTeams(db)).toEqual([]);
    expect(await listLdapGroupMappings(db)).toEqual([]);
  });
});

describe("the LDAP page", () => {
  it("starts empty: the four sections, the empty states, LDAP in the settings menu", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.get(LDAP);
    expect(res.status).toBe(200);
    expect(h1(res.text)).toBe("LDAP");
    expect(res.text).toContain("<title>LDAP — Gatehouse</title>");
    expect(res.text).toMatch(/<a href="\/admin\/settings\/ldap" aria-current="page">LDAP<\/a>/);
    const text = pageText(res.text);
    for (const heading of ["LDAP Servers", "Configuration", "LDAP Default Teams", "LDAP Group Mappings"]) expect(text).toContain(heading);
    expect(text).toContain("No LDAP server yet");
    expect(text).toContain("No default teams");
    expect(text).toContain("No group mappings yet");
    expect(text).toContain("There are no teams yet.");
    expect(res.text).toMatch(/<a href="\/admin\/settings\/ldap\/servers\/new" class="button">Add LDAP server<\/a>/);
    expect(labelText(res.text, "allowUserCreation")).toBe("Allow LDAP user creation");
    expect(labelText(res.text, "removeUnmappedTeams")).toBe("Remove mapped teams the directory no longer lists");
    expect(inputTag(res.text, "allowUserCreation")).not.toMatch(/checked/);
    expect(inputTag(res.text, "removeUnmappedTeams")).not.toMatch(/checked/);
    expect(inputValue(res.text, "version")).toBe("0");
    expect(text).toMatch(/only accounts that already exist in Gatehouse can sign in with LDAP/);
    expect(text).toMatch(/never an administrator/);
    expect(text).toMatch(/Off by default/);
    expect(res.text).toContain(">Save changes</button>");

    // The other settings pages list LDAP too.
    const smtp = await agent.get("/admin/settings/smtp");
    expect(smtp.text).toMatch(/<a href="\/admin\/settings\/ldap">LDAP<\/a>/);
  });
});

describe("LDAP servers", () => {
  it("the new-server form has the labels and the defaults", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.get(`${LDAP}/servers/new`);
    expect(res.status).toBe(200);
    expect(h1(res.text)).toBe("Add LDAP server");
    const labels: Record<string, string> = {
      url: "URL",
      startTls: "StartTLS",
      caCertificate: "CA certificate (PEM)",
      verifyCertificate: "Verify certificate",
      baseDn: "Domain",
      groupSearchBase: "Group Search Domain",
      userIdField: "User ID Field",
      groupIdField: "Group ID Field",
      bindDn: "Bind DN",
      bindPassword: "Bind password",
      emailAttribute: "Email attribute",
      fullNameAttribute: "Full name attribute",
      testUsername: "Test username",
    };
    for (const [id, label] of Object.entries(labels)) expect(labelText(res.text, id), id).toBe(label);
    expect(inputValue(res.text, "userIdField")).toBe("uid");
    expect(inputValue(res.text, "groupIdField")).toBe("cn");
    expect(inputValue(res.text, "emailAttribute")).toBe("mail");
    expect(inputValue(res.text, "fullNameAttribute")).toBe("cn");
    expect(inputTag(res.text, "verifyCertificate")).toMatch(/checked/);
    expect(inputTag(res.text, "startTls")).not.toMatch(/checked/);
    expect(inputTag(res.text, "bindPassword")).toMatch(/type="password"/);
    expect(res.text).not.toContain("Remove the stored bind password");
    const text = pageText(res.text);
    expect(text).toContain("ldap://host:389 or ldaps://host:636");
    expect(text).toContain("dc=example,dc=com");
    expect(text).toMatch(/Empty: anonymous search/);
    expect(text).toMatch(/anyone on the network can impersonate the directory/);
    expect(res.text).toContain(">Add LDAP server</button>");
    expect(res.text).toMatch(/formaction="\/admin\/settings\/ldap\/servers\/new\/test">Test LDAP config<\/button>/);
  });

  it("adds a server: listed with its TLS state, bind password sealed and never on a page, audited with it masked", async () => {
    const { agent } = await signedInAdmin();
    const add = await agent.post(`${LDAP}/servers`, serverForm({ bindPassword: BIND_PASSWORD, caCertificate: pem.cert }));
    const page = await follow(agent, add);
    expect(pageText(page.text)).toContain("LDAP server ldap://ldap.example.test:389 added. Use Test LDAP config to check it.");
    const rows = tableRows(page.text);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.slice(0, 5)).toEqual(["1", "ldap://ldap.example.test:389", "dc=example,dc=test", "StartTLS", "On"]);
    const [server] = await listLdapServers(db);
    expect(server).toMatchObject({ url: "ldap://ldap.example.test:389", startTls: true, verifyCertificate: true, hasBindPassword: true, version: 1 });
    expect(server?.caCertificate).toContain("-----BEGIN CERTIFICATE-----");
    const id = server?.id as number;
    for (const label of [`Edit ldap://ldap.example.test:389`, `Test LDAP config ldap://ldap.example.test:389`, `Remove LDAP server ldap://ldap.example.test:389`]) {
      expect(hasControl(page.text, label), label).toBe(true);
    }
    // A single server has no Move buttons.
    expect(page.text).not.toContain(">Move up</button>");

    const row = await serverRow(id);
    expect(typeof row.bind_password).toBe("string");
    expect(JSON.stringify(row)).not.toContain(BIND_PASSWORD);
    expect((await directoryServers(db, testKeys))[0]?.bindPassword).toBe(BIND_PASSWORD);

    const edit = await agent.get(`${LDAP}/servers/${id}`);
    expect(edit.status).toBe(200);
    expect(edit.text).not.toContain(BIND_PASSWORD);
    expect(inputValue(edit.text, "bindPassword")).toBeUndefined();
    expect(inputValue(edit.text, "url")).toBe("ldap://ldap.example.test:389");
    expect(inputValue(edit.text, "version")).toBe("1");
    expect(pageText(edit.text)).toContain("A bind password is stored; leave blank to keep it.");
    expect(labelText(edit.text, "removeBindPassword")).toBe("Remove the stored bind password");
    expect(edit.text).toContain(">Save changes</button>");

    const [event] = await listAuditEvents(db, { action: "settings.ldap_server_added" });
    expect(event?.actorUsername).toBe("root");
    expect(event?.details).toMatchObject({ changes: { url: { to: "ldap://ldap.example.test:389" }, bindPassword: { to: "------" } } });
    expect(JSON.stringify(await listAuditEvents(db, { limit: 1000 }))).not.toContain(BIND_PASSWORD);
  });

  it("shows plain ldap:// without StartTLS, and unverified certificates, as warnings in words", async () => {
    const { agent } = await signedInAdmin();
    await addLdapServer(db, SYSTEM_ACTOR, testKeys, serverInput({ url: "ldap://plain.example.test", startTls: false }));
    await addLdapServer(db, SYSTEM_ACTOR, testKeys, serverInput({ url: "ldaps://secure.example.test:636", startTls: false, verifyCertificate: false }));
    const page = await agent.get(LDAP);
    const rows = tableRows(page.text);
    expect(rows[0]?.slice(0, 5)).toEqual(["1", "ldap://plain.example.test", "dc=example,dc=test", "⚠ None — passwords in clear", "Not used (no TLS)"]);
    expect(rows[1]?.slice(0, 5)).toEqual(["2", "ldaps://secure.example.test:636", "dc=example,dc=test", "LDAPS", "⚠ Off — not verified"]);
    expect(page.text.match(/class="ldap-warning"/g)).toHaveLength(2);

    const plain = (await listLdapServers(db))[0]?.id;
    const edit = await agent.get(`${LDAP}/servers/${plain}`);
    expect(pageText(edit.text)).toMatch(/Warning: with an ldap:\/\/ URL and no StartTLS/);
  });

  it("edits: a blank Bind password keeps the stored one, a new one replaces it, the checkbox removes it; all audited", async () => {
    const { agent } = await signedInAdmin();
    const server = await addLdapServer(db, SYSTEM_ACTOR, testKeys, serverInput({ bindDn: "cn=gatehouse,ou=services,dc=example,dc=test", bindPassword: BIND_PASSWORD }));
    const url = `${LDAP}/servers/${server.id}`;

    // The stored password goes only to the server and account it was saved for: a new URL or Bind DN needs it again.
    for (const elsewhere of [{ url: "ldap://collector.example.net:389" }, { bindDn: "cn=someone-else,dc=example,dc=test" }]) {
      const refused = await agent.post(url, serverForm({ version: "1", ...elsewhere }));
      expect(refused.status).toBe(422);
      expect(pageText(refused.text)).toContain("Type the Bind password again");
    }

    const keep = await agent.post(url, serverForm({ version: "1", userIdField: "sAMAccountName", groupSearchBase: "ou=groups,dc=example,dc=test" }));
    expect(pageText((await follow(agent, keep)).text)).toContain("LDAP server ldap://ldap.example.test:389 saved.");
    expect((await directoryServers(db, testKeys))[0]).toMatchObject({ bindPassword: BIND_PASSWORD, userIdField: "sAMAccountName", groupSearchBase: "ou=groups,dc=example,dc=test" });
    const [changed] = await listAuditEvents(db, { action: "settings.ldap_server_changed" });
    expect(changed?.details).toMatchObject({ changes: { userIdField: { from: "uid", to: "sAMAccountName" } } });
    expect((changed?.details as { changes: Record<string, unknown> } | undefined)?.changes.bindPassword).toBeUndefined();

    const replace = await agent.post(url, serverForm({ version: "2", bindPassword: "a different secret" }));
    expect(pageText((await follow(agent, replace)).text)).toContain("The new bind password is stored.");
    expect((await directoryServers(db, testKeys))[0]?.bindPassword).toBe("a different secret");
    const [replaced] = await listAuditEvents(db, { action: "settings.ldap_server_changed" });
    expect(replaced?.details).toMatchObject({ changes: { bindPassword: { from: "------", to: "------" } } });

    const both = await agent.post(url, serverForm({ version: "3", bindPassword: "yet another", removeBindPassword: "on" }));
    expect(both.status).toBe(422);
    expect(isInvalid(both.text, "removeBindPassword")).toBe(true);
    expect(fieldError(both.text, "removeBindPassword")).toMatch(/Bind password/);
    expect(inputTag(both.text, "removeBindPassword")).toMatch(/checked/);
    expect(both.text).not.toContain("yet another");

    const remove = await agent.post(url, serverForm({ version: "3", bindDn: "", removeBindPassword: "on" }));
    const page = await follow(agent, remove);
    expect(pageText(page.text)).toContain("The stored bind password was removed.");
    expect((await listLdapServers(db))[0]?.hasBindPassword).toBe(false);
    expect((await serverRow(server.id)).bind_password).toBeNull();
    const edit = await agent.get(url);
    expect(edit.text).not.toContain("Remove the stored bind password");
    const [removed] = await listAuditEvents(db, { action: "settings.ldap_server_changed" });
    expect(removed?.details).toMatchObject({ changes: { bindPassword: { from: "------", to: null } } });
  });

  it("a stale version answers 409, keeps what was typed (never the password) and shows what is saved now", async () => {
    const { agent } = await signedInAdmin();
    const server = await addLdapServer(db, SYSTEM_ACTOR, testKeys, serverInput());
    const url = `${LDAP}/servers/${server.id}`;
    // Someone else saves first.
    await follow(agent, await agent.post(url, serverForm({ version: "1", baseDn: "dc=theirs,dc=test" })));

    const stale = await agent.post(url, serverForm({ version: "1", baseDn: "dc=mine,dc=test", bindPassword: BIND_PASSWORD }));
    expect(stale.status).toBe(409);
    expect(pageText(stale.text)).toMatch(/Someone else saved this LDAP server/);
    expect(pageText(stale.text)).toMatch(/Now saved: .*Domain “dc=theirs,dc=test”/);
    expect(inputValue(stale.text, "baseDn")).toBe("dc=mine,dc=test");
    expect(inputValue(stale.text, "version")).toBe("2");
    expect(stale.text).not.toContain(BIND_PASSWORD);
    expect((await listLdapServers(db))[0]?.baseDn).toBe("dc=theirs,dc=test");

    // Saving again applies what was typed.
    const again = await agent.post(url, serverForm({ version: "2", baseDn: "dc=mine,dc=test" }));
    expect(again.status).toBe(303);
    expect((await listLdapServers(db))[0]?.baseDn).toBe("dc=mine,dc=test");
  });

  it("reorders with Move up and Move down (named with the URL), audited", async () => {
    const { agent } = await signedInAdmin();
    for (const host of ["one", "two", "three"]) await addLdapServer(db, SYSTEM_ACTOR, testKeys, serverInput({ url: `ldap://${host}.example.test` }));
    const [one, two, three] = await listLdapServers(db);
    const page = await agent.get(LDAP);
    expect(hasControl(page.text, "Move down ldap://one.example.test")).toBe(true);
    expect(hasControl(page.text, "Move up ldap://one.example.test")).toBe(false);
    expect(hasControl(page.text, "Move up ldap://three.example.test")).toBe(true);
    expect(hasControl(page.text, "Move down ldap://three.example.test")).toBe(false);
    expect(hasControl(page.text, "Move up ldap://two.example.test")).toBe(true);
    expect(hasControl(page.text, "Move down ldap://two.example.test")).toBe(true);

    const down = await follow(agent, await agent.post(`${LDAP}/servers/${one?.id}/move`, { direction: "down" }));
    expect(pageText(down.text)).toContain("LDAP server ldap://one.example.test moved down: it is now tried second.");
    expect((await listLdapServers(db)).map((s) => s.id)).toEqual([two?.id, one?.id, three?.id]);
    expect(tableRows(down.text).map((r) => r.slice(0, 2))).toEqual([
      ["1", "ldap://two.example.test"],
      ["2", "ldap://one.example.test"],
      ["3", "ldap://three.example.test"],
    ]);

    const up = await follow(agent, await agent.post(`${LDAP}/servers/${three?.id}/move`, { direction: "up" }));
    expect(pageText(up.text)).toContain("moved up: it is now tried second.");
    expect((await listLdapServers(db)).map((s) => s.id)).toEqual([two?.id, three?.id, one?.id]);

    const edge = await follow(agent, await agent.post(`${LDAP}/servers/${two?.id}/move`, { direction: "up" }));
    expect(pageText(edge.text)).toContain("LDAP server ldap://two.example.test is already tried first; nothing changed.");

    const events = await listAuditEvents(db, { action: "settings.ldap_servers_reordered" });
    expect(events).toHaveLength(2);
    expect(events[0]?.details).toMatchObject({
      order: ["ldap://two.example.test (dc=example,dc=test)", "ldap://three.example.test (dc=example,dc=test)", "ldap://one.example.test (dc=example,dc=test)"],
    });

    expect((await agent.post(`${LDAP}/servers/${two?.id}/move`, { direction: "sideways" })).status).toBe(422);
    expect((await agent.post(`${LDAP}/servers/999/move`, { direction: "up" })).status).toBe(404);
  });

  it("removes a server only after the confirmation page, then renumbers the order; audited", async () => {
    const { agent } = await signedInAdmin();
    const first = await addLdapServer(db, SYSTEM_ACTOR, testKeys, serverInput({ url: "ldap://first.example.test" }));
    const second = await addLdapServer(db, SYSTEM_ACTOR, testKeys, serverInput({ url: "ldap://second.example.test" }));

    const confirm = await agent.get(`${LDAP}/servers/${first.id}/remove`);
    expect(confirm.status).toBe(200);
    expect(h1(confirm.text)).toBe("Remove LDAP server ldap://first.example.test?");
    expect(confirm.text).toContain('<button type="submit" class="danger">Remove LDAP server</button>');
    expect(confirm.text).toMatch(/<a href="\/admin\/settings\/ldap" class="button secondary outline">Cancel<\/a>/);
    expect(await listLdapServers(db)).toHaveLength(2);

    const removed = await follow(agent, await agent.post(`${LDAP}/servers/${first.id}/remove`));
    expect(pageText(removed.text)).toContain("LDAP server ldap://first.example.test removed.");
    expect(await listLdapServers(db)).toMatchObject([{ id: second.id, position: 1 }]);
    const [event] = await listAuditEvents(db, { action: "settings.ldap_server_removed" });
    expect(event).toMatchObject({ actorUsername: "root", targetLabel: "ldap://first.example.test (dc=example,dc=test)" });

    const last = await agent.get(`${LDAP}/servers/${second.id}/remove`);
    expect(pageText(last.text)).toContain("It is the only LDAP server");
    const none = await follow(agent, await agent.post(`${LDAP}/servers/${second.id}/remove`));
    expect(pageText(none.text)).toContain("No LDAP server is left");
    expect(pageText(none.text)).toContain("No LDAP server yet");

    expect((await agent.get(`${LDAP}/servers/${second.id}/remove`)).status).toBe(404);
    expect((await agent.post(`${LDAP}/servers/${second.id}/remove`)).status).toBe(404);
    expect((await agent.get(`${LDAP}/servers/${second.id}`)).status).toBe(404);
    expect((await agent.get(`${LDAP}/servers/abc`)).status).toBe(404);
  });
});

describe("validation of the server form", () => {
  const long = (n: number) => "a".repeat(n);
  const cases: [string, Record<string, string | undefined>, string, RegExp][] = [
    ["no URL", { url: "" }, "url", /^Enter the URL/],
    ["another scheme", { url: "http://ldap.example.test" }, "url", /^URL must start with ldap:\/\/ or ldaps:\/\//],
    ["no scheme", { url: "ldap.example.test:389" }, "url", /^URL must start with ldap:\/\/ or ldaps:\/\//],
    ["a path", { url: "ldap://ldap.example.test/dc=example,dc=test" }, "url", /^URL cannot contain a path, query or fragment/],
    ["a query", { url: "ldap://ldap.example.test?x" }, "url", /^URL cannot contain a path, query or fragment/],
    ["credentials", { url: "ldap://admin:secret@ldap.example.test" }, "url", /^URL cannot contain a user name or password/],
    ["port 0", { url: "ldap://ldap.example.test:0" }, "url", /^URL's port must be a whole number from 1 to 65535/],
    ["port 65536", { url: "ldap://ldap.example.test:65536" }, "url", /^URL's port must be a whole number from 1 to 65535/],
    ["a word for a port", { url: "ldap://ldap.example.test:ldap" }, "url", /^URL's port must be a whole number/],
    ["no host", { url: "ldap://:389" }, "url", /^URL needs a host name/],
    ["a bad host", { url: "ldap://ldap_example!.test" }, "url", /^URL's host "ldap_example!.test" is not a valid host name/],
    ["a space", { url: "ldap://ldap example.test" }, "url", /^URL cannot contain spaces/],
    ["a line break", { url: "ldap://ldap.example.test\r\nx" }, "url", /^URL cannot contain line breaks or NUL characters/],
    ["a long URL", { url: `ldap://${long(300)}.test` }, "url", /^URL must be at most 300 characters/],
    ["StartTLS with ldaps://", { url: "ldaps://ldap.example.test:636", startTls: "on" }, "startTls", /^StartTLS cannot be used with an ldaps:\/\/ URL.*already encrypted/],
    ["no Domain", { baseDn: "" }, "baseDn", /^Enter the Domain/],
    ["a Domain that is not a DN", { baseDn: "example.com" }, "baseDn", /^Domain must be a DN such as dc=example,dc=com/],
    ["a Domain with an empty value", { baseDn: "dc=example,dc=" }, "baseDn", /^Domain must be a DN/],
    ["a Domain with a line break", { baseDn: "dc=example,\ndc=test" }, "baseDn", /^Domain cannot contain line breaks or NUL characters/],
    ["a Domain with NUL", { baseDn: "dc=example\u0000,dc=test" }, "baseDn", /^Domain cannot contain line breaks or NUL characters/],
    ["a long Domain", { baseDn: `dc=${long(1030)}` }, "baseDn", /^Domain must be at most 1024 characters/],
    ["a Group Search Domain that is not a DN", { groupSearchBase: "groups" }, "groupSearchBase", /^Group Search Domain must be a DN/],
    ["a User ID Field with a space", { userIdField: "user id" }, "userIdField", /^User ID Field must be an attribute name/],
    ["a User ID Field starting with a digit", { userIdField: "1uid" }, "userIdField", /^User ID Field must be an attribute name/],
    ["a Group ID Field with a filter", { groupIdField: "cn)(uid=*" }, "groupIdField", /^Group ID Field must be an attribute name/],
    ["an Email attribute with options", { emailAttribute: "mail;binary" }, "emailAttribute", /^Email attribute must be an attribute name/],
    ["a Full name attribute with a line break", { fullNameAttribute: "cn\n" }, "fullNameAttribute", /^Full name attribute cannot contain line breaks/],
    ["a Bind DN that is not a DN", { bindDn: "gatehouse" }, "bindDn", /^Bind DN must be a DN/],
    ["a Bind DN with a line break", { bindDn: "cn=a,\r\ndc=b" }, "bindDn", /^Bind DN cannot contain line breaks/],
    ["a Bind password without a Bind DN", { bindDn: "", bindPassword: "orphan-secret" }, "bindDn", /^Enter the Bind DN that goes with the Bind password/],
    ["a Bind password with a line break", { bindPassword: "line\nbreak-secret" }, "bindPassword", /^Bind password cannot contain line breaks/],
    ["a CA certificate that is not PEM", { caCertificate: "hello" }, "caCertificate", /^CA certificate is not in PEM form/],
    ["a CA certificate cut short", { caCertificate: "-----BEGIN CERTIFICATE-----\nMIIB\n" }, "caCertificate", /^CA certificate ends before -----END CERTIFICATE-----/],
    ["a CA certificate of garbage base64", { caCertificate: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }, "caCertificate", /^CA certificate: The PEM block could not be read/],
    ["a CA certificate over 64 KB", { caCertificate: `-----BEGIN CERTIFICATE-----\n${"A".repeat(70_000)}\n-----END CERTIFICATE-----` }, "caCertificate", /^CA certificate must be at most 64 KB/],
    ["a long Test username", { testUsername: long(300) }, "testUsername", /^Test username must be at most 255 characters/],
  ];

  it.each(cases)("refuses %s, naming the field and keeping what was typed", async (_name, overrides, field, message) => {
    const { agent } = await signedInAdmin();
    const form = serverForm({ bindDn: "cn=gatehouse,dc=example,dc=test", groupSearchBase: "ou=groups,dc=example,dc=test", ...overrides });
    for (const target of [`${LDAP}/servers`, `${LDAP}/servers/new/test`]) {
      const res = await agent.post(target, form);
      expect(res.status, target).toBe(422);
      expect(isInvalid(res.text, field), `${field} marked invalid`).toBe(true);
      expect(fieldError(res.text, field)).toMatch(message);
      expect(errorSummary(res.text)?.links).toContain(field);
      // Other typed values are kept; the password never is.
      if (field !== "groupSearchBase") expect(inputValue(res.text, "groupSearchBase")).toBe("ou=groups,dc=example,dc=test");
      if (field !== "url" && form.url) expect(inputValue(res.text, "url")).toBe(form.url);
      if (form.bindPassword) expect(res.text).not.toContain(form.bindPassword);
      // Shown again as typed (escaped), when it is a one-line field.
      if (field === "startTls") expect(inputTag(res.text, field)).toMatch(/checked/);
      else if (!["caCertificate", "bindPassword"].includes(field) && !/[\r\n]/.test(form[field] ?? "") && !(form[field] ?? "").includes("\u0000")) {
        expect(inputValue(res.text, field)).toBe(form[field]);
      }
    }
    expect(await listLdapServers(db)).toEqual([]);
  });

  it("refuses a private key in CA certificate without showing it again", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.post(`${LDAP}/servers`, serverForm({ caCertificate: pem.key }));
    expect(res.status).toBe(422);
    expect(fieldError(res.text, "caCertificate")).toMatch(/^CA certificate holds a private key/);
    expect(isInvalid(res.text, "caCertificate")).toBe(true);
  });

  it("accepts the shapes it should: IPv6 and IP hosts, OIDs, escaped commas, a user@domain Bind DN, blank attribute fields as their defaults", async () => {
    const { agent } = await signedInAdmin();
    const accepted: Record<string, string>[] = [
      { url: "LDAPS://[::1]:636/", startTls: undefined as unknown as string, caCertificate: `\r\n${pem.cert.replace(/\n/g, "\r\n")}${pem.cert}` },
      { url: "ldap://10.0.0.5", baseDn: "o=Example\\, Inc.,c=US", userIdField: "0.9.2342.19200300.100.1.1" },
      { url: "ldap://dc1.corp.example.test:3268", bindDn: "gatehouse@corp.example.test", bindPassword: "x", userIdField: "", groupIdField: "", emailAttribute: "", fullNameAttribute: "" },
    ];
    for (const overrides of accepted) {
      const res = await agent.post(`${LDAP}/servers`, serverForm(overrides));
      expect(res.status, JSON.stringify({ ...overrides, caCertificate: undefined })).toBe(303);
    }
    const [v6, ip, ad] = await listLdapServers(db);
    expect(v6).toMatchObject({ url: "ldaps://[::1]:636", startTls: false });
    expect(v6?.caCertificate.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
    expect(v6?.caCertificate).not.toContain("\r");
    expect(ip).toMatchObject({ url: "ldap://10.0.0.5", baseDn: "o=Example\\, Inc.,c=US", userIdField: "0.9.2342.19200300.100.1.1" });
    expect(ad).toMatchObject({ bindDn: "gatehouse@corp.example.test", userIdField: "uid", groupIdField: "cn", emailAttribute: "mail", fullNameAttribute: "cn" });
  });

  it("refuses fields no form has (400) and a missing or bad version on edit", async () => {
    const { agent } = await signedInAdmin();
    expect((await agent.post(`${LDAP}/servers`, serverForm({ extra: "x" }))).status).toBe(400);
    const server = await addLdapServer(db, SYSTEM_ACTOR, testKeys, serverInput());
    const res = await agent.post(`${LDAP}/servers/${server.id}`, serverForm({ version: "x" }));
    expect(res.status).toBe(422);
    expect(errorSummary(res.text)?.text).toMatch(/version field is missing or invalid/);
  });
});

describe("Configuration", () => {
  it("saves both switches, audited, and a stale version answers 409 keeping the choices", async () => {
    const { agent } = await signedInAdmin();
    const save = await agent.post(LDAP, { version: "0", allowUserCreation: "on", removeUnmappedTeams: "on" });
    const page = await follow(agent, save);
    expect(pageText(page.text)).toContain("LDAP configuration saved: a first LDAP sign-in now creates a User account");
    expect(inputTag(page.text, "allowUserCreation")).toMatch(/checked/);
    expect(inputTag(page.text, "removeUnmappedTeams")).toMatch(/checked/);
    expect(inputValue(page.text, "version")).toBe("1");
    expect(await readLdapOptions(db)).toEqual({ value: { allowUserCreation: true, removeUnmappedTeams: true }, version: 1 });
    const [event] = await listAuditEvents(db, { action: "settings.ldap_changed" });
    expect(event?.details).toMatchObject({ changes: { allowUserCreation: { from: false, to: true }, removeUnmappedTeams: { from: false, to: true } } });

    // Someone else turns user creation off meanwhile.
    await saveLdapOptions(db, SYSTEM_ACTOR, 1, { allowUserCreation: false, removeUnmappedTeams: true });
    const stale = await agent.post(LDAP, { version: "1", removeUnmappedTeams: "on", allowUserCreation: "on" });
    expect(stale.status).toBe(409);
    expect(pageText(stale.text)).toMatch(/Someone else saved the LDAP configuration/);
    expect(pageText(stale.text)).toContain("Now saved: Allow LDAP user creation is off");
    expect(inputTag(stale.text, "allowUserCreation")).toMatch(/checked/);
    expect(inputValue(stale.text, "version")).toBe("2");

    const off = await follow(agent, await agent.post(LDAP, { version: "2" }));
    expect(pageText(off.text)).toContain("only accounts that already exist can sign in with LDAP; teams are never removed at sign-in.");
    expect((await readLdapOptions(db)).value).toEqual({ allowUserCreation: false, removeUnmappedTeams: false });
  });
});

describe("LDAP Default Teams", () => {
  it("joins and removes teams, audited", async () => {
    const { agent } = await signedInAdmin();
    const storage = await createTeam(db, SYSTEM_ACTOR, { name: "storage", description: "" });
    const ops = await createTeam(db, SYSTEM_ACTOR, { name: "ops", description: "" });
    const page = await agent.get(LDAP);
    expect(labelText(page.text, "teamId")).toBe("Team");
    expect(page.text).toContain(">Join team</button>");

    const join = await follow(agent, await agent.post(`${LDAP}/default-teams`, { teamId: String(storage.id) }));
    expect(pageText(join.text)).toContain("Team storage added to the LDAP Default Teams");
    expect(hasControl(join.text, "Remove storage")).toBe(true);
    // A default team is no longer offered in the picker.
    expect(inputTag(join.text, "teamId")).toBeDefined();
    expect(join.text).not.toMatch(new RegExp(`<option value="${storage.id}">storage</option></select>`));
    expect(await listLdapDefaultTeams(db)).toEqual([{ id: storage.id, name: "storage" }]);

    const again = await follow(agent, await agent.post(`${LDAP}/default-teams`, { teamId: String(storage.id) }));
    expect(pageText(again.text)).toContain("Team storage was already an LDAP Default Team.");
    await follow(agent, await agent.post(`${LDAP}/default-teams`, { teamId: String(ops.id) }));
    expect((await listLdapDefaultTeams(db)).map((t) => t.name)).toEqual(["ops", "storage"]);
    expect(pageText((await agent.get(LDAP)).text)).toContain("Every team is already a default team.");

    const removed = await follow(agent, await agent.post(`${LDAP}/default-teams/${storage.id}/remove`));
    expect(pageText(removed.text)).toContain("Team storage removed from the LDAP Default Teams.");
    expect(await listLdapDefaultTeams(db)).toEqual([{ id: ops.id, name: "ops" }]);
    const gone = await follow(agent, await agent.post(`${LDAP}/default-teams/${storage.id}/remove`));
    expect(pageText(gone.text)).toContain("That team was not an LDAP Default Team; nothing changed.");

    expect(await listAuditEvents(db, { action: "settings.ldap_default_team_added" })).toHaveLength(2);
    const [event] = await listAuditEvents(db, { action: "settings.ldap_default_team_removed" });
    expect(event?.details).toMatchObject({ team: { id: storage.id, name: "storage" } });

    const missing = await agent.post(`${LDAP}/default-teams`, { teamId: "999" });
    expect(missing.status).toBe(422);
    expect(fieldError(missing.text, "teamId")).toMatch(/Choose a team from the list/);
    const bad = await agent.post(`${LDAP}/default-teams`, { teamId: "storage" });
    expect(bad.status).toBe(422);
    expect(fieldError(bad.text, "teamId")).toBe("Choose a team from the list.");
  });
});

describe("LDAP Group Mappings", () => {
  it("maps one group to two teams, lists each pair with its remove button, removes one; audited", async () => {
    const { agent } = await signedInAdmin();
    const storage = await createTeam(db, SYSTEM_ACTOR, { name: "storage", description: "" });
    const ops = await createTeam(db, SYSTEM_ACTOR, { name: "ops", description: "" });
    const page = await agent.get(LDAP);
    expect(labelText(page.text, "groupName")).toBe("Directory group");
    expect(labelText(page.text, "teamIds")).toBe("Teams");
    expect(inputTag(page.text, "teamIds")).toMatch(/multiple/);
    expect(page.text).toContain(">Add mapping</button>");

    const add = await follow(agent, await agent.post(`${LDAP}/mappings`, { groupName: "Operators", teamIds: [String(storage.id), String(ops.id)] }));
    expect(pageText(add.text)).toContain("Directory group Operators now maps to teams storage and ops");
    expect(tableRows(add.text).map((r) => r.slice(0, 2))).toEqual([
      ["Operators", "ops"],
      ["Operators", "storage"],
    ]);
    expect(hasControl(add.text, "Remove mapping Operators → storage")).toBe(true);
    expect(hasControl(add.text, "Remove mapping Operators → ops")).toBe(true);
    expect(await listAuditEvents(db, { action: "settings.ldap_group_mapped" })).toHaveLength(2);

    // The same group in another case, and a team already mapped: nothing new.
    const same = await follow(agent, await agent.post(`${LDAP}/mappings`, { groupName: "operators", teamIds: String(ops.id) }));
    expect(pageText(same.text)).toContain("Directory group operators already maps to the chosen teams; nothing changed.");

    const mapping = (await listLdapGroupMappings(db)).find((m) => m.teamName === "storage");
    const removed = await follow(agent, await agent.post(`${LDAP}/mappings/${mapping?.id}/remove`));
    expect(pageText(removed.text)).toContain("Mapping Operators → storage removed.");
    expect((await listLdapGroupMappings(db)).map((m) => m.teamName)).toEqual(["ops"]);
    const [event] = await listAuditEvents(db, { action: "settings.ldap_group_unmapped" });
    expect(event?.details).toMatchObject({ group: "Operators", team: { id: storage.id, name: "storage" } });
    const twice = await follow(agent, await agent.post(`${LDAP}/mappings/${mapping?.id}/remove`));
    expect(pageText(twice.text)).toContain("That mapping was already removed; nothing changed.");
  });

  it("names the field of each mistake and keeps the typed group and chosen teams", async () => {
    const { agent } = await signedInAdmin();
    const storage = await createTeam(db, SYSTEM_ACTOR, { name: "storage", description: "" });
    await createTeam(db, SYSTEM_ACTOR, { name: "ops", description: "" });

    const noTeams = await agent.post(`${LDAP}/mappings`, { groupName: "operators" });
    expect(noTeams.status).toBe(422);
    expect(fieldError(noTeams.text, "teamIds")).toMatch(/^Choose one or more Teams/);
    expect(isInvalid(noTeams.text, "teamIds")).toBe(true);
    expect(inputValue(noTeams.text, "groupName")).toBe("operators");

    const noGroup = await agent.post(`${LDAP}/mappings`, { groupName: "  ", teamIds: String(storage.id) });
    expect(noGroup.status).toBe(422);
    expect(fieldError(noGroup.text, "groupName")).toMatch(/^Enter the Directory group/);
    expect(noGroup.text).toContain(`<option value="${storage.id}" selected>storage</option>`);

    const lineBreak = await agent.post(`${LDAP}/mappings`, { groupName: "ops\r\nadmins", teamIds: String(storage.id) });
    expect(lineBreak.status).toBe(422);
    expect(fieldError(lineBreak.text, "groupName")).toMatch(/^Directory group cannot contain line breaks/);

    const tooLong = await agent.post(`${LDAP}/mappings`, { groupName: "g".repeat(256), teamIds: String(storage.id) });
    expect(fieldError(tooLong.text, "groupName")).toMatch(/^Directory group must be at most 255 characters/);

    const gone = await agent.post(`${LDAP}/mappings`, { groupName: "operators", teamIds: [String(storage.id), "999"] });
    expect(gone.status).toBe(422);
    expect(fieldError(gone.text, "teamIds")).toMatch(/no longer exists/);
    expect(await listLdapGroupMappings(db)).toEqual([]);

    const notAnId = await agent.post(`${LDAP}/mappings`, { groupName: "operators", teamIds: "storage" });
    expect(notAnId.status).toBe(422);
    expect(fieldError(notAnId.text, "teamIds")).toMatch(/^Teams: /);
  });
});

describe("Test LDAP config", () => {
  it("a stored server that cannot be reached: the connection step failed, in words, never a 500", async () => {
    const { agent } = await signedInAdmin();
    const server = await addLdapServer(db, SYSTEM_ACTOR, testKeys, serverInput({ url: UNREACHABLE, startTls: false }));
    const page = await agent.get(`${LDAP}/servers/${server.id}/test`);
    expect(page.status).toBe(200);
    expect(h1(page.text)).toBe("Test LDAP config");
    expect(labelText(page.text, "testUsername")).toBe("Test username");
    expect(page.text).toContain(">Test LDAP config</button>");

    const res = await agent.post(`${LDAP}/servers/${server.id}/test`, { testUsername: "alice" });
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/<div role="alert">/);
    const text = pageText(res.text);
    expect(text).toContain("Test LDAP config failed at the Connection step.");
    expect(text).toMatch(/Connection: Failed\. Could not connect to the server/);
    expect(text).toContain("Bind: Not tried. The Connection step failed first.");
    expect(inputValue(res.text, "testUsername")).toBe("alice");

    const bad = await agent.post(`${LDAP}/servers/${server.id}/test`, { testUsername: "a\nb" });
    expect(bad.status).toBe(422);
    expect(fieldError(bad.text, "testUsername")).toMatch(/^Test username cannot contain line breaks/);
    expect((await agent.post(`${LDAP}/servers/999/test`, { testUsername: "" })).status).toBe(404);
  });

  it("tests the values typed in the new-server form without saving them, keeping them (not the password)", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.post(`${LDAP}/servers/new/test`, serverForm({ url: UNREACHABLE, startTls: undefined, bindPassword: BIND_PASSWORD, testUsername: "alice" }));
    expect(res.status).toBe(200);
    expect(h1(res.text)).toBe("Add LDAP server");
    expect(pageText(res.text)).toMatch(/Connection: Failed\. Could not connect to the server/);
    expect(pageText(res.text)).toContain("type it again before saving");
    expect(inputValue(res.text, "url")).toBe(UNREACHABLE);
    expect(inputValue(res.text, "bindDn")).toBe("cn=gatehouse,ou=services,dc=example,dc=test");
    expect(inputValue(res.text, "testUsername")).toBe("alice");
    expect(res.text).not.toContain(BIND_PASSWORD);
    expect(await listLdapServers(db)).toEqual([]);
    expect(await listAuditEvents(db, { action: "settings.ldap_server_added" })).toEqual([]);
  });

  it("tests the typed values of a stored server's form without saving them", async () => {
    const { agent } = await signedInAdmin();
    const server = await addLdapServer(db, SYSTEM_ACTOR, testKeys, serverInput({ url: "ldap://ldap.example.test", bindDn: "cn=x,dc=example,dc=test", bindPassword: BIND_PASSWORD }));
    const edit = await agent.get(`${LDAP}/servers/${server.id}`);
    expect(edit.text).toMatch(new RegExp(`formaction="/admin/settings/ldap/servers/${server.id}/edit/test">Test LDAP config</button>`));
    const res = await agent.post(`${LDAP}/servers/${server.id}/edit/test`, serverForm({ version: "1", url: UNREACHABLE, startTls: undefined }));
    expect(res.status).toBe(200);
    expect(pageText(res.text)).toMatch(/Connection: Failed/);
    expect(inputValue(res.text, "url")).toBe(UNREACHABLE);
    expect(res.text).not.toContain(BIND_PASSWORD);
    expect((await listLdapServers(db))[0]?.url).toBe("ldap://ldap.example.test");
  });
});

describe.skipIf(skipLdapTests)("Test LDAP config against a real directory (slapd)", () => {
  let directory: TestDirectory;

  beforeAll(async () => {
    directory = await TestDirectory.start({ tls: true });
  });
  afterAll(async () => {
    await directory?.close();
  });

  function directoryForm(overrides: Record<string, string | undefined> = {}) {
    return serverForm({
      url: directory.url,
      startTls: undefined,
      baseDn: directory.baseDn,
      bindDn: directory.bindDn,
      bindPassword: directory.bindPassword,
      ...overrides,
    });
  }

  it("a saved server and the username alice: every step passed, and her groups listed", async () => {
    const { agent } = await signedInAdmin();
    await follow(agent, await agent.post(`${LDAP}/servers`, directoryForm()));
    const [server] = await listLdapServers(db);
    const res = await agent.post(`${LDAP}/servers/${server?.id}/test`, { testUsername: "alice" });
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/<div role="status">/);
    const text = pageText(res.text);
    expect(text).toContain("Test LDAP config passed: alice was found and their groups were read.");
    for (const step of ["Connection", "TLS", "Bind", "Search", "Groups"]) expect(text).toContain(`${step}: Passed.`);
    expect(text).not.toMatch(/Failed\.|Not tried\./);
    expect(text).toContain(`Bound as ${directory.bindDn}.`);
    expect(text).toContain("Found uid=alice,ou=people,dc=example,dc=test.");
    expect(text).toContain("Member of: operators.");
    expect(text).toContain("No TLS: passwords cross the network unencrypted.");
    expect(res.text).not.toContain(directory.bindPassword);
  });

  it("without a username: connection, TLS, bind and search pass; Groups is not tried, said in words", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.post(`${LDAP}/servers/new/test`, directoryForm());
    expect(res.status).toBe(200);
    const text = pageText(res.text);
    expect(text).toContain("Test LDAP config passed: Gatehouse can connect, bind and search the Domain.");
    expect(text).toContain("Search: Passed.");
    expect(text).toContain("Groups: Not tried. Give a Test username");
  });

  it("a wrong bind password typed in the form: the bind step failed, and nothing was saved", async () => {
    const { agent } = await signedInAdmin();
    const res = await agent.post(`${LDAP}/servers/new/test`, directoryForm({ bindPassword: "not-the-password", testUsername: "alice" }));
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/<div role="alert">/);
    const text = pageText(res.text);
    expect(text).toContain("Test LDAP config failed at the Bind step.");
    expect(text).toContain("Connection: Passed.");
    expect(text).toMatch(/Bind: Failed\. The server refused the bind DN and bind password/);
    expect(text).toContain("Search: Not tried. The Bind step failed first.");
    expect(res.text).not.toContain("not-the-password");
    expect(await listLdapServers(db)).toEqual([]);
  });

  it("a stored server's form tests with the stored bind password when the field is blank", async () => {
    const { agent } = await signedInAdmin();
    await follow(agent, await agent.post(`${LDAP}/servers`, directoryForm()));
    const [server] = await listLdapServers(db);
    const res = await agent.post(`${LDAP}/servers/${server?.id}/edit/test`, directoryForm({ bindPassword: "", version: "1", testUsername: "carol" }));
    expect(res.status).toBe(200);
    expect(pageText(res.text)).toContain("Member of: operators, storage.");
  });

  it("ldaps:// with the right CA certificate is verified; with another CA the TLS step failed", async () => {
    const { agent } = await signedInAdmin();
    const good = await agent.post(`${LDAP}/servers/new/test`, directoryForm({ url: directory.ldapsUrl, caCertificate: directory.caPem }));
    expect(good.status).toBe(200);
    expect(pageText(good.text)).toContain("TLS: Passed. TLS is on and the server's certificate was verified.");
    const bad = await agent.post(`${LDAP}/servers/new/test`, directoryForm({ url: directory.ldapsUrl, caCertificate: directory.otherCaPem }));
    expect(bad.status).toBe(200);
    expect(pageText(bad.text)).toMatch(/TLS: Failed\. The TLS connection failed/);
    // The typed certificate is kept in the form.
    expect(bad.text).toContain("-----BEGIN CERTIFICATE-----");
  });
});
