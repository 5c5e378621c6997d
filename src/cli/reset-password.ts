import { ConfigError } from "../config.ts";
import { AppError } from "../errors.ts";
import { migrateLatest } from "../db/migrate.ts";
import { usernameField } from "../lib/fields.ts";
import { findUserByUsername } from "../repositories/users/index.ts";
import { SYSTEM_ACTOR } from "../services/audit.ts";
import { issueTemporaryPassword, TEMPORARY_PASSWORD_VALID_SECONDS } from "../services/password-reset.ts";
import { openConfiguredDb } from "./database.ts";

/**
 * Break-glass (docs/domain.md, "Passwords and reset"): `npm run reset-password -- <username>` prints a temporary password, valid 6 hours
 * and changed at its first use, and lifts the account's sign-in lock. Audited as done from the command line.
 */
function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const parsed = usernameField.safeParse(process.argv[2] ?? "");
if (!parsed.success) fail(`Usage: npm run reset-password -- <username>\n${parsed.error.issues[0]?.message ?? ""}`);

try {
  const db = await openConfiguredDb();
  try {
    await migrateLatest(db);
    const user = await findUserByUsername(db, parsed.data);
    if (!user) fail(`No account is called "${parsed.data}".`);
    const { password } = await issueTemporaryPassword(db, { ...SYSTEM_ACTOR, username: "cli" }, user.id);
    const hours = TEMPORARY_PASSWORD_VALID_SECONDS / 3600;
    process.stdout.write(
      `Temporary password for ${user.username}: ${password}\n` +
        `It is valid for ${hours} hours and works once: sign in with it, then choose a new password. The sign-in lock, if any, is lifted.\n`,
    );
  } finally {
    await db.destroy();
  }
} catch (error) {
  if (error instanceof AppError || error instanceof ConfigError) fail(error.message);
  throw error;
}
