import type { Express } from "express";
import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import type { MailOutbox } from "../../src/services/mail-outbox.ts";
import { flashText, makeGroup, makeSystem, makeTeam, rowCount } from "../helpers/access.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { errorSummary, fieldError, pageText } from "../helpers/html.ts";
import { type TestMailServer, useAppWithMail } from "../helpers/mail.ts";
import { auditEvents } from "../helpers/sign-in.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/**
 * docs/security.md §4, "Double submit": every create form of the console sent twice, as a double click does (the
 * same session, the same token, the same fields), both at the same moment and one after the other. Each ends
 * with exactly one row and one audit event; the second answer is either "already exists" naming the field
 * (409/422, the form shown again) or a redirect to what the first one created; never a 500, never two rows.
 * On Postgres the two requests run truly in parallel; on PGlite they interleave between statements.
 */

let db: Db;
let app: Express;
let mailOutbox: MailOutbox;
let mailServer: TestMailServer;

useAppWithMail(
  (parts) => {
    ({ db, app, mailOutbox, mailServer } = parts);
  },
  { configure: true },
);

type Mode = "at the same moment" | "one after the other";
const MODES: Mode[] = ["at the same moment", "one after the other"];

type Res = { status: number; text: string; headers: Record<string, string> };

async function submitTwice(agent: TestAgent, url: string, body: Record<string, string>, mode: Mode): Promise<Res[]> {
  if (mode === "at the same moment") return (await Promise.all([agent.post(url, body), agent.post(url, body)])) as Res[];
  const first = (await agent.post(url, body)) as Res;
  return [first, (await agent.post(url, body)) as Res];
}

async function admin(): Promise<TestAgent> {
  const root = await insertTestAdmin(db, { username: "root" });
  return signedInAgent(app, root);
}

async function idOf(table: string, where: Record<string, unknown>): Promise<number> {
  const row = await db(table).where(where).first("id");
  if (!row) throw new Error(`no ${table} row matching ${JSON.stringify(where)}`);
  return Number(row.id);
}

/** The second answer refused the duplicate with a message naming one of `fields`; the form is shown again. */
function expectNamedRefusal(res: Res, fields: string[]) {
  expect([409, 422], pageText(res.text).slice(0, 300)).toContain(res.status);
  const named = fields.filter((f) => errorSummary(res.text)?.links.includes(f) && fieldError(res.text, f));
  expect(named, `a message on one of ${fields.join(", ")}`).not.toHaveLength(0);
  expect(errorSummary(res.text)?.text ?? "").toMatch(/already/i);
}

/**
 * A create form whose record has a unique name: one answer is the redirect to the new record, the other (whichever
 * came second) says it already exists.
 */
interface UniqueCase {
  form: string;
  url: string;
  body: Record<string, string>;
  table: string;
  where: Record<string, unknown>;
  page: (id: number) => string;
  fields: string[];
  event: string;
}

const UNIQUE_CASES: UniqueCase[] = [
  {
    form: "Create user (with an email that gets a confirmation code)",
    url: "/admin/users",
    body: {
      username: "dana",
      fullName: "Dana Doe",
      title: "",
      email: "dana@example.test",
      phone: "",
      authSource: "local",
      password: "lighthouse keeper breakfast 93",
      confirmPassword: "lighthouse keeper breakfast 93",
    },
    table: "users",
    where: { username_key: "dana" },
    page: (id) => `/admin/users/${id}`,
    // Whichever check refuses it first: the name, or the address (also unique).
    fields: ["username", "email"],
    event: "user.created",
  },
  {
    form: "New team",
    url: "/admin/teams",
    body: { name: "Storage", description: "the storage people" },
    table: "teams",
    where: { name: "Storage" },
    page: (id) => `/admin/teams/${id}`,
    fields: ["name"],
    event: "team.created",
  },
  {
    form: "New group",
    url: "/admin/groups",
    body: { name: "Production", description: "" },
    table: "system_groups",
    where: { name: "Production" },
    page: (id) => `/admin/groups/${id}`,
    fields: ["name"],
    event: "group.created",
  },
  {
    form: "New system",
    url: "/admin/systems",
    body: { name: "nas-1", host: "nas-1.example.test", description: "", notes: "" },
    table: "systems",
    where: { name: "nas-1" },
    page: (id) => `/admin/systems/${id}`,
    fields: ["name"],
    event: "system.created",
  },
  {
    form: "Add LDAP server",
    url: "/admin/settings/ldap/servers",
    body: {
      url: "ldap://ldap.example.test:389",
      startTls: "on",
      caCertificate: "",
      verifyCertificate: "on",
      baseDn: "dc=example,dc=test",
      groupSearchBase: "",
      userIdField: "uid",
      groupIdField: "cn",
      bindDn: "cn=gatehouse,ou=services,dc=example,dc=test",
      bindPassword: "service-secret",
      emailAttribute: "mail",
      fullNameAttribute: "cn",
      testUsername: "",
    },
    table: "ldap_servers",
    where: { url: "ldap://ldap.example.test:389" },
    page: () => "/admin/settings/ldap#servers",
    fields: ["url"],
    event: "settings.ldap_server_added",
  },
];

describe.each(MODES)("double submit %s", (mode) => {
  it.each(UNIQUE_CASES)(`§4, A9: $form: one row and one event; the other answer says it already exists, naming the field`, async (c) => {
    const agent = await admin();
    const answers = await submitTwice(agent, c.url, c.body, mode);
    const created = answers.filter((r) => r.status === 303);
    const refused = answers.filter((r) => r.status !== 303);
    expect(created, answers.map((r) => `${r.status} ${pageText(r.text).slice(0, 200)}`).join(" | ")).toHaveLength(1);
    expect(refused).toHaveLength(1);
    if (mode === "one after the other") expect(answers[0]?.status).toBe(303);
    expectNamedRefusal(refused[0] as Res, c.fields);

    expect(await rowCount(db, c.table, c.where)).toBe(1);
    const id = await idOf(c.table, c.where);
    expect(created[0]?.headers.location).toBe(c.page(id));
    expect((await agent.get(c.page(id))).status).toBe(200);
    expect(await auditEvents(db, c.event)).toHaveLength(1);
  });

  it("§4: Create user: the new address gets one confirmation code, not two", async () => {
    const agent = await admin();
    const [c] = UNIQUE_CASES;
    await submitTwice(agent, c!.url, c!.body, mode);
    await mailOutbox.drain();
    expect(await rowCount(db, "email_codes")).toBe(1);
    expect(mailServer.to("dana@example.test")).toHaveLength(1);
  });

  it("§4: /setup (first administrator): one administrator, signed in by the first answer", async () => {
    const agent = new TestAgent(app);
    await agent.refreshToken("/setup");
    const body = { username: "admin", password: "lighthouse keeper breakfast 93", confirmPassword: "lighthouse keeper breakfast 93" };
    const answers = await submitTwice(agent, "/setup", body, mode);
    // The first answer signs the administrator in under a new session. The second carried the visitor's session:
    // if that was still there when it was read, the second is sent to sign in (where the browser, now holding the
    // administrator's session, goes on to the console); if the first had already replaced it, or (one after the
    // other) the second carried the new session, its form token is unknown: the usual "form expired".
    const shown = answers.map((r) => JSON.stringify([r.status, r.headers.location ?? null]));
    const signedIn = JSON.stringify([303, "/"]);
    expect(shown.filter((answer) => answer === signedIn)).toHaveLength(1);
    const other = shown.find((answer) => answer !== signedIn);
    if (mode === "one after the other") expect(shown).toEqual([signedIn, JSON.stringify([403, null])]);
    else expect([JSON.stringify([303, "/login"]), JSON.stringify([403, null])]).toContain(other);
    // One after the other, the browser keeps the administrator's session. At the same moment, whichever answer
    // arrives last sets the cookie the browser keeps: possibly the "form expired" page's fresh session, and then a
    // sign-in follows. Either way one administrator exists and one signed-in session was made.
    if (mode === "one after the other") expect((await agent.get("/")).status).toBe(200);
    expect(Number((await db("sessions").whereNotNull("user_id").count({ n: "*" }).first())?.n)).toBe(1);
    expect(await rowCount(db, "users")).toBe(1);
    expect(await auditEvents(db, "setup.administrator_created")).toHaveLength(1);
    expect((await new TestAgent(app).signIn("admin", body.password)).status).toBe(303);
  });

  /**
   * Adding something that is a pair (a member, a system in a group, a grant, an LDAP default team or mapping):
   * adding it again changes nothing, so both answers are the redirect back to the page, which shows it once.
   */
  it("§4: adding a member, joining a team, adding a system to a group, every kind of grant, an LDAP default team and an LDAP group mapping: one row each; both answers redirect to the page", async () => {
    const agent = await admin();
    const alice = await insertTestUser(db, { username: "alice" });
    const bob = await insertTestUser(db, { username: "bob" });
    const ops = await makeTeam(db, "ops");
    const dev = await makeTeam(db, "dev");
    const nas = await makeSystem(db, { name: "nas-1" });
    const prod = await makeGroup(db, "prod");

    const forms: { form: string; url: string; body: Record<string, string>; table: string; event: string; page: string }[] = [
      { form: "Add member", url: `/admin/teams/${ops.id}/members`, body: { username: "alice" }, table: "team_members", event: "team.member_added", page: `/admin/teams/${ops.id}#members` },
      { form: "Join team", url: `/admin/users/${bob.id}/teams`, body: { teamId: String(dev.id) }, table: "team_members", event: "team.member_added", page: `/admin/users/${bob.id}#teams` },
      { form: "Add system to group", url: `/admin/groups/${prod.id}/systems`, body: { systemId: String(nas.id) }, table: "system_group_members", event: "group.system_added", page: `/admin/groups/${prod.id}#systems` },
      { form: "user × system", url: `/admin/users/${alice.id}/systems`, body: { systemId: String(nas.id), permission: "read" }, table: "user_system_grants", event: "grant.added", page: `/admin/users/${alice.id}#systems` },
      { form: "user × group", url: `/admin/users/${alice.id}/groups`, body: { groupId: String(prod.id), permission: "read/write" }, table: "user_group_grants", event: "grant.added", page: `/admin/users/${alice.id}#groups` },
      { form: "team × system", url: `/admin/teams/${ops.id}/systems`, body: { systemId: String(nas.id), permission: "read/write" }, table: "team_system_grants", event: "grant.added", page: `/admin/teams/${ops.id}#systems` },
      { form: "team × group", url: `/admin/teams/${ops.id}/groups`, body: { groupId: String(prod.id), permission: "read" }, table: "team_group_grants", event: "grant.added", page: `/admin/teams/${ops.id}#groups` },
      { form: "LDAP Default Teams", url: "/admin/settings/ldap/default-teams", body: { teamId: String(ops.id) }, table: "ldap_default_teams", event: "settings.ldap_default_team_added", page: "/admin/settings/ldap#default-teams" },
      { form: "LDAP Group Mappings", url: "/admin/settings/ldap/mappings", body: { groupName: "operators", teamIds: String(dev.id) }, table: "ldap_group_mappings", event: "settings.ldap_group_mapped", page: "/admin/settings/ldap#group-mappings" },
    ];
    const eventsBefore: Record<string, number> = {};
    for (const f of forms) {
      const rowsBefore = await rowCount(db, f.table);
      eventsBefore[f.event] = (await auditEvents(db, f.event)).length;
      const answers = await submitTwice(agent, f.url, f.body, mode);
      expect(
        answers.map((r) => [r.status, r.headers.location]),
        `${f.form}: ${answers.map((r) => pageText(r.text).slice(0, 200)).join(" | ")}`,
      ).toEqual([
        [303, f.page],
        [303, f.page],
      ]);
      expect(await rowCount(db, f.table), f.form).toBe(rowsBefore + 1);
      expect((await auditEvents(db, f.event)).length, f.form).toBe(eventsBefore[f.event]! + 1);
      const page = await agent.get(f.page.split("#")[0] ?? "/");
      expect(page.status, f.form).toBe(200);
      // One after the other, the second answer says that nothing changed.
      if (mode === "one after the other") expect(flashText(page.text), f.form).toMatch(/already/);
    }
  });
});

describe("Profile → API tokens: a double-clicked Create token", () => {
  async function tokenOwner() {
    const pat = await insertTestUser(db, { username: "pat" });
    return signedInAgent(app, pat);
  }

  it.each(MODES)("§4: sent twice %s: never a 500, and the person is shown a new token once", async (mode) => {
    const agent = await tokenOwner();
    const answers = await submitTwice(agent, "/profile/api-tokens", { name: "deploy", expiresInDays: "30" }, mode);
    for (const res of answers) expect([303, 409, 422]).toContain(res.status);
    const shown = await agent.get("/profile/api-tokens/new");
    expect(shown.status).toBe(200);
    expect(shown.text).toMatch(/gh_[A-Za-z0-9_-]{43}/);
  });

  /*
   * Two live secrets from one double click, of which the person would be shown one, are refused: names are unique
   * among a user's active tokens, and the second request leads to the page showing the token the first one made.
   */
  it.each(MODES)("§4: sent twice %s, exactly one token is created", async (mode) => {
    const agent = await tokenOwner();
    await submitTwice(agent, "/profile/api-tokens", { name: "deploy", expiresInDays: "30" }, mode);
    expect(await rowCount(db, "api_tokens")).toBe(1);
    const shown = await agent.get("/profile/api-tokens/new");
    expect(shown.status).toBe(200);
    expect(shown.text).toMatch(/gh_[A-Za-z0-9_-]{43}/);
  });
});
