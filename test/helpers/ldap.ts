import type { LdapServerInput } from "../../src/services/ldap-settings.ts";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net, { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { unsharedPort } from "./ports.ts";

/**
 * A real OpenLDAP directory for tests: a throwaway slapd (mdb backend) on free loopback ports, with a generated
 * slapd.conf and test/fixtures/ldap/directory.ldif loaded by slapadd, all under a temporary directory. No root, no
 * system service. Where slapd (or ldap-utils) is not installed the LDAP tests are skipped with a loud notice,
 * except under CI=true, where they fail: CI never skips.
 *
 *   describe.skipIf(skipLdapTests)("…", () => {
 *     let dir: TestDirectory;
 *     beforeAll(async () => { dir = await TestDirectory.start(); });
 *     afterAll(() => dir?.close());
 *   });
 */

export const SLAPD_PATH = "/usr/sbin/slapd";
const SLAPADD_PATH = "/usr/sbin/slapadd";
const LDAPMODIFY_PATH = "/usr/bin/ldapmodify";
const LDAPSEARCH_PATH = "/usr/bin/ldapsearch";
const OPENSSL = "openssl";
const SCHEMA_DIR = "/etc/ldap/schema";
const MODULE_DIR = "/usr/lib/ldap";

export const FIXTURE_LDIF = fileURLToPath(new URL("../fixtures/ldap/directory.ldif", import.meta.url));

export const BASE_DN = "dc=example,dc=test";
export const PEOPLE_BASE = `ou=people,${BASE_DN}`;
export const GROUP_BASE = `ou=groups,${BASE_DN}`;
export const SERVICE_BIND_DN = `cn=gatehouse,ou=services,${BASE_DN}`;
export const SERVICE_BIND_PASSWORD = "service-secret";
/** slapd.conf's rootdn: bypasses every ACL. The helpers below change the directory as this DN. */
export const ROOT_DN = `cn=admin,${BASE_DN}`;
export const ROOT_PASSWORD = "root-secret";

/** The uid made of the characters RFC 4514 makes you escape in a DN (docs/security.md D3). */
export const SPECIAL_UID = 'd,e+f=g"h<i>j;k';

export interface FixtureUser {
  /** The uid, which is also the key in FIXTURE_USERS. */
  readonly username: string;
  readonly password: string;
  /** The DN as slapd returns it. ldapjs re-encodes escapes (e.g. `d\2ce…`): compare DNs parsed, or by entryUUID. */
  readonly dn: string;
  readonly cn: string;
  readonly mail: string;
  /** cn of every group that lists the user (member, uniqueMember or memberUid). */
  readonly groups: readonly string[];
  /** Why the fixture has this user. */
  readonly purpose: string;
}

function person(username: string, rdnValue: string, rest: Omit<FixtureUser, "username" | "dn">): FixtureUser {
  return { username, dn: `uid=${rdnValue},${PEOPLE_BASE}`, ...rest };
}

/** Every person in directory.ldif, by uid. Keep in step with the LDIF's header comment. */
export const FIXTURE_USERS = {
  alice: person("alice", "alice", {
    password: "alice-password",
    cn: "Alice Archer",
    mail: "alice@example.test",
    groups: ["operators"],
    purpose: "a plain user",
  }),
  bob: person("bob", "bob", {
    password: "bob-password",
    cn: "Bob Baker",
    mail: "bob@example.test",
    groups: ["unmapped"],
    purpose: "a plain user whose only group is mapped by nothing",
  }),
  carol: person("carol", "carol", {
    password: "carol-password",
    cn: "Carol Carter",
    mail: "carol@example.test",
    groups: ["operators", "storage"],
    purpose: "two mapped groups: operators (groupOfNames) and storage (groupOfUniqueNames)",
  }),
  zoe: person("zoe", "zoe", {
    // NFD accents and a trailing space: only works when the password is neither normalised nor trimmed.
    password: "Zoe\u0301 pa\u0301ss ",
    cn: "Zo\u00eb \u00c5ngstr\u00f6m",
    mail: "zoe@example.test",
    groups: ["developers"],
    purpose: "non-ASCII cn; password with combining accents and a trailing space; posixGroup member",
  }),
  [SPECIAL_UID]: person(SPECIAL_UID, "d\\2Ce\\2Bf\\3Dg\\22h\\3Ci\\3Ej\\3Bk", {
    password: "special-password",
    cn: "Special Characters",
    mail: "special@example.test",
    groups: ["operators"],
    purpose: "D3: a uid with , + = \" < > ; (escaped in its DN)",
  }),
  mallory: person("mallory", "mallory", {
    password: "mallory-password",
    cn: "<img src=x onerror=alert(1)>",
    mail: "mallory@example.test",
    groups: [],
    purpose: "D8: markup in cn and displayName",
  }),
  admin: person("admin", "admin", {
    password: "ldap-admin-password",
    cn: "Directory Admin",
    mail: "admin@example.test",
    groups: [],
    purpose: "L11: the same name as a local administrator",
  }),
  dup: person("dup", "dup", {
    password: "dup-password",
    cn: "Dup One",
    mail: "dup@example.test",
    groups: [],
    purpose: "D2: shares mail dup@example.test with dup-shadow",
  }),
  "dup-shadow": person("dup-shadow", "dup-shadow", {
    password: "dup-shadow-password",
    cn: "Dup Shadow",
    mail: "dup@example.test",
    groups: [],
    purpose: "D2: (mail=dup@example.test) and (|(uid=…)(mail=…)) with dup@example.test match two entries",
  }),
} as const satisfies Record<string, FixtureUser>;

export type FixtureUsername = keyof typeof FIXTURE_USERS;

export interface FixtureGroup {
  readonly cn: string;
  readonly dn: string;
  readonly objectClass: "groupOfNames" | "groupOfUniqueNames" | "posixGroup";
  /** The membership attribute: member and uniqueMember hold DNs, memberUid holds uids. */
  readonly memberAttribute: "member" | "uniqueMember" | "memberUid";
  /** uids of the members. */
  readonly members: readonly FixtureUsername[];
}

export const FIXTURE_GROUPS = {
  operators: {
    cn: "operators",
    dn: `cn=operators,${GROUP_BASE}`,
    objectClass: "groupOfNames",
    memberAttribute: "member",
    members: ["alice", "carol", SPECIAL_UID],
  },
  storage: {
    cn: "storage",
    dn: `cn=storage,${GROUP_BASE}`,
    objectClass: "groupOfUniqueNames",
    memberAttribute: "uniqueMember",
    members: ["carol"],
  },
  developers: {
    cn: "developers",
    dn: `cn=developers,${GROUP_BASE}`,
    objectClass: "posixGroup",
    memberAttribute: "memberUid",
    members: ["zoe"],
  },
  unmapped: {
    cn: "unmapped",
    dn: `cn=unmapped,${GROUP_BASE}`,
    objectClass: "groupOfNames",
    memberAttribute: "member",
    members: ["bob"],
  },
} as const satisfies Record<string, FixtureGroup>;

// ---------------------------------------------------------------------------------------------------------------
// Skip or fail when slapd is missing (same rule as test/browser/browser.ts for Chromium).

const missingTools = [SLAPD_PATH, SLAPADD_PATH, LDAPMODIFY_PATH, LDAPSEARCH_PATH].filter((p) => !existsSync(p));
const onCi = process.env.CI === "true";

/** True when the LDAP tests should be skipped (slapd or ldap-utils missing, and not on CI). Use with describe.skipIf. */
export const skipLdapTests = missingTools.length > 0 && !onCi;

if (skipLdapTests) {
  console.warn(
    [
      "",
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
      `!!  LDAP TESTS SKIPPED: missing ${missingTools.join(", ")}.`,
      "!!  Install them (apt-get install -y slapd ldap-utils) to run them. Under CI=true they fail instead.",
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
      "",
    ].join("\n"),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Small utilities.

interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a program (no shell), optionally feeding `input` on stdin; rejects with its stderr on a non-zero exit. */
function run(file: string, args: string[], options: { input?: string; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      // LDAPNOINIT: ignore /etc/ldap/ldap.conf, ~/.ldaprc and LDAP* variables, so nothing local changes the result.
      { cwd: options.cwd, env: { ...process.env, LDAPNOINIT: "1" }, maxBuffer: 16 * 1024 * 1024, timeout: 20_000 },
      (error, stdout, stderr) => {
        if (error) {
          const shown = [file, ...args.map((a) => (a.includes(" ") ? JSON.stringify(a) : a))].join(" ");
          reject(new Error(`${shown} failed (${error.code ?? error.signal ?? error.message}):\n${stderr || stdout}`.trimEnd()));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(options.input ?? "");
  });
}

/**
 * A TCP port that was free on 127.0.0.1 a moment ago, and that the kernel hands out to nobody else (ports.ts): slapd
 * binds it after slapadd has run, restart() binds it again, and refusedUrl() needs it to stay closed.
 */
export function freePort(): Promise<number> {
  return unsharedPort();
}

/** Whether something accepts TCP connections on 127.0.0.1:port right now. */
export function canConnect(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One `attr: value` LDIF line, base64-encoded (`attr:: …`) whenever RFC 2849 requires it: non-ASCII, a leading
 * space, colon or "<", a trailing space, or a control character. Use it to build LDIF for addEntry/modify.
 */
export function ldifLine(attribute: string, value: string): string {
  const codes = [...value].map((c) => c.codePointAt(0) ?? 0);
  const safe =
    codes.every((c) => c > 0 && c < 0x80 && c !== 0x0a && c !== 0x0d) && !/^[ :<]/.test(value) && !value.endsWith(" ");
  return safe ? `${attribute}: ${value}` : `${attribute}:: ${Buffer.from(value, "utf8").toString("base64")}`;
}

/** Escapes a value for an RFC 4515 filter string (`*`, `(`, `)`, `\` and NUL), e.g. for ldapsearch. */
export function escapeFilterValue(value: string): string {
  return value.replace(/[*()\\\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export interface DirectoryEntry {
  dn: string;
  /** Attribute names as slapd returned them; values decoded from base64 where the LDIF used `::`. */
  attributes: Record<string, string[]>;
}

/** Parses ldapsearch -LLL output (unwrapped or wrapped, `:` or `::` values). */
function parseLdif(text: string): DirectoryEntry[] {
  const entries: DirectoryEntry[] = [];
  const unfolded = text.replace(/\r?\n /g, "");
  for (const block of unfolded.split(/\n{2,}/)) {
    let entry: DirectoryEntry | undefined;
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      const match = /^([^:]+)(::?) ?(.*)$/.exec(line);
      if (!match) continue;
      const [, name = "", sep, raw = ""] = match;
      const value = sep === "::" ? Buffer.from(raw, "base64").toString("utf8") : raw;
      if (name === "dn") {
        entry = { dn: value, attributes: {} };
        entries.push(entry);
      } else if (entry) {
        const values = entry.attributes[name] ?? [];
        values.push(value);
        entry.attributes[name] = values;
      }
    }
  }
  return entries;
}

// ---------------------------------------------------------------------------------------------------------------
// Process bookkeeping: every slapd we start runs in its own process group, killed when this process exits.

const liveGroups = new Set<number>();
/** Temporary directories of TestDirectory instances not closed yet: removed when this process exits. */
const openDataDirs = new Set<string>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const group of liveGroups) killGroup(group, "SIGKILL");
    for (const dir of openDataDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * Runs slapd in the background and a watcher that reads our pipe: when the pipe closes (stop(), or this Node
 * process dying in any way, even SIGKILL) the watcher sends slapd SIGTERM. The shell exits with slapd's status.
 */
const WRAPPER = `
exec 3<&0
"$@" </dev/null &
child=$!
( read -r _ <&3; kill -TERM "$child" 2>/dev/null ) &
watcher=$!
wait "$child"
status=$?
kill "$watcher" 2>/dev/null
exit "$status"
`;

// ---------------------------------------------------------------------------------------------------------------

export interface TestDirectoryOptions {
  /** Generate a CA and a server certificate, serve ldaps:// on a second port and StartTLS on the ldap:// one. */
  tls?: boolean;
  /**
   * Let a bind with a DN and an empty password succeed as anonymous (slapd `allow bind_anon_dn`), the way Active
   * Directory answers it (RFC 4513 §5.1.2; docs/security.md §2.1). Default true, so a client that forwards an empty
   * password would be "signed in": the trap docs/security.md L1 tests against. false: slapd refuses such binds (53).
   */
  allowUnauthenticatedBind?: boolean;
  /** Let anonymous clients read (search) the directory, for "anonymous search" settings. Default false. */
  anonymousSearch?: boolean;
  /** The LDIF to load instead of test/fixtures/ldap/directory.ldif (must live under dc=example,dc=test). */
  ldif?: string;
}

interface TlsMaterial {
  caPem: string;
  otherCaPem: string;
  ldapsPort: number;
}

export class TestDirectory {
  readonly baseDn = BASE_DN;
  readonly peopleBase = PEOPLE_BASE;
  readonly groupBase = GROUP_BASE;
  /** The service account Gatehouse searches as. */
  readonly bindDn = SERVICE_BIND_DN;
  readonly bindPassword = SERVICE_BIND_PASSWORD;
  readonly rootDn = ROOT_DN;
  readonly rootPassword = ROOT_PASSWORD;
  /** ldap://127.0.0.1:<port> (StartTLS also offered there when started with tls). */
  readonly url: string;

  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private stderrTail = "";
  private closed = false;

  private constructor(
    /** The temporary directory holding slapd.conf, the database, certificates and logs. */
    readonly dataDir: string,
    readonly port: number,
    private readonly confFile: string,
    private readonly tlsMaterial: TlsMaterial | undefined,
  ) {
    this.url = `ldap://127.0.0.1:${port}`;
  }

  /** Whether slapd, slapadd, ldapmodify and ldapsearch are installed. */
  static get slapdAvailable(): boolean {
    return missingTools.length === 0;
  }

  static async start(options: TestDirectoryOptions = {}): Promise<TestDirectory> {
    if (!TestDirectory.slapdAvailable) {
      throw new Error(
        `Cannot start a test directory: missing ${missingTools.join(", ")} (apt-get install -y slapd ldap-utils).` +
          (onCi ? " With CI=true the LDAP tests must run, so this fails." : ""),
      );
    }
    const dataDir = await mkdtemp(path.join(tmpdir(), "gatehouse-ldap-"));
    installExitHook();
    openDataDirs.add(dataDir);
    try {
      const dbDir = path.join(dataDir, "db");
      await mkdir(dbDir);
      const port = await freePort();
      let tls: TlsMaterial | undefined;
      if (options.tls) {
        const { caPem, otherCaPem } = await makeCertificates(dataDir);
        tls = { caPem, otherCaPem, ldapsPort: await freePort() };
      }
      const confFile = path.join(dataDir, "slapd.conf");
      await writeFile(confFile, slapdConf(dataDir, dbDir, options, Boolean(tls)));
      await run(SLAPADD_PATH, ["-f", confFile, "-l", options.ldif ?? FIXTURE_LDIF]);
      const directory = new TestDirectory(dataDir, port, confFile, tls);
      await directory.launch();
      return directory;
    } catch (error) {
      await rm(dataDir, { recursive: true, force: true });
      openDataDirs.delete(dataDir);
      throw error;
    }
  }

  /** ldaps://127.0.0.1:<port2>; only when started with { tls: true }. */
  get ldapsUrl(): string {
    return `ldaps://127.0.0.1:${this.tls().ldapsPort}`;
  }

  get ldapsPort(): number {
    return this.tls().ldapsPort;
  }

  /** PEM of the CA that signed the server certificate (SAN IP:127.0.0.1, DNS:localhost). */
  get caPem(): string {
    return this.tls().caPem;
  }

  /** PEM of an unrelated self-signed CA: trusting only this one must make the TLS handshake fail. */
  get otherCaPem(): string {
    return this.tls().otherCaPem;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** What slapd wrote to stderr lately (`-d none`: start-up, shutdown and errors only). */
  get log(): string {
    return this.stderrTail;
  }

  private tls(): TlsMaterial {
    if (!this.tlsMaterial) throw new Error("this TestDirectory was started without { tls: true }");
    return this.tlsMaterial;
  }

  private async launch(): Promise<void> {
    if (this.closed) throw new Error("this TestDirectory is closed");
    if (this.child) return;
    const urls = [`ldap://127.0.0.1:${this.port}/`];
    if (this.tlsMaterial) urls.push(`ldaps://127.0.0.1:${this.tlsMaterial.ldapsPort}/`);
    const args = [SLAPD_PATH, "-f", this.confFile, "-h", urls.join(" "), "-d", "none"];
    this.stderrTail = "";
    const child = spawn("/bin/sh", ["-c", WRAPPER, "sh", ...args], {
      cwd: this.dataDir,
      detached: true,
      stdio: ["pipe", "ignore", "pipe"],
    });
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not spawn ${SLAPD_PATH}`);
    liveGroups.add(pid);
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-8000);
    });
    child.stdin?.on("error", () => undefined);
    let exitInfo: string | undefined;
    this.exited = new Promise<void>((resolve) => {
      // "close", not "exit": by then slapd's last words on stderr have been read.
      child.once("close", (code, signal) => {
        exitInfo = signal ? `signal ${signal}` : `exit code ${code}`;
        liveGroups.delete(pid);
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    this.child = child;
    // Nothing here keeps the event loop alive: a test file that forgets close() still ends, and the pipe closing
    // then stops slapd.
    child.unref();
    (child.stdin as unknown as net.Socket | null)?.unref();
    (child.stderr as unknown as net.Socket | null)?.unref();

    const deadline = Date.now() + 10_000;
    const ports = [this.port, ...(this.tlsMaterial ? [this.tlsMaterial.ldapsPort] : [])];
    for (;;) {
      if (exitInfo) {
        throw new Error(`slapd exited during start-up (${exitInfo}). ${this.describeFailure()}`);
      }
      const up = await Promise.all(ports.map((p) => canConnect(p, 500)));
      if (up.every(Boolean)) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`slapd did not answer on ${urls.join(" ")} within 10 s. ${this.describeFailure()}`);
      }
      await sleep(25);
    }
  }

  private describeFailure(): string {
    const log = this.stderrTail.trim();
    return `Config: ${this.confFile}. slapd stderr:\n${log || "(empty; try: slaptest -f <config> -d none)"}`;
  }

  /** Stops slapd and waits until it has exited. The database stays on disk: restart() brings it back. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.exited) return;
    child.stdin?.end();
    const timer = setTimeout(() => {
      if (child.pid !== undefined) killGroup(child.pid, "SIGKILL");
    }, 5000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Starts slapd again on the same ports with the same data. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Stops slapd and deletes the temporary directory. */
  async close(): Promise<void> {
    await this.stop();
    this.closed = true;
    await rm(this.dataDir, { recursive: true, force: true });
    openDataDirs.delete(this.dataDir);
  }

  private rootArgs(): string[] {
    return ["-x", "-H", this.url, "-D", ROOT_DN, "-w", ROOT_PASSWORD];
  }

  /** Adds the entries in `ldif` (plain entries, no changetype needed) as the rootdn (ldapadd). */
  async addEntry(ldif: string): Promise<void> {
    await run(LDAPMODIFY_PATH, ["-a", ...this.rootArgs()], { input: ldif });
  }

  /** Applies `ldif` change records (changetype: modify / delete / modrdn / add) as the rootdn (ldapmodify). */
  async modify(ldif: string): Promise<void> {
    await run(LDAPMODIFY_PATH, this.rootArgs(), { input: ldif });
  }

  /** Replaces an entry's userPassword (e.g. to "disable" a user in the directory). */
  async setPassword(dn: string, password: string): Promise<void> {
    await this.modify(`${ldifLine("dn", dn)}\nchangetype: modify\nreplace: userPassword\n${ldifLine("userPassword", password)}\n-\n`);
  }

  async deleteEntry(dn: string): Promise<void> {
    await this.modify(`${ldifLine("dn", dn)}\nchangetype: delete\n`);
  }

  /**
   * Searches as the rootdn (ldapsearch; sees everything, ACLs do not apply). `filter` is an RFC 4515 string:
   * escape values with escapeFilterValue. Ask for operational attributes by name ("entryUUID") or with "+".
   */
  async search(filter: string, attributes: string[] = [], base: string = BASE_DN): Promise<DirectoryEntry[]> {
    const { stdout } = await run(LDAPSEARCH_PATH, [
      ...this.rootArgs(),
      "-LLL",
      "-o",
      "ldif-wrap=no",
      "-b",
      base,
      filter,
      ...attributes,
    ]);
    return parseLdif(stdout);
  }

  /** The entryUUID slapadd gave the entry with this DN (the stable id Gatehouse keys LDAP accounts by). */
  async entryUuid(dn: string): Promise<string> {
    const [entry] = await this.search("(objectClass=*)", ["entryUUID"], dn).catch((error: Error) => {
      throw new Error(`no entry ${dn}: ${error.message}`);
    });
    const uuid = entry?.attributes.entryUUID?.[0];
    if (!uuid) throw new Error(`no entryUUID on ${dn}`);
    return uuid;
  }

  /**
   * A loopback port where a server accepts TCP connections and never answers (docs/security.md D5). close() destroys
   * the accepted sockets and the server.
   */
  static async silentPort(): Promise<{ url: string; port: number; connections: () => number; close: () => Promise<void> }> {
    const sockets = new Set<net.Socket>();
    let accepted = 0;
    const server = net.createServer((socket) => {
      accepted += 1;
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return {
      url: `ldap://127.0.0.1:${port}`,
      port,
      connections: () => accepted,
      close: async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  /** ldap://127.0.0.1:<port> with nothing listening: connections are refused (docs/security.md D4). */
  static async refusedUrl(): Promise<string> {
    return `ldap://127.0.0.1:${await freePort()}`;
  }
}

function slapdConf(dataDir: string, dbDir: string, options: TestDirectoryOptions, tls: boolean): string {
  const q = (s: string) => `"${s}"`;
  const lines = [
    "# Generated by test/helpers/ldap.ts for one test run.",
    ...["core", "cosine", "inetorgperson", "nis"].map((s) => `include ${path.join(SCHEMA_DIR, `${s}.schema`)}`),
    `modulepath ${MODULE_DIR}`,
    "moduleload back_mdb",
    `pidfile ${q(path.join(dataDir, "slapd.pid"))}`,
    `argsfile ${q(path.join(dataDir, "slapd.args"))}`,
    "loglevel none",
  ];
  if (options.allowUnauthenticatedBind ?? true) lines.push("allow bind_anon_dn");
  if (tls) {
    lines.push(
      `TLSCACertificateFile ${q(path.join(dataDir, "ca.pem"))}`,
      `TLSCertificateFile ${q(path.join(dataDir, "server.pem"))}`,
      `TLSCertificateKeyFile ${q(path.join(dataDir, "server.key"))}`,
      "TLSVerifyClient never",
    );
  }
  lines.push(
    "",
    "database mdb",
    "maxsize 10485760",
    `suffix ${q(BASE_DN)}`,
    `rootdn ${q(ROOT_DN)}`,
    `rootpw ${ROOT_PASSWORD}`,
    `directory ${q(dbDir)}`,
    "index objectClass,uid,mail,cn,member,uniqueMember,memberUid eq",
    "",
    // The root DSE and the schema are public (clients read supportedExtension, e.g. for StartTLS).
    'access to dn.base="" by * read',
    'access to dn.base="cn=Subschema" by * read',
    // Passwords: anyone may use them to bind; nobody (not even the service account) may read them.
    "access to attrs=userPassword by * auth",
    `access to * by dn.exact=${q(SERVICE_BIND_DN)} read by self read${options.anonymousSearch ? " by anonymous read" : ""} by * none`,
    "",
  );
  return lines.join("\n");
}

/** A CA, a server certificate for 127.0.0.1/localhost signed by it, and an unrelated CA (EC P-256, 2 days). */
async function makeCertificates(dir: string): Promise<{ caPem: string; otherCaPem: string }> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const caExt = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"];
  const ca = (name: string, cn: string) =>
    run(OPENSSL, ["req", "-x509", ...ec, "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "2", "-subj", `/CN=${cn}`, ...caExt], { cwd: dir });
  await Promise.all([
    ca("ca", "Gatehouse Test CA"),
    ca("other-ca", "Unrelated Test CA"),
    run(OPENSSL, ["req", "-new", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], { cwd: dir }),
    writeFile(
      path.join(dir, "server.ext"),
      [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "",
      ].join("\n"),
    ),
  ]);
  const serial = `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
  await run(
    OPENSSL,
    ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", serial, "-out", "server.pem", "-days", "2", "-extfile", "server.ext"],
    { cwd: dir },
  );
  const [caPem, otherCaPem] = await Promise.all([readFile(path.join(dir, "ca.pem"), "utf8"), readFile(path.join(dir, "other-ca.pem"), "utf8")]);
  return { caPem, otherCaPem };
}

/** The LDAP server settings that point Gatehouse at `directory` with its service account. */
export function settingsFor(directory: TestDirectory, overrides: Partial<LdapServerInput> = {}): LdapServerInput {
  return {
    url: directory.url,
    startTls: false,
    caCertificate: "",
    verifyCertificate: true,
    baseDn: directory.baseDn,
    groupSearchBase: directory.groupBase,
    userIdField: "uid",
    groupIdField: "cn",
    bindDn: directory.bindDn,
    bindPassword: directory.bindPassword,
    removeBindPassword: false,
    emailAttribute: "mail",
    fullNameAttribute: "cn",
    ...overrides,
  };
}
