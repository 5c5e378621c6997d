import type { Knex } from "knex";

/**
 * docs/domain.md, "Grants and the resolver": the /systems list of an account that reaches many systems, kept between
 * requests and checked against the database on every one.
 *
 * Working out the list costs about 1 µs of Postgres per grant that reaches the account (2,447 for an account with
 * 2,147 systems: 4 ms a page, and 1 ms for the count alone), although a page shows 50. So `access_lists` keeps, per
 * account, the ids of its systems in the list's order with its level on each, under the `access_version` it was
 * worked out at. Every statement that changes a grant, a team membership, a group's systems or a system's name
 * moves `access_version` on in its own transaction (statement triggers, so a bulk load pays once), and a list saved
 * under an older version is never used: it is worked out again. A change therefore counts at the next request,
 * on every instance, exactly as when nothing was kept. The version is read before the grants are, so a list can only
 * be fresher than its version says, never older.
 *
 * Lists shorter than a page are not kept: working them out costs less than keeping them.
 */

const SOURCES = ["user_system_grants", "user_group_grants", "team_system_grants", "team_group_grants", "team_members", "system_group_members"];

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE access_version (
      only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
      version bigint NOT NULL
    )`);
  await knex.raw("INSERT INTO access_version (version) VALUES (1)");
  await knex.raw(`
    CREATE TABLE access_lists (
      user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
      version bigint NOT NULL,
      system_ids bigint[] NOT NULL,
      levels smallint[] NOT NULL
    )`);

  // Once per statement that changed rows: a statement that changed none (a sync that found nothing to do) keeps the lists.
  await knex.raw(`
    CREATE FUNCTION move_access_version() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      -- Two IFs: a TRUNCATE trigger has no transition table, and the condition would name one.
      IF TG_OP <> 'TRUNCATE' THEN
        IF NOT EXISTS (SELECT 1 FROM changed_rows) THEN RETURN NULL; END IF;
      END IF;
      INSERT INTO access_version AS v (version) VALUES (1)
        ON CONFLICT (only_row) DO UPDATE SET version = v.version + 1;
      RETURN NULL;
    END;
    $$`);
  for (const table of SOURCES) {
    // A trigger with a transition table takes one event, hence one per event.
    await knex.raw(`CREATE TRIGGER ${table}_access_version_insert AFTER INSERT ON ${table}
      REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION move_access_version()`);
    await knex.raw(`CREATE TRIGGER ${table}_access_version_update AFTER UPDATE ON ${table}
      REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION move_access_version()`);
    await knex.raw(`CREATE TRIGGER ${table}_access_version_delete AFTER DELETE ON ${table}
      REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION move_access_version()`);
    await knex.raw(`CREATE TRIGGER ${table}_access_version_truncate AFTER TRUNCATE ON ${table}
      FOR EACH STATEMENT EXECUTE FUNCTION move_access_version()`);
  }
  // A renamed system moves in everyone's list; its other columns are read live with each page.
  await knex.raw(`
    CREATE FUNCTION move_access_version_on_rename() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.name_key IS DISTINCT FROM o.name_key) THEN
        INSERT INTO access_version AS v (version) VALUES (1)
          ON CONFLICT (only_row) DO UPDATE SET version = v.version + 1;
      END IF;
      RETURN NULL;
    END;
    $$`);
  await knex.raw(`CREATE TRIGGER systems_access_version_rename AFTER UPDATE ON systems
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION move_access_version_on_rename()`);

  // One page of an account's systems through grants (the caller decides administrators and disabled accounts), in
  // the list's order (name, then id), each row with the account's level and the length of the whole list.
  await knex.raw(`
    CREATE FUNCTION accessible_systems_page(p_user bigint, p_limit integer, p_offset integer)
    RETURNS TABLE (id bigint, name text, host text, web_address text, description text, level smallint, total bigint)
    LANGUAGE plpgsql VOLATILE ROWS 50 AS $$
    DECLARE
      v_version bigint;
      v_ids bigint[];
      v_levels smallint[];
    BEGIN
      SELECT COALESCE((SELECT a.version FROM access_version a), 0) INTO v_version;
      SELECT m.system_ids, m.levels INTO v_ids, v_levels FROM access_lists m WHERE m.user_id = p_user AND m.version = v_version;
      IF NOT FOUND THEN
        SELECT COALESCE(array_agg(l.system_id ORDER BY s.name_key, s.id), '{}'), COALESCE(array_agg(l.level ORDER BY s.name_key, s.id), '{}')
          INTO v_ids, v_levels
          FROM (SELECT x.system_id, max(x.permission)::smallint AS level
                  FROM (SELECT g.system_id, g.permission FROM user_system_grants g WHERE g.user_id = p_user
                        UNION ALL
                        SELECT m.system_id, g.permission FROM user_group_grants g
                          JOIN system_group_members m ON m.group_id = g.group_id WHERE g.user_id = p_user
                        UNION ALL
                        SELECT g.system_id, g.permission FROM team_members tm
                          JOIN team_system_grants g ON g.team_id = tm.team_id WHERE tm.user_id = p_user
                        UNION ALL
                        SELECT m.system_id, g.permission FROM team_members tm
                          JOIN team_group_grants g ON g.team_id = tm.team_id
                          JOIN system_group_members m ON m.group_id = g.group_id WHERE tm.user_id = p_user) x
                 GROUP BY x.system_id) l
          JOIN systems s ON s.id = l.system_id;
        IF cardinality(v_ids) > 50 THEN
          INSERT INTO access_lists AS m (user_id, version, system_ids, levels) VALUES (p_user, v_version, v_ids, v_levels)
            ON CONFLICT (user_id) DO UPDATE SET version = EXCLUDED.version, system_ids = EXCLUDED.system_ids, levels = EXCLUDED.levels;
        END IF;
      END IF;
      RETURN QUERY
        SELECT s.id, s.name, s.host, s.web_address, s.description, u.level, cardinality(v_ids)::bigint
          FROM unnest(v_ids[p_offset + 1 : p_offset + p_limit], v_levels[p_offset + 1 : p_offset + p_limit]) WITH ORDINALITY AS u (system_id, level, ord)
          JOIN systems s ON s.id = u.system_id
         ORDER BY u.ord;
    END;
    $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw("DROP FUNCTION accessible_systems_page(bigint, integer, integer)");
  await knex.raw("DROP TRIGGER systems_access_version_rename ON systems");
  await knex.raw("DROP FUNCTION move_access_version_on_rename()");
  for (const table of SOURCES)
    for (const event of ["insert", "update", "delete", "truncate"]) await knex.raw(`DROP TRIGGER ${table}_access_version_${event} ON ${table}`);
  await knex.raw("DROP FUNCTION move_access_version()");
  await knex.raw("DROP TABLE access_lists");
  await knex.raw("DROP TABLE access_version");
}
