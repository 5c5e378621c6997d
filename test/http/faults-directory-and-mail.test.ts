import type { Express } from "express";
import { directoryBreaker } from "../../src/ldap/circuit-breaker.ts";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import * as outbox from "../../src/repositories/outbox.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { addLdapServer, readLdapOptions, saveLdapOptions } from "../../src/services/ldap-settings.ts";
import type { MailOutbox } from "../../src/services/mail-outbox.ts";
import { FORGOT_PASSWORD_ANSWER } from "../../src/services/password-reset.ts";
import { DIRECTORY_UNAVAILABLE } from "../../src/services/passwords.ts";
import { flashText, rowCount } from "../helpers/access.ts";
import { signedInAgent, TestAgent } from "../helpers/agent.ts";
import { createTestAppParts } from "../helpers/app.ts";
import { decodeEntities, pageText } from "../helpers/html.ts";
import { FIXTURE_USERS, settingsFor, skipLdapTests, TestDirectory } from "../helpers/ldap.ts";
import { codeIn, type TestMailServer, testKeys, useAppWithMail } from "../helpers/mail.ts";
import { attemptSignIn, auditEvents, failureRows } from "../helpers/sign-in.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

/**
 * docs/security.md §4 "LDAP down or silent" and "SMTP down, slow or refusing", under concurrent traffic: twenty requests at once that
 * mix directory sign-ins, local sign-ins, ordinary pages and mail. The single-request cases are in
 * ldap-sign-in.test.ts (D4, D5), email-verification.test.ts and mail-outbox.test.ts; here the point is that the
 * fault stays with the requests that need the faulty service, and that the rest of the console keeps serving.
 * Nothing is judged by the clock: "meanwhile" is the order in which the answers arrive.
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

type Res = { status: number; text: string; headers: Record<string, string> };

/** One request of a burst: its kind, what it is, and how to send it. */
interface BurstRequest {
  kind: "ldap" | "local" | "page";
  label: string;
  send: () => PromiseLike<Res>;
}

/** Sends every request at once; `finished` lists the labels in the order their answers arrived. */
function burst(requests: BurstRequest[]) {
  const finished: string[] = [];
  const answers = requests.map((r) =>
    Promise.resolve(r.send()).then((res) => {
      finished.push(r.label);
      return { ...r, res };
    }),
  );
  return { finished, answers };
}

/** A visitor on the sign-in page (token in hand), ready to send the form. */
async function visitor(): Promise<TestAgent> {
  const agent = new TestAgent(app);
  await agent.refreshToken("/login");
  return agent;
}

/** No attempt was charged to any account or address. */
async function expectNoFailureCounted() {
  for (const row of await failureRows(db)) expect(row, `${row.scope} ${row.key}`).toMatchObject({ failures: 0 });
  expect(await auditEvents(db, "sign_in.failed")).toHaveLength(0);
}

describe.skipIf(skipLdapTests)("the directory down or silent while the console is busy", () => {
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

  const LDAP_PEOPLE = ["alice", "bob", "carol", "zoe", "mallory", "dup"] as const;

  /** A console in use: a signed-in administrator, local accounts, and directory sign-ins that create accounts. */
  async function busyConsole(serverUrl: string) {
    const root = await insertTestAdmin(db, { username: "root" });
    const locals = [root, ...(await Promise.all(["lou", "lea", "len", "lia", "lux"].map((username) => insertTestUser(db, { username }))))];
    await addLdapServer(db, SYSTEM_ACTOR, testKeys, settingsFor(directory, { url: serverUrl }));
    const options = await readLdapOptions(db);
    await saveLdapOptions(db, SYSTEM_ACTOR, options.version, { ...options.value, allowUserCreation: true });
    const admin = await signedInAgent(app, root);
    return { locals, admin };
  }

  function pageLoads(admin: TestAgent, count: number, round = 1): BurstRequest[] {
    const paths = ["/admin/users", "/systems", "/profile", "/admin/teams", "/admin/settings/ldap", "/admin/groups", "/admin/systems", "/healthz", "/readyz"];
    return Array.from({ length: count }, (_, i) => {
      const path = paths[i % paths.length] as string;
      return { kind: "page" as const, label: `page ${round}.${i} ${path}`, send: () => admin.get(path) };
    });
  }

  it("§4 LDAP down: among 20 requests at once, the directory sign-ins answer 503 'directory unavailable' at once (connection refused, no timeout), local sign-ins and pages are served, and no failure is counted", async () => {
    const { locals, admin } = await busyConsole(directory.url);
    const ldapVisitors = await Promise.all(LDAP_PEOPLE.map(() => visitor()));
    const localVisitors = await Promise.all(locals.map(() => visitor()));
    await directory.stop();

    const { answers } = burst([
      ...LDAP_PEOPLE.map((name, i) => ({
        kind: "ldap" as const,
        label: `ldap ${name}`,
        send: () => ldapVisitors[i]!.post("/login", { username: name, password: FIXTURE_USERS[name].password }),
      })),
      ...locals.map((user, i) => ({
        kind: "local" as const,
        label: `local ${user.username}`,
        send: () => localVisitors[i]!.post("/login", { username: user.username, password: user.password }),
      })),
      ...pageLoads(admin, 20 - LDAP_PEOPLE.length - locals.length),
    ]);
    const results = await Promise.all(answers);
    expect(results).toHaveLength(20);
    for (const { kind, label, res } of results) {
      if (kind === "ldap") {
        expect(res.status, label).toBe(503);
        expect(decodeEntities(res.text), label).toContain(DIRECTORY_UNAVAILABLE);
      } else if (kind === "local") {
        expect([res.status, res.headers.location], label).toEqual([303, "/"]);
      } else {
        expect(res.status, label).toBe(200);
      }
    }
    // Refused at once rather than waited for: every server problem is the connection, none a timeout; once two were
    // refused, the server is marked down (src/ldap/circuit-breaker.ts) and later sign-ins skip it.
    const outages = await auditEvents(db, "sign_in.directory_unavailable");
    expect(outages).toHaveLength(LDAP_PEOPLE.length);
    for (const event of outages) expect((event.details as { problems: string[] }).problems).toEqual([expect.stringMatching(/: (connection|down)$/)]);
    expect(outages.filter((event) => (event.details as { problems: string[] }).problems[0]?.endsWith(": connection")).length).toBeGreaterThanOrEqual(2);
    await expectNoFailureCounted();
    expect(await auditEvents(db, "sign_in.succeeded")).toHaveLength(locals.length + 1);

    // Back up: while the breaker still has the server down, it is not asked; once its 30 seconds are over (the
    // breaker's state forgotten here rather than waited for), the same people sign in, and their accounts are made.
    await directory.restart();
    expect((await attemptSignIn(await visitor(), "alice", FIXTURE_USERS.alice.password)).status).toBe(503);
    directoryBreaker.reset();
    for (const name of ["alice", "carol"] as const) expect((await attemptSignIn(await visitor(), name, FIXTURE_USERS[name].password)).status, name).toBe(303);
  });

  it("§4 LDAP silent: the directory sign-ins wait for the operation timeout, and meanwhile every other request of the burst, and a second round sent after it, is answered; then the directory sign-ins answer 503 and no failure is counted", async () => {
    const silent = await TestDirectory.silentPort();
    try {
      const { locals, admin } = await busyConsole(silent.url);
      const people = LDAP_PEOPLE.slice(0, 4);
      const ldapVisitors = await Promise.all(people.map(() => visitor()));
      const localVisitors = await Promise.all(locals.map(() => visitor()));

      const first = burst([
        ...people.map((name, i) => ({
          kind: "ldap" as const,
          label: `ldap ${name}`,
          send: () => ldapVisitors[i]!.post("/login", { username: name, password: FIXTURE_USERS[name].password }),
        })),
        ...locals.map((user, i) => ({
          kind: "local" as const,
          label: `local ${user.username}`,
          send: () => localVisitors[i]!.post("/login", { username: user.username, password: user.password }),
        })),
        ...pageLoads(admin, 20 - people.length - locals.length),
      ]);
      const others = await Promise.all(first.answers.filter((_, i) => i >= people.length));
      for (const { kind, label, res } of others) {
        if (kind === "local") expect([res.status, res.headers.location], label).toEqual([303, "/"]);
        else expect(res.status, label).toBe(200);
      }
      // While the directory sign-ins still wait, a second round of pages is served too.
      const second = burst(pageLoads(admin, 9, 2));
      for (const { label, res } of await Promise.all(second.answers)) expect(res.status, label).toBe(200);
      expect(first.finished.filter((label) => label.startsWith("ldap"))).toEqual([]);

      const directorySignIns = await Promise.all(first.answers.slice(0, people.length));
      for (const { label, res } of directorySignIns) {
        expect(res.status, label).toBe(503);
        expect(decodeEntities(res.text), label).toContain(DIRECTORY_UNAVAILABLE);
      }
      // Every other answer of the burst came before the first directory answer.
      const firstLdap = first.finished.findIndex((label) => label.startsWith("ldap"));
      expect(firstLdap).toBe(20 - people.length);
      expect(silent.connections()).toBeGreaterThanOrEqual(people.length);
      const outages = await auditEvents(db, "sign_in.directory_unavailable");
      expect(outages).toHaveLength(people.length);
      for (const event of outages) expect((event.details as { problems: string[] }).problems).toEqual([expect.stringMatching(/: timeout$/)]);
      await expectNoFailureCounted();
      expect(await rowCount(db, "users", { auth_source: "ldap" })).toBe(0);
    } finally {
      await silent.close();
    }
  }, 60_000);
});

describe("the mail server down while codes are being sent", () => {
  const VERIFICATION = "[AUTH] Gatehouse verification code";
  const CHANGE_NOTICE = "[AUTH] Gatehouse email change requested";
  const RESET = "[AUTH] Gatehouse Password Reset";
  const SIGN_IN_CODE = "[AUTH] Gatehouse sign-in code";
  const NEW_PASSWORD = "lighthouse keeper breakfast 93";

  async function verifiedUser(username: string, extra: Record<string, unknown> = {}) {
    const user = await insertTestUser(db, { username, email: `${username}@example.test` });
    await db("users")
      .where({ id: user.id })
      .update({ email_verified: true, ...extra });
    return user;
  }

  it("§4 SMTP down: 20 requests at once (new addresses, two-factor sign-ins, forgot password, new users, pages): each is answered with a clear word, nothing is lost, and once the server is back every message is delivered exactly once and its code works", async () => {
    const root = await insertTestAdmin(db, { username: "root", email: "root@example.test" });
    const admin = await signedInAgent(app, root);
    // Three people changing their address on the Profile (five code sends an hour per address is the limit).
    const changers = await Promise.all(["ann", "ben", "cat"].map((u) => verifiedUser(u)));
    const changerAgents = await Promise.all(changers.map((u) => signedInAgent(app, u)));
    // Two people with emailed sign-in codes, three who forgot their password.
    const twoFactor = await Promise.all(["dov", "eve"].map((u) => verifiedUser(u, { two_factor_method: "email" })));
    const twoFactorAgents = await Promise.all(twoFactor.map(() => visitor()));
    const forgetful = await Promise.all(["fay", "gus", "hal"].map((u) => verifiedUser(u)));
    const forgotAgents = await Promise.all(forgetful.map(async () => {
      const agent = new TestAgent(app);
      await agent.refreshToken("/forgot-password");
      return agent;
    }));
    // Two administrators' sessions creating a user each.
    const creators = [admin, await signedInAgent(app, root)];
    const readers = await Promise.all(["kim", "lee"].map((u) => insertTestUser(db, { username: u })));
    const viewers = await Promise.all([
      ...Array.from({ length: 5 }, () => signedInAgent(app, root)),
      ...Array.from({ length: 5 }, (_, i) => signedInAgent(app, readers[i % 2]!)),
    ]);
    await mailServer.stop();

    const newAddress = (u: { username: string }) => `${u.username}.new@example.test`;
    const requests = [
      ...changers.map((u, i) => ({
        kind: "profile",
        label: u.username,
        send: () => changerAgents[i]!.post("/profile", { fullName: u.fullName, title: "", email: newAddress(u), phone: "" }),
      })),
      ...twoFactor.map((u, i) => ({
        kind: "two-factor",
        label: u.username,
        send: () => twoFactorAgents[i]!.post("/login", { username: u.username, password: u.password }),
      })),
      ...forgetful.map((u, i) => ({
        kind: "forgot",
        label: u.username,
        send: () => forgotAgents[i]!.post("/forgot-password", { username: u.username, email: u.email ?? "" }),
      })),
      ...["ivy", "jon"].map((username, i) => ({
        kind: "new user",
        label: username,
        send: () =>
          creators[i]!.post("/admin/users", {
            username,
            fullName: username,
            title: "",
            email: `${username}@example.test`,
            phone: "",
            authSource: "local",
            password: NEW_PASSWORD,
            confirmPassword: NEW_PASSWORD,
          }),
      })),
      // Pages, each from a session of its own (two requests of one session at once would race for its flash).
      ...["/admin/users", "/admin/settings/smtp", "/profile", "/admin/teams", "/healthz"].map((path, i) => ({
        kind: "page",
        label: path,
        send: () => viewers[i]!.get(path),
      })),
      ...["/systems", "/profile", "/systems", "/profile", "/systems"].map((path, i) => ({
        kind: "page",
        label: `${path} of a user`,
        send: () => viewers[5 + i]!.get(path),
      })),
    ];
    expect(requests).toHaveLength(20);
    const results = await Promise.all(requests.map(async (r) => ({ ...r, res: (await r.send()) as Res })));
    // What a request kicked off in the background (sending what it queued) has finished too.
    await mailOutbox.drain();

    for (const { kind, label, res } of results) {
      if (kind === "page") expect(res.status, label).toBe(200);
      else if (kind === "forgot") {
        // The same answer as ever: whether a mail could be sent says nothing about the account.
        expect(res.status, label).toBe(200);
        expect(pageText(res.text), label).toContain(FORGOT_PASSWORD_ANSWER);
      } else expect([res.status, label]).toEqual([303, label]);
    }
    for (const [i, u] of changers.entries()) {
      const flash = flashText((await changerAgents[i]!.get("/profile")).text);
      expect(flash, u.username).toContain("Profile saved.");
      expect(flash, u.username).toMatch(new RegExp(`The confirmation code could not be sent to ${u.username}\\.new@example\\.test yet: .+ Gatehouse will keep trying`));
      expect(await db("users").where({ id: u.id }).first("email", "email_verified", "pending_email"), u.username).toEqual({
        email: u.email,
        email_verified: true,
        pending_email: newAddress(u),
      });
    }
    for (const [i, u] of twoFactor.entries()) {
      const codePage = await twoFactorAgents[i]!.get("/login/code");
      expect(codePage.status, u.username).toBe(200);
      expect(pageText(codePage.text), u.username).toContain("The code could not be sent right now. Gatehouse keeps trying");
    }
    for (const [i, username] of ["ivy", "jon"].entries())
      expect(flashText((await creators[i]!.get("/admin/users")).text), username).toMatch(
        new RegExp(`User ${username} created\\. The confirmation code could not be sent to ${username}@example\\.test yet: .+ Gatehouse will keep trying`),
      );

    // Nothing was lost: every message waits in the outbox, none was given up on, none went out.
    const expected: [string, string][] = [
      ...changers.flatMap((u): [string, string][] => [
        [newAddress(u), VERIFICATION],
        [u.email ?? "", CHANGE_NOTICE],
      ]),
      ...twoFactor.map((u): [string, string] => [u.email ?? "", SIGN_IN_CODE]),
      ...forgetful.map((u): [string, string] => [u.email ?? "", RESET]),
      ...["ivy", "jon"].map((u): [string, string] => [`${u}@example.test`, VERIFICATION]),
    ];
    const waiting = await outbox.listRecent(db, 100);
    expect(waiting.map((m) => [m.to, m.subject]).sort()).toEqual([...expected].sort());
    for (const m of waiting) expect([m.status, m.attempts > 0, Boolean(m.lastError)], `${m.to} ${m.subject}`).toEqual(["queued", true, true]);
    expect(mailServer.messages).toHaveLength(0);

    // Back up. Two instances send what is due at the same moment, then again: each message arrives once.
    await mailServer.restart();
    expect(await outbox.makeQueuedDue(db)).toBe(expected.length);
    const other = createTestAppParts(db).mailOutbox;
    await Promise.all([mailOutbox.drain(), other.drain()]);
    await outbox.makeQueuedDue(db);
    await Promise.all([mailOutbox.drain(), other.drain()]);
    expect(mailServer.messages.map((m) => [m.envelopeTo.join(","), m.subject]).sort()).toEqual([...expected].sort());
    for (const m of await outbox.listRecent(db, 100)) expect(m.status, `${m.to} ${m.subject}`).toBe("sent");

    // And the codes that arrived late work.
    for (const [i, u] of changers.entries()) {
      const mail = mailServer.to(newAddress(u)).find((m) => m.subject === VERIFICATION);
      const confirmed = await changerAgents[i]!.post("/profile/email/confirm", { confirmationCode: codeIn(mail!) });
      expect(confirmed.status, u.username).toBe(303);
      expect(await db("users").where({ id: u.id }).first("email", "email_verified"), u.username).toEqual({ email: newAddress(u), email_verified: true });
    }
    for (const [i, u] of twoFactor.entries()) {
      const agent = twoFactorAgents[i]!;
      await agent.refreshToken("/login/code");
      const mail = mailServer.to(u.email ?? "").find((m) => m.subject === SIGN_IN_CODE);
      const verified = await agent.post("/login/code", { code: codeIn(mail!) });
      expect([verified.status, verified.headers.location], u.username).toEqual([303, "/"]);
    }
    for (const u of forgetful) {
      const mail = mailServer.to(u.email ?? "").find((m) => m.subject === RESET);
      const code = new URLSearchParams(/\/login#(\S+)/.exec(mail?.text ?? "")?.[1] ?? "").get("reset") ?? "";
      const signIn = await attemptSignIn(new TestAgent(app), u.username, code);
      expect(signIn.headers.location, u.username).toBe("/login/new-password");
    }
  }, 60_000);
});
