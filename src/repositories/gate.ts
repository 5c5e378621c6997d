import { preparedStatement, type Queryable } from "../db/index.ts";
import type { GateMode } from "../lib/web-address.ts";
import { LEVEL_ON_SYSTEM, PERSON_COLUMNS, type PersonOnSystem, type PersonRow, personOf } from "./people-on-systems.ts";

/** Who is asking through the gate, and what they may do on the system the request is for: read in one statement. */
export interface GateSubject extends PersonOnSystem {
  tokenId: number;
  /** True when the token's last use is more than a minute old (its "last used" is then written again). */
  touchDue: boolean;
  /** The system whose web address has this host and port, or null when none has (then the level is 0). */
  system: { id: number; name: string; webAddress: string; gateMode: GateMode } | null;
}

interface GateRow extends PersonRow {
  token_id: string;
  touch_due: boolean;
  system_id: string | null;
  system_name: string | null;
  web_address: string | null;
  gate_mode: GateMode | null;
}

/**
 * The owner of a valid token (not revoked, not expired) and their permission on the system answering
 * at `hostKey`, from the same function the console uses (effective_permission_level). No cache: every request
 * reads it anew, so a revoked grant counts at the next request.
 */
export async function selectGateSubjectByToken(db: Queryable, tokenHash: string, hostKey: string): Promise<GateSubject | undefined> {
  const result = await db
    .raw(
      `SELECT ${PERSON_COLUMNS},
              k.id AS token_id,
              (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute') AS touch_due,
              s.id AS system_id, s.name AS system_name, s.web_address, s.gate_mode,
              ${LEVEL_ON_SYSTEM}
         FROM api_tokens k
         JOIN users u ON u.id = k.user_id
         LEFT JOIN systems s ON s.web_address_key = :hostKey
        WHERE k.token_hash = :tokenHash AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())`,
      { tokenHash, hostKey },
    )
    .options(preparedStatement("gate-subject-by-token"));
  const row = (result.rows as GateRow[])[0];
  return row ? subjectOf(row) : undefined;
}

function subjectOf(row: GateRow): GateSubject {
  return {
    ...personOf(row),
    tokenId: Number(row.token_id),
    touchDue: row.touch_due,
    system:
      row.system_id === null
        ? null
        : { id: Number(row.system_id), name: row.system_name ?? "", webAddress: row.web_address ?? "", gateMode: row.gate_mode ?? "by-method" },
  };
}

/** A code that hands a console session over to one system's host (see migrations/20261203120000_create_gate_sessions.ts). */
export interface NewGateCode {
  codeHash: string;
  sessionSid: string;
  userId: number;
  systemId: number;
  returnTo: string;
  sessionEndsAt: Date;
  validSeconds: number;
}

export async function insertGateCode(db: Queryable, code: NewGateCode): Promise<void> {
  await db("gate_codes").insert({
    code_hash: code.codeHash,
    session_sid: code.sessionSid,
    user_id: code.userId,
    system_id: code.systemId,
    return_to: code.returnTo,
    session_ends_at: code.sessionEndsAt,
    expires_at: db.raw("now() + make_interval(secs => ?)", [code.validSeconds]),
  });
  // Codes are single use and short-lived: the dead ones go as new ones come.
  await db("gate_codes").where("expires_at", "<", db.raw("now() - interval '1 hour'")).delete();
}

export interface ConsumedGateCode {
  sessionSid: string;
  userId: number;
  systemId: number;
  systemName: string;
  returnTo: string;
  sessionEndsAt: Date;
  sessionVersion: number;
}

/**
 * Uses a code once: only an unused, unexpired code, for the system whose web address has `hostKey`, and while its
 * console session lasts. Two requests with one code get it once (the row is updated by the first).
 */
export async function consumeGateCode(db: Queryable, codeHash: string, hostKey: string): Promise<ConsumedGateCode | undefined> {
  const result = await db.raw(
    `UPDATE gate_codes c SET used_at = now()
       FROM systems s, sessions cs, users u
      WHERE c.code_hash = :codeHash AND c.used_at IS NULL AND c.expires_at > now()
        AND s.id = c.system_id AND s.web_address_key = :hostKey
        AND cs.sid = c.session_sid AND cs.expires_at > now()
        AND u.id = c.user_id AND NOT u.disabled
      RETURNING c.session_sid, c.user_id, c.system_id, s.name AS system_name, c.return_to, c.session_ends_at, u.session_version`,
    { codeHash, hostKey },
  );
  const row = (
    result.rows as {
      session_sid: string;
      user_id: string;
      system_id: string;
      system_name: string;
      return_to: string;
      session_ends_at: Date | string;
      session_version: number;
    }[]
  )[0];
  if (!row) return undefined;
  return {
    sessionSid: row.session_sid,
    userId: Number(row.user_id),
    systemId: Number(row.system_id),
    systemName: row.system_name,
    returnTo: row.return_to,
    sessionEndsAt: new Date(row.session_ends_at),
    sessionVersion: Number(row.session_version),
  };
}

export async function insertGateSession(
  db: Queryable,
  session: { idHash: string; sessionSid: string; userId: number; systemId: number; sessionVersion: number; expiresAt: Date },
): Promise<void> {
  await db("gate_sessions").insert({
    id_hash: session.idHash,
    session_sid: session.sessionSid,
    user_id: session.userId,
    system_id: session.systemId,
    session_version: session.sessionVersion,
    expires_at: session.expiresAt,
  });
}

/**
 * The person a gate cookie names, and their permission on the system answering at `hostKey`, in one statement: the
 * gate session must be unexpired, its console session alive, and the account's session version unchanged (ending
 * sessions, a password or role change end it at the next request). `sameSystem` is false for a cookie made for
 * another system's host.
 */
export async function selectGateSubjectBySession(db: Queryable, idHash: string, hostKey: string): Promise<(GateSubject & { sameSystem: boolean }) | undefined> {
  const result = await db
    .raw(
      `SELECT ${PERSON_COLUMNS},
              0 AS token_id, false AS touch_due,
              s.id AS system_id, s.name AS system_name, s.web_address, s.gate_mode,
              (s.id IS NOT NULL AND s.id = g.system_id) AS same_system,
              ${LEVEL_ON_SYSTEM}
         FROM gate_sessions g
         JOIN sessions cs ON cs.sid = g.session_sid AND cs.expires_at > now()
         JOIN users u ON u.id = g.user_id AND u.session_version = g.session_version
         LEFT JOIN systems s ON s.web_address_key = :hostKey
        WHERE g.id_hash = :idHash AND g.expires_at > now()`,
      { idHash, hostKey },
    )
    .options(preparedStatement("gate-subject-by-session"));
  const row = (result.rows as (GateRow & { same_system: boolean })[])[0];
  if (!row) return undefined;
  return { ...subjectOf(row), sameSystem: row.same_system };
}

/**
 * True when a denial of this person on this system for this reason should be written now: none was in the last
 * minute. The mark is taken in the same statement, so two denials at once write one event.
 */
export async function takeDenialMark(db: Queryable, userId: number, systemId: number, reason: string): Promise<boolean> {
  const result = await db.raw(
    `INSERT INTO gate_denial_marks AS m (user_id, system_id, reason, last_recorded_at) VALUES (?, ?, ?, now())
     ON CONFLICT (user_id, system_id, reason) DO UPDATE SET last_recorded_at = now()
      WHERE m.last_recorded_at <= now() - interval '1 minute'
     RETURNING 1 AS taken`,
    [userId, systemId, reason],
  );
  return result.rows.length > 0;
}

/** Adds allowed requests to each system's count for today (UTC), with the time of the last. */
export async function addGateCounts(db: Queryable, counts: { systemId: number; requests: number; lastAccessAt: Date }[]): Promise<void> {
  if (counts.length === 0) return;
  await db.raw(
    `INSERT INTO system_gate_counts AS c (system_id, day, requests, last_access_at)
     SELECT x.system_id, (now() AT TIME ZONE 'UTC')::date, x.requests, x.last_access_at
       FROM jsonb_to_recordset(?::jsonb) AS x(system_id bigint, requests bigint, last_access_at timestamptz)
       JOIN systems s ON s.id = x.system_id
     ON CONFLICT (system_id, day) DO UPDATE
       SET requests = c.requests + excluded.requests, last_access_at = GREATEST(c.last_access_at, excluded.last_access_at)`,
    [JSON.stringify(counts.map((c) => ({ system_id: c.systemId, requests: c.requests, last_access_at: c.lastAccessAt.toISOString() })))],
  );
}

/** A system's gate traffic: requests let through today (UTC) and the last one's time, ever. */
export async function selectGateCounts(db: Queryable, systemId: number): Promise<{ today: number; lastAccessAt: Date | null }> {
  const row = await db("system_gate_counts")
    .where({ system_id: systemId })
    .select(
      db.raw("COALESCE(SUM(requests) FILTER (WHERE day = (now() AT TIME ZONE 'UTC')::date), 0) AS today"),
      db.raw("MAX(last_access_at) AS last_access_at"),
    )
    .first<{ today: string | number; last_access_at: Date | string | null }>();
  return { today: Number(row?.today ?? 0), lastAccessAt: row?.last_access_at ? new Date(row.last_access_at) : null };
}
