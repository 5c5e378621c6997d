import type { Knex } from "knex";
import { nameSkeleton } from "../src/lib/fields.ts";

const ROWS_PER_UPDATE = 5_000;

/**
 * docs/domain.md, "Accounts": a username may not look like another one ("аdmin" with a Cyrillic а beside "admin").
 * Each account gets the UTS #39 skeleton of its name (src/lib/confusables.ts) under a unique index, so that two
 * look-alikes cannot both be written, whichever path writes them and however close together.
 *
 * Accounts that already look alike must not stop the upgrade: the oldest of them keeps its skeleton, the others get
 * none (NULL, which a unique index lets repeat) and an audit event `user.username_lookalike_found` naming the one
 * they look like. They keep working; renaming one gives it a skeleton again, if the new name looks like nobody's.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw("ALTER TABLE users ADD COLUMN username_skeleton text");
  let after = 0;
  for (;;) {
    const rows = (await knex("users").select("id", "username").where("id", ">", after).orderBy("id").limit(ROWS_PER_UPDATE)) as {
      id: string | number;
      username: string;
    }[];
    if (rows.length === 0) break;
    await knex.raw(
      `UPDATE users SET username_skeleton = v.skeleton
         FROM (VALUES ${rows.map(() => "(CAST(? AS bigint), ?)").join(", ")}) AS v(id, skeleton)
        WHERE users.id = v.id`,
      rows.flatMap((row) => [row.id, nameSkeleton(row.username)]),
    );
    after = Number(rows[rows.length - 1]?.id);
  }
  await knex.raw(`
    WITH oldest AS (
      SELECT DISTINCT ON (username_skeleton) id, username, username_skeleton
        FROM users WHERE username_skeleton IS NOT NULL ORDER BY username_skeleton, id
    ), cleared AS (
      UPDATE users SET username_skeleton = NULL
        FROM oldest WHERE oldest.username_skeleton = users.username_skeleton AND oldest.id <> users.id
      RETURNING users.id, users.username, oldest.id AS kept_id, oldest.username AS kept_username
    )
    INSERT INTO audit_events (actor_username, action, target_type, target_id, target_label, details)
    SELECT 'system', 'user.username_lookalike_found', 'user', CAST(id AS text), username,
           jsonb_build_object('lookalikeOf', jsonb_build_object('id', kept_id, 'username', kept_username))
      FROM cleared`);
  await knex.raw("CREATE UNIQUE INDEX users_username_skeleton_unique_idx ON users (username_skeleton)");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw("DROP INDEX users_username_skeleton_unique_idx");
  await knex.raw("ALTER TABLE users DROP COLUMN username_skeleton");
}
