import type { Db } from "../../src/db/index.ts";
import { type AuditEvent, listAuditEvents } from "../../src/repositories/audit-events.ts";
import { insertGrant, type Subject, type Target } from "../../src/repositories/grants.ts";
import { insertGroupSystem, insertGroup } from "../../src/repositories/system-groups.ts";
import { insertSystem, type SystemFields } from "../../src/repositories/systems.ts";
import { insertMember, insertTeam } from "../../src/repositories/teams.ts";
import type { System, SystemGroup, Team } from "../../src/types/catalog.ts";
import type { TestAgent } from "./agent.ts";
import { decodeEntities } from "./html.ts";

/**
 * Set-up and readers for the access tests (teams, systems, groups, grants). Set-up goes straight through the
 * repositories, so it writes no audit events: every event a test finds was written by the request it made.
 */

let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;

export async function makeSystem(db: Db, fields: Partial<SystemFields> = {}): Promise<System> {
  const system = await insertSystem(db, { name: unique("nas"), host: "10.0.0.1", description: "", notes: "", ...fields });
  if (!system) throw new Error(`system ${fields.name} not created`);
  return system;
}

export async function makeGroup(db: Db, name = unique("group"), systems: System[] = []): Promise<SystemGroup> {
  const group = await insertGroup(db, { name, description: "" });
  if (!group) throw new Error(`group ${name} not created`);
  for (const system of systems) await insertGroupSystem(db, group.id, system.id);
  return group;
}

export async function makeTeam(db: Db, name = unique("team"), members: { id: number }[] = []): Promise<Team> {
  const team = await insertTeam(db, { name, description: "" });
  if (!team) throw new Error(`team ${name} not created`);
  for (const member of members) await insertMember(db, team.id, member.id);
  return team;
}

const LEVEL = { read: 1, "read/write": 2 } as const;

export async function grant(db: Db, subject: Subject, target: Target, permission: "read" | "read/write" = "read"): Promise<void> {
  await insertGrant(db, subject, target, LEVEL[permission]);
}

export async function rowCount(db: Db, table: string, where: Record<string, unknown> = {}): Promise<number> {
  const row = await db(table).where(where).count<{ count: string }[]>("* as count").first();
  return Number(row?.count ?? 0);
}

export async function versionOf(db: Db, table: "teams" | "systems" | "system_groups", id: number): Promise<number> {
  const row = await db(table).select("version").where({ id }).first<{ version: number } | undefined>();
  if (!row) throw new Error(`no ${table} row ${id}`);
  return row.version;
}

export async function idByName(db: Db, table: "teams" | "systems" | "system_groups", name: string): Promise<number> {
  const row = await db(table).select("id").where({ name }).first<{ id: string } | undefined>();
  if (!row) throw new Error(`no ${table} row named ${name}`);
  return Number(row.id);
}

const ACCESS_ACTIONS = ["team.", "group.", "system.", "grant."];

/**
 * Audit events of the access feature (teams, groups, systems, grants; not sign-ins), oldest first,
 * optionally only those whose action starts with `prefix`.
 */
export async function accessEvents(db: Db, prefix?: string): Promise<AuditEvent[]> {
  return (await listAuditEvents(db, { limit: 10_000 }))
    .filter((e) => (prefix === undefined ? ACCESS_ACTIONS.some((p) => e.action.startsWith(p)) : e.action.startsWith(prefix)))
    .sort((a, b) => a.id - b.id);
}

/** A page with what legitimately differs between two requests (CSRF tokens) blanked out. */
export function withoutTokens(html: string): string {
  return html.replace(/name="_csrf" value="[^"]*"/g, 'name="_csrf" value=""');
}

/** The hidden version field of the first form on a page that has one. */
export function versionOnPage(html: string): string {
  const match = /name="version" value="(\d+)"/.exec(html);
  if (!match?.[1]) throw new Error("page has no version field");
  return match[1];
}

/** The CSRF token of the agent's session (the one its forms carry). */
async function tokenOf(agent: TestAgent): Promise<string> {
  return (agent as unknown as { token?: string }).token ?? agent.refreshToken("/profile");
}

/** A form body written out by hand (repeated keys and all), sent with the agent's session and CSRF token. */
export async function postRaw(agent: TestAgent, url: string, body: string) {
  const token = await tokenOf(agent);
  return agent.http
    .post(url)
    .set("Accept", "text/html")
    .type("form")
    .send(`_csrf=${encodeURIComponent(token)}&${body}`);
}

/** A JSON body (the only way to send a lone surrogate: a form's bytes are decoded as UTF-8), answered as HTML. */
export async function postJson(agent: TestAgent, url: string, body: Record<string, unknown>) {
  const token = await tokenOf(agent);
  return agent.http
    .post(url)
    .set("Accept", "text/html")
    .type("json")
    .send(JSON.stringify({ _csrf: token, ...body }));
}

/** The flash messages (role="status") of a page, as text. */
export function flashText(html: string): string {
  const match = /<div role="status" class="flash-list">([\s\S]*?)<\/div>/.exec(html);
  return match ? decodeEntities((match[1] ?? "").replace(/<[^>]*>/g, " ")).replace(/\s+/g, " ").trim() : "";
}
