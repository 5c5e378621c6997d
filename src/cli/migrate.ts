import { ConfigError } from "../config.ts";
import { migrateLatest, rollbackAll } from "../db/migrate.ts";
import { openConfiguredDb } from "./database.ts";

const direction = process.argv[2] ?? "latest";
if (direction !== "latest" && direction !== "rollback-all") {
  process.stderr.write("Usage: npm run migrate [-- latest | rollback-all]\n");
  process.exit(2);
}
try {
  const db = await openConfiguredDb();
  try {
    const names = direction === "latest" ? await migrateLatest(db) : await rollbackAll(db);
    process.stdout.write(
      names.length === 0 ? "Nothing to do: the database is up to date.\n" : `${direction === "latest" ? "Applied" : "Rolled back"}:\n${names.map((n) => `  ${n}\n`).join("")}`,
    );
  } finally {
    await db.destroy();
  }
} catch (error) {
  process.stderr.write(error instanceof ConfigError ? `${error.message}\n` : `Migration failed: ${(error as Error).message}\n`);
  process.exit(1);
}
