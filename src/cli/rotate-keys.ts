import { ConfigError, loadConfig } from "../config.ts";
import { migrateLatest } from "../db/migrate.ts";
import { AppError } from "../errors.ts";
import { deriveSecretKeys, resolveAppSecret } from "../lib/app-secret.ts";
import { SYSTEM_ACTOR } from "../services/audit.ts";
import { RETIRED_KEY_PUBLISHED_SECONDS, replaceUnreadableSigningKeys, rotateSigningKeys, SigningKeysUnreadableError } from "../services/signing-keys.ts";
import { openConfiguredDb } from "./database.ts";

/**
 * `npm run rotate-keys`: new signing keys for the OpenID Connect provider; the previous ones stay published for
 * verification (services/signing-keys.ts). `-- --replace-unreadable` instead deletes the keys this APP_SECRET cannot
 * open (the one that sealed them is lost) and makes new ones. Audited as done from the command line. Uses the
 * APP_SECRET the console would: the variable, or the one generated into DATA_DIR.
 */
const USAGE = "Usage: npm run rotate-keys [-- --replace-unreadable]";

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const args = process.argv.slice(2);
if (args.length > 1 || (args[0] !== undefined && args[0] !== "--replace-unreadable")) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(2);
}
const replaceUnreadable = args[0] === "--replace-unreadable";
const actor = { ...SYSTEM_ACTOR, username: "cli" };

try {
  const config = loadConfig(process.env);
  const { secret } = await resolveAppSecret(config.appSecret, config.dataDir);
  const keys = deriveSecretKeys(secret);
  const db = await openConfiguredDb();
  try {
    await migrateLatest(db);
    if (replaceUnreadable) {
      const { deleted, created } = await replaceUnreadableSigningKeys(db, keys, actor);
      process.stdout.write(
        deleted.length === 0
          ? "Every stored signing key opens with this APP_SECRET; nothing was deleted.\n"
          : `Deleted ${deleted.length} signing key(s) this APP_SECRET cannot open: ${deleted.join(", ")}. Tokens they signed no longer verify.\n`,
      );
      if (created.length > 0) process.stdout.write(`New current keys: ${created.join(", ")}\n`);
    } else {
      const result = await rotateSigningKeys(db, keys, actor);
      process.stdout.write(`New current keys:\n${result.created.map((k) => `  ${k.kid} (${k.alg})\n`).join("")}`);
      if (result.retired.length === 0) process.stdout.write("There were no keys before; nothing was retired.\n");
      else
        process.stdout.write(
          `Retired, published for verification until ${result.retiredPublishedUntil.toISOString()} (${RETIRED_KEY_PUBLISHED_SECONDS / 3600} hours):\n` +
            result.retired.map((k) => `  ${k.kid} (${k.alg})\n`).join(""),
        );
    }
  } finally {
    await db.destroy();
  }
} catch (error) {
  if (error instanceof AppError || error instanceof ConfigError || error instanceof SigningKeysUnreadableError) fail(error.message);
  throw error;
}
