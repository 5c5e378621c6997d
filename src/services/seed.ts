import type { Db } from "../db/index.ts";
import { ConflictError, ValidationError } from "../errors.ts";
import { usernameField } from "../lib/fields.ts";
import type { Logger } from "../lib/logger.ts";
import { anyUserExists } from "../repositories/users/index.ts";
import { createFirstAdministrator } from "./accounts.ts";
import { SYSTEM_ACTOR } from "./audit.ts";

/** ADMIN_USERNAME / ADMIN_PASSWORD: creates the first administrator on an empty database, otherwise does nothing. */
export async function seedAdministrator(db: Db, seed: { username: string; password: string }, logger: Logger): Promise<void> {
  // Checked first so that every later start skips the password hash.
  if (await anyUserExists(db)) return;
  const username = usernameField.safeParse(seed.username);
  if (!username.success) throw new Error(`ADMIN_USERNAME is not acceptable: ${username.error.issues[0]?.message}`);
  try {
    const user = await createFirstAdministrator(db, SYSTEM_ACTOR, { username: username.data, password: seed.password });
    logger.info({ username: user.username }, "created the first administrator from ADMIN_USERNAME");
  } catch (error) {
    if (error instanceof ConflictError) return;
    if (error instanceof ValidationError) {
      throw new Error(`ADMIN_PASSWORD is not acceptable: ${Object.values(error.fields).join(" ")}`);
    }
    throw error;
  }
}
