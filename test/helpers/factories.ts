import type { Db } from "../../src/db/index.ts";
import { createUser } from "../../src/services/accounts.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import type { User, UserDetails } from "../../src/types/user.ts";

export const DEFAULT_PASSWORD = "correct horse battery staple 42";

let counter = 0;

export async function buildUser(
  db: Db,
  overrides: Partial<UserDetails> & { password?: string } = {},
): Promise<User & { password: string }> {
  counter += 1;
  const { password = DEFAULT_PASSWORD, ...details } = overrides;
  const { user } = await createUser(db, SYSTEM_ACTOR, {
    details: {
      username: `user${counter}`,
      fullName: `Test User ${counter}`,
      title: "",
      email: null,
      phone: "",
      isAdmin: false,
      authSource: "local",
      ...details,
    },
    password,
  });
  return { ...user, password };
}

export function buildAdmin(db: Db, overrides: Partial<UserDetails> & { password?: string } = {}) {
  return buildUser(db, { isAdmin: true, ...overrides });
}
