import type { Knex } from "knex";

/**
 * One table per (subject, target) pair, so that each of the resolver's four sources (docs/domain.md, "Grants and the resolver": A user→system,
 * B user→group, C team→system, D team→group) is one primary-key lookup. Permission: 1 = read, 2 = read/write,
 * so the most permissive grant is max(permission).
 */
const GRANT_TABLES = [
  { table: "user_system_grants", subject: "user_id", subjectTable: "users", target: "system_id", targetTable: "systems" },
  { table: "user_group_grants", subject: "user_id", subjectTable: "users", target: "group_id", targetTable: "system_groups" },
  { table: "team_system_grants", subject: "team_id", subjectTable: "teams", target: "system_id", targetTable: "systems" },
  { table: "team_group_grants", subject: "team_id", subjectTable: "teams", target: "group_id", targetTable: "system_groups" },
] as const;

export async function up(knex: Knex): Promise<void> {
  for (const g of GRANT_TABLES) {
    await knex.schema.createTable(g.table, (t) => {
      t.bigInteger(g.subject).notNullable().references("id").inTable(g.subjectTable).onDelete("CASCADE");
      t.bigInteger(g.target).notNullable().references("id").inTable(g.targetTable).onDelete("CASCADE");
      t.smallint("permission").notNullable().defaultTo(1);
      t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
      t.primary([g.subject, g.target]);
      t.index([g.target, g.subject]);
    });
    await knex.raw(`ALTER TABLE ${g.table} ADD CONSTRAINT ${g.table}_permission_check CHECK (permission IN (1, 2))`);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const g of [...GRANT_TABLES].reverse()) await knex.schema.dropTable(g.table);
}
