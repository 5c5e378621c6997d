import { existsSync } from "node:fs";
import ldap, { type Client, type ClientOptions } from "ldapjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  canConnect,
  escapeFilterValue,
  FIXTURE_GROUPS,
  FIXTURE_USERS,
  ldifLine,
  SPECIAL_UID,
  skipLdapTests,
  TestDirectory,
} from "../helpers/ldap.ts";

/** Self-check of the test directory harness (test/helpers/ldap.ts): not of Gatehouse. */

interface Entry {
  dn: string;
  attrs: Record<string, string[]>;
}

/** Connects (resolving on "connect", rejecting on any connection failure), with short timeouts. */
function connect(options: Partial<ClientOptions> & { url: string }): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = ldap.createClient({ connectTimeout: 2000, timeout: 2000, ...options });
    const fail = (error: unknown) => {
      client.destroy();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    client.on("error", fail);
    client.once("connectError", fail);
    client.once("connectRefused", fail);
    client.once("connectTimeout", fail);
    client.once("setupError", fail);
    client.once("connect", () => {
      client.removeListener("error", fail);
      client.on("error", () => undefined);
      resolve(client);
    });
  });
}

function bind(client: Client, dn: string, password: string): Promise<void> {
  return new Promise((resolve, reject) => client.bind(dn, password, (error) => (error ? reject(error) : resolve())));
}

function search(client: Client, base: string, options: ldap.SearchOptions): Promise<Entry[]> {
  return new Promise((resolve, reject) => {
    client.search(base, { scope: "sub", ...options }, (error, res) => {
      if (error) return reject(error);
      const entries: Entry[] = [];
      res.on("searchEntry", (entry) => {
        const { objectName, attributes } = entry.pojo;
        entries.push({ dn: objectName, attrs: Object.fromEntries(attributes.map((a) => [a.type, a.values])) });
      });
      res.on("error", reject);
      res.on("end", () => resolve(entries));
    });
  });
}

function unbind(client: Client): Promise<void> {
  return new Promise((resolve) => {
    client.unbind(() => {
      client.destroy();
      resolve();
    });
  });
}

/** Connects, binds, runs `fn`, always disconnects. */
async function withClient<T>(options: Partial<ClientOptions> & { url: string }, dn: string, password: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = await connect(options);
  try {
    await bind(client, dn, password);
    return await fn(client);
  } finally {
    await unbind(client);
  }
}

async function canBind(url: string, dn: string, password: string): Promise<boolean> {
  const client = await connect({ url });
  try {
    await bind(client, dn, password);
    return true;
  } catch (error) {
    if ((error as Error).name === "InvalidCredentialsError") return false;
    throw error;
  } finally {
    await unbind(client);
  }
}

const sameDn = (a: string, b: string) => ldap.parseDN(a).equals(b);

describe.skipIf(skipLdapTests)("test directory (slapd harness)", () => {
  let dir: TestDirectory;

  beforeAll(async () => {
    dir = await TestDirectory.start({ tls: true });
  });

  afterAll(async () => {
    await dir?.close();
  });

  it("lets the service account find alice, with her attributes and an entryUUID", async () => {
    const entries = await withClient({ url: dir.url }, dir.bindDn, dir.bindPassword, (c) =>
      search(c, dir.peopleBase, { filter: "(uid=alice)", attributes: ["uid", "cn", "mail", "entryUUID", "userPassword"] }),
    );
    expect(entries).toHaveLength(1);
    const [alice] = entries;
    expect(alice?.dn).toBe(FIXTURE_USERS.alice.dn);
    expect(alice?.attrs.cn).toEqual([FIXTURE_USERS.alice.cn]);
    expect(alice?.attrs.mail).toEqual([FIXTURE_USERS.alice.mail]);
    expect(alice?.attrs.entryUUID?.[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(alice?.attrs.entryUUID?.[0]).toBe(await dir.entryUuid(FIXTURE_USERS.alice.dn));
    // Nobody, the service account included, reads passwords.
    expect(alice?.attrs.userPassword).toBeUndefined();
  });

  it("refuses anonymous search unless asked for", async () => {
    const client = await connect({ url: dir.url });
    try {
      // slapd hides what anonymous may not read: the base itself is "No Such Object".
      await expect(search(client, dir.peopleBase, { filter: "(uid=alice)" })).rejects.toThrow(/no such object/i);
    } finally {
      await unbind(client);
    }
  });

  it("binds every fixture user with the documented password, and refuses a wrong one", async () => {
    for (const user of Object.values(FIXTURE_USERS)) {
      expect(await canBind(dir.url, user.dn, user.password), user.username).toBe(true);
    }
    expect(await canBind(dir.url, FIXTURE_USERS.alice.dn, "wrong-password")).toBe(false);
    // zoe's password only works exactly as stored: not normalised to NFC, not trimmed.
    const zoe = FIXTURE_USERS.zoe.password;
    expect(await canBind(dir.url, FIXTURE_USERS.zoe.dn, zoe.normalize("NFC"))).toBe(false);
    expect(await canBind(dir.url, FIXTURE_USERS.zoe.dn, zoe.trim())).toBe(false);
  });

  it("answers a DN with an empty password as an anonymous (unauthenticated) bind, like Active Directory", async () => {
    expect(await canBind(dir.url, FIXTURE_USERS.alice.dn, "")).toBe(true);
  });

  it("holds the fixture's cn, mail and groups as FIXTURE_USERS and FIXTURE_GROUPS document them", async () => {
    await withClient({ url: dir.url }, dir.bindDn, dir.bindPassword, async (c) => {
      const people = await search(c, dir.peopleBase, { filter: "(objectClass=inetOrgPerson)", attributes: ["uid", "cn", "mail"] });
      expect(people.map((p) => p.attrs.uid?.[0]).sort()).toEqual(Object.keys(FIXTURE_USERS).sort());
      for (const p of people) {
        const user = Object.values(FIXTURE_USERS).find((u) => u.username === p.attrs.uid?.[0]);
        expect(user, p.dn).toBeDefined();
        expect(sameDn(p.dn, user!.dn), p.dn).toBe(true);
        expect(p.attrs.cn).toEqual([user!.cn]);
        expect(p.attrs.mail).toEqual([user!.mail]);
      }
      for (const group of Object.values(FIXTURE_GROUPS)) {
        const [entry] = await search(c, group.dn, { scope: "base", attributes: ["objectClass", group.memberAttribute] });
        expect(entry?.attrs.objectClass).toContain(group.objectClass);
        const values = entry?.attrs[group.memberAttribute] ?? [];
        const expected = group.members.map((m) => (group.memberAttribute === "memberUid" ? m : FIXTURE_USERS[m].dn));
        expect(values.length, group.cn).toBe(expected.length);
        for (const value of expected) {
          expect(values.some((v) => (group.memberAttribute === "memberUid" ? v === value : sameDn(v, value))), `${group.cn}: ${value}`).toBe(true);
        }
      }
      for (const user of Object.values(FIXTURE_USERS)) {
        const memberOf = Object.values(FIXTURE_GROUPS)
          .filter((g) => (g.members as readonly string[]).includes(user.username))
          .map((g) => g.cn);
        expect([...user.groups].sort(), user.username).toEqual(memberOf.sort());
      }
      // D2: one filter, two entries.
      expect(await search(c, dir.peopleBase, { filter: "(|(uid=dup@example.test)(mail=dup@example.test))", attributes: ["uid"] })).toHaveLength(2);
    });
  });

  it("finds the user whose uid has DN special characters through a properly escaped filter", async () => {
    const expected = FIXTURE_USERS[SPECIAL_UID];
    // ldapsearch takes an RFC 4515 string (nothing in this uid needs escaping there, but escape it anyway).
    const viaCli = await dir.search(`(uid=${escapeFilterValue(SPECIAL_UID)})`, ["uid"], dir.peopleBase);
    expect(viaCli.map((e) => e.dn)).toEqual([expected.dn]);
    expect(viaCli[0]?.attributes.uid).toEqual([SPECIAL_UID]);
    // ldapjs: a filter object carries the raw value (ldapjs 3 does not decode \xx escapes in filter strings).
    const viaLdapjs = await withClient({ url: dir.url }, dir.bindDn, dir.bindPassword, (c) =>
      search(c, dir.peopleBase, { filter: new ldap.EqualityFilter({ attribute: "uid", value: SPECIAL_UID }), attributes: ["uid"] }),
    );
    expect(viaLdapjs).toHaveLength(1);
    expect(sameDn(viaLdapjs[0]!.dn, expected.dn)).toBe(true);
    // Binding with the DN exactly as ldapjs returned it works.
    expect(await canBind(dir.url, viaLdapjs[0]!.dn, expected.password)).toBe(true);
  });

  it("adds, changes and deletes entries as the rootdn", async () => {
    const dn = `uid=temp,${dir.peopleBase}`;
    await dir.addEntry(
      [`dn: ${dn}`, "objectClass: inetOrgPerson", "uid: temp", ldifLine("cn", "Tëmp User"), "sn: User", ldifLine("userPassword", " first "), ""].join("\n"),
    );
    expect(await canBind(dir.url, dn, " first ")).toBe(true);
    const [added] = await dir.search("(uid=temp)", ["cn"]);
    expect(added?.attributes.cn).toEqual(["Tëmp User"]);

    await dir.setPassword(dn, "second");
    expect(await canBind(dir.url, dn, " first ")).toBe(false);
    expect(await canBind(dir.url, dn, "second")).toBe(true);

    await dir.modify(`dn: ${FIXTURE_GROUPS.unmapped.dn}\nchangetype: modify\nadd: member\nmember: ${dn}\n-\n`);
    const [group] = await dir.search("(objectClass=*)", ["member"], FIXTURE_GROUPS.unmapped.dn);
    expect(group?.attributes.member).toContain(dn);
    await dir.modify(`dn: ${FIXTURE_GROUPS.unmapped.dn}\nchangetype: modify\ndelete: member\nmember: ${dn}\n-\n`);

    await dir.deleteEntry(dn);
    expect(await dir.search("(uid=temp)")).toEqual([]);
    await expect(dir.addEntry("dn: uid=nope,ou=nowhere,dc=example,dc=test\nobjectClass: account\nuid: nope\n")).rejects.toThrow(/No such object/);
  });

  it("speaks TLS: ldaps and StartTLS with the right CA, and refuses an unrelated CA", async () => {
    expect(await withClient({ url: dir.ldapsUrl, tlsOptions: { ca: [dir.caPem] } }, dir.bindDn, dir.bindPassword, async () => true)).toBe(true);
    await expect(connect({ url: dir.ldapsUrl, tlsOptions: { ca: [dir.otherCaPem] } })).rejects.toThrow(/certificate/i);
    // No CA given: Node's default trust store does not know ours either.
    await expect(connect({ url: dir.ldapsUrl })).rejects.toThrow(/certificate/i);
    // localhost is in the certificate too.
    expect(await withClient({ url: dir.ldapsUrl.replace("127.0.0.1", "localhost"), tlsOptions: { ca: [dir.caPem] } }, dir.bindDn, dir.bindPassword, async () => true)).toBe(true);

    const client = await connect({ url: dir.url });
    try {
      await new Promise<void>((resolve, reject) => client.starttls({ ca: [dir.caPem] }, [], (error) => (error ? reject(error) : resolve())));
      await bind(client, FIXTURE_USERS.carol.dn, FIXTURE_USERS.carol.password);
    } finally {
      await unbind(client);
    }
    const wrong = await connect({ url: dir.url });
    try {
      await expect(
        new Promise<void>((resolve, reject) => wrong.starttls({ ca: [dir.otherCaPem] }, [], (error) => (error ? reject(error) : resolve()))),
      ).rejects.toThrow(/certificate/i);
    } finally {
      wrong.destroy();
    }
  });

  it("stop() refuses connections, restart() serves the same data on the same ports", async () => {
    const uuid = await dir.entryUuid(FIXTURE_USERS.alice.dn);
    await dir.stop();
    expect(dir.running).toBe(false);
    expect(await canConnect(dir.port)).toBe(false);
    expect(await canConnect(dir.ldapsPort)).toBe(false);
    await expect(connect({ url: dir.url })).rejects.toThrow();

    await dir.restart();
    expect(dir.running).toBe(true);
    expect(await canBind(dir.url, FIXTURE_USERS.alice.dn, FIXTURE_USERS.alice.password)).toBe(true);
    expect(await dir.entryUuid(FIXTURE_USERS.alice.dn)).toBe(uuid);
  });

  it("silentPort accepts TCP and never answers, so an ldapjs bind times out", async () => {
    const silent = await TestDirectory.silentPort();
    try {
      const client = await connect({ url: silent.url, connectTimeout: 1000, timeout: 1000 });
      const started = Date.now();
      try {
        await expect(bind(client, FIXTURE_USERS.alice.dn, FIXTURE_USERS.alice.password)).rejects.toThrow(/timeout|timed out/i);
      } finally {
        client.destroy();
      }
      expect(Date.now() - started).toBeLessThan(3000);
      expect(silent.connections()).toBe(1);
    } finally {
      await silent.close();
    }
  });

  it("refusedUrl refuses connections", async () => {
    await expect(connect({ url: await TestDirectory.refusedUrl() })).rejects.toThrow();
  });

  it("close() removes the temporary directory", async () => {
    const other = await TestDirectory.start({ allowUnauthenticatedBind: false, anonymousSearch: true });
    try {
      expect(existsSync(other.dataDir)).toBe(true);
      expect(await canBind(other.url, FIXTURE_USERS.alice.dn, "").catch((e: Error) => e.name)).toBe("UnwillingToPerformError");
      const anonymous = await connect({ url: other.url });
      try {
        expect(await search(anonymous, other.peopleBase, { filter: "(uid=bob)", attributes: ["uid"] })).toHaveLength(1);
      } finally {
        await unbind(anonymous);
      }
    } finally {
      await other.close();
    }
    expect(existsSync(other.dataDir)).toBe(false);
    expect(await canConnect(other.port)).toBe(false);
  });
});
