import type { Knex } from "knex";

/**
 * The single (user, system) check of the resolver (docs/domain.md, "Grants and the resolver") as a PL/pgSQL function: PL/pgSQL keeps its query
 * plan for the session, so the hot check skips the planning that a four-way query pays on every call.
 * Returns NULL when the user or the system does not exist, 0 for no access, 1 read, 2 read/write.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION effective_permission_level(p_user bigint, p_system bigint) RETURNS smallint
    LANGUAGE plpgsql STABLE AS $$
    DECLARE
      v_admin boolean;
      v_disabled boolean;
      v_level smallint;
    BEGIN
      SELECT is_admin, disabled INTO v_admin, v_disabled FROM users WHERE id = p_user;
      IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM systems WHERE id = p_system) THEN
        RETURN NULL;
      END IF;
      IF v_disabled THEN RETURN 0; END IF;
      IF v_admin THEN RETURN 2; END IF;
      SELECT GREATEST(
        (SELECT g.permission FROM user_system_grants g WHERE g.user_id = p_user AND g.system_id = p_system),
        (SELECT max(g.permission) FROM user_group_grants g
           JOIN system_group_members m ON m.group_id = g.group_id AND m.system_id = p_system
          WHERE g.user_id = p_user),
        (SELECT max(g.permission) FROM team_members tm
           JOIN team_system_grants g ON g.team_id = tm.team_id AND g.system_id = p_system
          WHERE tm.user_id = p_user),
        (SELECT max(g.permission) FROM team_members tm
           JOIN team_group_grants g ON g.team_id = tm.team_id
           JOIN system_group_members m ON m.group_id = g.group_id AND m.system_id = p_system
          WHERE tm.user_id = p_user)
      ) INTO v_level;
      RETURN COALESCE(v_level, 0);
    END;
    $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw("DROP FUNCTION effective_permission_level(bigint, bigint)");
}
