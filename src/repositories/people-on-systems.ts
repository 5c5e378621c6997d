import { preparedStatement, type Queryable } from "../db/index.ts";
import type { PermissionLevel } from "../types/access.ts";

/**
 * A person as the systems learn of them (the gate's headers, the OpenID Connect claims) and their level on one
 * system, from the resolver's own function, computed at the request: the gate and the provider read the same columns.
 */
/** Who `u` is, as the gate tells a system: only a verified address; team names by name. */
export const PERSON_COLUMNS = `u.id AS user_id, u.username, u.full_name,
              CASE WHEN u.email_verified THEN u.email END AS email,
              u.is_admin, u.disabled, (u.two_factor_method IS NOT NULL) AS has_two_factor,
              ARRAY(SELECT t.name FROM team_members m JOIN teams t ON t.id = m.team_id WHERE m.user_id = u.id ORDER BY t.name_key) AS teams`;

/** `u`'s level on `s` (0 without a system), from the resolver's own function, computed now. */
export const LEVEL_ON_SYSTEM = "CASE WHEN s.id IS NULL THEN 0 ELSE COALESCE(effective_permission_level(u.id, s.id), 0) END AS level";

export interface PersonOnSystem {
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
  /** The resolver's level on the system, computed now (0 when the system is gone). */
  level: PermissionLevel;
}

/** The columns PERSON_COLUMNS and LEVEL_ON_SYSTEM give, as the driver returns them. */
export interface PersonRow {
  user_id: string;
  username: string;
  full_name: string;
  email: string | null;
  is_admin: boolean;
  disabled: boolean;
  has_two_factor: boolean;
  teams: string[] | null;
  level: number;
}

export function personOf(row: PersonRow): PersonOnSystem {
  return {
    userId: Number(row.user_id),
    username: row.username,
    fullName: row.full_name,
    email: row.email,
    isAdmin: row.is_admin,
    disabled: row.disabled,
    hasTwoFactor: row.has_two_factor,
    teams: row.teams ?? [],
    level: Number(row.level) as PermissionLevel,
  };
}

/** One person and their level on one system, in one statement; undefined when the account does not exist. */
export async function selectPersonOnSystem(db: Queryable, userId: number, systemId: number): Promise<PersonOnSystem | undefined> {
  const result = await db
    .raw(
      `SELECT ${PERSON_COLUMNS}, ${LEVEL_ON_SYSTEM}
         FROM users u
         LEFT JOIN systems s ON s.id = :systemId
        WHERE u.id = :userId`,
      { userId, systemId },
    )
    .options(preparedStatement("person-on-system"));
  const row = (result.rows as PersonRow[])[0];
  return row ? personOf(row) : undefined;
}
