import { accessLevel } from "../access/resolver.ts";
import type { Db } from "../db/index.ts";
import { parseWebAddress } from "../lib/web-address.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import type { Logger } from "../lib/logger.ts";
import { digestOfToken, newRandomToken, RANDOM_TOKEN } from "../lib/secret-box.ts";
import { decide, type GateRefusal, mayEnter } from "../policies/gate.ts";
import { assertCan as assertCanOnSystems } from "../policies/systems.ts";
import { touchApiToken } from "../repositories/api-tokens.ts";
import {
  addGateCounts,
  consumeGateCode,
  type GateSubject,
  insertGateCode,
  insertGateSession,
  selectGateSubjectBySession,
  selectGateCounts,
  selectGateSubjectByToken,
  takeDenialMark,
} from "../repositories/gate.ts";
import { selectSystemByWebAddress } from "../repositories/systems.ts";
import { type Permission, PERMISSION_BY_LEVEL } from "../types/access.ts";
import type { Actor, User } from "../types/user.ts";
import { recordAudit } from "./audit.ts";
import { storedFormOfToken } from "./api-tokens.ts";
import { readGeneralSettings } from "./general-settings.ts";
import { claimsOf } from "./oidc.ts";

/** The request a reverse proxy asks about, as read from its headers by routes/gate. */
export interface GatedRequest {
  /** Host and port as a web address's key has them (src/lib/web-address.ts): "nas1.example.com", "10.0.0.5:8080". */
  hostKey: string;
  method: string;
  websocket: boolean;
  /** The path, without the query string (which can carry secrets): for the audit trail and the refusal page. */
  path: string;
}

/** Who was refused what on which system, for the audit trail and a page the person can read. */
export interface GateRefusalFacts {
  userId: number;
  username: string;
  systemId: number;
  systemName: string;
  permission: Permission;
  needs: "read" | "read/write";
}

/** What the proxy is told: let it through, with who it is; nobody signed in; or signed in and refused, with why. */
export type GateAnswer =
  | {
      status: 200;
      systemId: number;
      identity: { username: string; name: string; email: string | null; groups: string[]; permission: "read" | "read/write" };
      /** What `X-Gatehouse-Jwt` asserts (services/gate-assertions.ts): the OpenID Connect claims, for the system's web address. */
      assertion: { audience: string; claims: Record<string, unknown> };
    }
  | { status: 401 }
  | { status: 403; reason: GateRefusal | "unknown_host" | "disabled" | "two_factor_required" | "untrusted_proxy"; refused?: GateRefusalFacts };

/**
 * The gate's answer for a request carrying a personal API token (scripts): the token owner's rights, decided by
 * src/policies/gate.ts from the resolver's level, read in one statement for this request.
 */
export async function answerForToken(db: Db, keys: SecretKeys, rawToken: string, request: GatedRequest): Promise<GateAnswer> {
  const stored = storedFormOfToken(keys, rawToken);
  if (!stored) return { status: 401 };
  const subject = await selectGateSubjectByToken(db, stored, request.hostKey);
  if (!subject) return { status: 401 };
  // A disabled account's token is known but refuses everything: the proxy is told the person may not (403).
  if (subject.disabled) return { status: 403, reason: "disabled" };
  if (subject.touchDue) await touchApiToken(db, subject.tokenId);
  // As on the API (middleware/api-token-auth.ts): an administrator without 2FA, when it is required, is refused.
  if (subject.isAdmin && !subject.hasTwoFactor && (await readGeneralSettings(db)).value.requireAdminTwoFactor)
    return { status: 403, reason: "two_factor_required" };
  return answerFor(subject, request);
}

/** The policy's answer for a known person on the system a request is for (none: an unknown host). */
function answerFor(subject: GateSubject, request: GatedRequest): GateAnswer {
  if (!subject.system) return { status: 403, reason: "unknown_host" };
  const decision = decide(subject.level, subject.system.gateMode, request);
  if (!decision.allowed) {
    const refused: GateRefusalFacts = {
      userId: subject.userId,
      username: subject.username,
      systemId: subject.system.id,
      systemName: subject.system.name,
      permission: PERMISSION_BY_LEVEL[subject.level],
      needs: decision.needs === 2 ? "read/write" : "read",
    };
    return { status: 403, reason: decision.reason, refused };
  }
  return {
    status: 200,
    systemId: subject.system.id,
    identity: { username: subject.username, name: subject.fullName, email: subject.email, groups: subject.teams, permission: decision.permission },
    assertion: { audience: subject.system.webAddress, claims: claimsOf(subject) },
  };
}

/** A gate code lives 60 seconds: long enough for one redirect through the proxy, too short to be worth stealing. */
export const GATE_CODE_SECONDS = 60;

/** Where /gate/start sends the browser: on to the system's handshake, or why not. */
export type GateStart =
  | { kind: "handshake"; location: string; system: { id: number; name: string } }
  | { kind: "not-a-system" }
  | { kind: "no-access"; system: { id: number; name: string } };

/**
 * The signed-in person asked (through a proxy's redirect) to use the system at `returnTo`. `returnTo` is honoured
 * only when it is on a registered system's web address (no open redirect); with at least read on that system they
 * get a single-use code for it, bound to their console session, sent to the system's own host.
 */
export async function startGateSignIn(
  db: Db,
  user: User,
  console: { sid: string; endsAt: Date },
  returnTo: string,
): Promise<GateStart> {
  let target: URL;
  try {
    target = new URL(returnTo);
  } catch {
    return { kind: "not-a-system" };
  }
  if (target.protocol !== "http:" && target.protocol !== "https:") return { kind: "not-a-system" };
  const origin = `${target.protocol}//${target.host}`;
  const system = parseWebAddress(origin) ? await selectSystemByWebAddress(db, origin) : undefined;
  if (!system) return { kind: "not-a-system" };
  if (!mayEnter((await accessLevel(db, user.id, system.id)) ?? 0)) return { kind: "no-access", system: { id: system.id, name: system.name } };
  const code = newRandomToken();
  await insertGateCode(db, {
    codeHash: digestOfToken(code),
    sessionSid: console.sid,
    userId: user.id,
    systemId: system.id,
    returnTo: target.toString(),
    sessionEndsAt: console.endsAt,
    validSeconds: GATE_CODE_SECONDS,
  });
  return { kind: "handshake", location: `${origin}/.gatehouse/callback?${new URLSearchParams({ code })}`, system: { id: system.id, name: system.name } };
}

/**
 * The browser arrived at a system's host with its code: the code is used up, a gate session is made that ends with
 * the console session, and the caller sets its id as the gate cookie. Undefined for a code that is unknown, used,
 * expired, for another system's host, or whose console session has ended.
 */
export async function completeGateSignIn(
  db: Db,
  actor: Actor,
  rawCode: string,
  hostKey: string,
): Promise<{ cookieValue: string; returnTo: string; expiresAt: Date } | undefined> {
  if (!RANDOM_TOKEN.test(rawCode)) return undefined;
  return db.transaction(async (trx) => {
    const used = await consumeGateCode(trx, digestOfToken(rawCode), hostKey);
    if (!used) return undefined;
    const cookieValue = newRandomToken();
    await insertGateSession(trx, {
      idHash: digestOfToken(cookieValue),
      sessionSid: used.sessionSid,
      userId: used.userId,
      systemId: used.systemId,
      sessionVersion: used.sessionVersion,
      expiresAt: used.sessionEndsAt,
    });
    await recordAudit(trx, { ...actor, id: used.userId }, {
      action: "gate.signed_in",
      target: { type: "system", id: used.systemId, label: used.systemName },
      details: {},
    });
    return { cookieValue, returnTo: used.returnTo, expiresAt: used.sessionEndsAt };
  });
}

/** The gate's answer for a browser carrying a gate cookie: as for a token, but the person of that gate session. */
export async function answerForGateSession(db: Db, cookieValue: string, request: GatedRequest): Promise<GateAnswer> {
  if (!RANDOM_TOKEN.test(cookieValue)) return { status: 401 };
  const subject = await selectGateSubjectBySession(db, digestOfToken(cookieValue), request.hostKey);
  if (!subject) return { status: 401 };
  if (!subject.system) return { status: 403, reason: "unknown_host" };
  // A cookie made for another system's host never counts here (a host-only cookie should not even arrive).
  if (!subject.sameSystem) return { status: 401 };
  if (subject.disabled) return { status: 403, reason: "disabled" };
  return answerFor(subject, request);
}

/**
 * What the gate keeps of an answer: a refusal of a known person on a known system becomes a `gate.denied` event
 * (at most one a minute per person, system and reason); an allowed request is only counted.
 */
export async function noteGateAnswer(db: Db, counters: GateCounters, actor: Actor, answer: GateAnswer, request: GatedRequest): Promise<void> {
  if (answer.status === 200) return counters.count(answer.systemId);
  if (answer.status !== 403 || !answer.refused) return;
  const { refused } = answer;
  if (!(await takeDenialMark(db, refused.userId, refused.systemId, answer.reason))) return;
  await recordAudit(db, { ...actor, id: refused.userId, username: refused.username }, {
    action: "gate.denied",
    target: { type: "system", id: refused.systemId, label: refused.systemName },
    details: { reason: answer.reason, method: request.method, path: request.path, permission: refused.permission, needs: refused.needs },
  });
}

/**
 * Allowed requests, counted in this process and added to the database every few seconds: a write for each
 * request would put every request of a busy system on one row. A count can lag by that much, and a crash loses
 * the last few seconds of counting (never a decision).
 */
export class GateCounters {
  private pending = new Map<number, { requests: number; lastAccessAt: Date }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly everyMs = 5_000,
  ) {}

  count(systemId: number): void {
    const now = new Date();
    const entry = this.pending.get(systemId);
    if (entry) {
      entry.requests += 1;
      entry.lastAccessAt = now;
    } else this.pending.set(systemId, { requests: 1, lastAccessAt: now });
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.everyMs);
    this.timer.unref();
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = [...this.pending].map(([systemId, entry]) => ({ systemId, ...entry }));
    this.pending = new Map();
    try {
      await addGateCounts(this.db, batch);
    } catch (error) {
      this.logger.warn({ err: error, systems: batch.length }, "gate counts not saved; keeping them for the next try");
      for (const entry of batch) {
        const now = this.pending.get(entry.systemId);
        this.pending.set(entry.systemId, {
          requests: entry.requests + (now?.requests ?? 0),
          lastAccessAt: now && now.lastAccessAt > entry.lastAccessAt ? now.lastAccessAt : entry.lastAccessAt,
        });
      }
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

/** A system's gate traffic for its administration page: requests let through today (UTC) and the last one. */
export function gateTrafficOf(db: Db, actor: Actor, systemId: number): Promise<{ today: number; lastAccessAt: Date | null }> {
  assertCanOnSystems(actor, "administer");
  return selectGateCounts(db, systemId);
}
