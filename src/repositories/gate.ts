import { preparedStatement, type Queryable } from "../db/index.ts";
import type { GateMode } from "../lib/web-address.ts";
import type { PermissionLevel } from "../types/access.ts";

/** Who is asking through the gate, and what they may do on the system the request is for: read in one statement. */
export interface GateSubject {
  userId: number;
  username: string;
  fullName: string;
  /** Only a verified address. */
  email: string | null;
  isAdmin: boolean;
  disabled: boolean;
  hasTwoFactor: boolean;
  /** Team names, by name. */
  teams: string[];
  tokenId: number;
  /** True when the token's last use is more than a minute old (its "last used" is then written again). */
  touchDue: boolean;
  /** The system whose web address has this host and port, or null when none has. */
  system: { id: number; name: string; gateMode: GateMode } | null;
  /** The resolver's level on that system, computed now (0 without a system). */
  level: PermissionLevel;
}

interface GateRow {
  user_id: string;
  username: string;
  full_name: string;
  email: string | null;
  is_admin: boolean;
  disabled: boolean;
  has_two_factor: boolean;
  teams: string[] | null;
  token_id: string;
  touch_due: boolean;
  system_id: string | null;
  system_name: string | null;
  gate_mode: GateMode | null;
  level: number;
}

/**
 * The owner of a valid token (not revoked, not expired) and their permission on the system answering
 * at `hostKey`, from the same function the console uses (effective_permission_level). No cache: every request
 * reads it anew, so a revoked grant counts at the next request.
 */
export async function selectGateSubjectByToken(db: Queryable, tokenHash: string, hostKey: string): Promise<GateSubject | undefined> {
  const result = await db
    .raw(
      `SELECT u.id AS user_id, u.username, u.full_name,
              CASE WHEN u.email_verified THEN u.email END AS email,
              u.is_admin, u.disabled, (u.two_factor_method IS NOT NULL) AS has_two_factor,
              ARRAY(SELECT t.name FROM team_members m JOIN teams t ON t.id = m.team_id WHERE m.user_id = u.id ORDER BY t.name_key) AS teams,
              k.id AS token_id,
              (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute') AS touch_due,
              s.id AS system_id, s.name AS system_name, s.gate_mode,
              CASE WHEN s.id IS NULL THEN 0 ELSE COALESCE(effective_permission_level(u.id, s.id), 0) END AS level
         FROM api_tokens k
         JOIN users u ON u.id = k.user_id
         LEFT JOIN systems s ON s.web_address_key = :hostKey
        WHERE k.token_hash = :tokenHash AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())`,
      { tokenHash, hostKey },
    )
    .options(preparedStatement("gate-subject-by-token"));
  const row = (result.rows as GateRow[])[0];
  if (!row) return undefined;
  return {
    userId: Number(row.user_id),
    username: row.username,
    fullName: row.full_name,
    email: row.email,
    isAdmin: row.is_admin,
    disabled: row.disabled,
    hasTwoFactor: row.has_two_factor,
    teams: row.teams ?? [],
    tokenId: Number(row.token_id),
    touchDue: row.touch_due,
    system: row.system_id === null ? null : { id: Number(row.system_id), name: row.system_name ?? "", gateMode: row.gate_mode ?? "by-method" },
    level: Number(row.level) as PermissionLevel,
  };
}
