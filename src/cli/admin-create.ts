import { createInterface } from "node:readline";
import { ConfigError } from "../config.ts";
import { ConflictError, ValidationError } from "../errors.ts";
import { migrateLatest } from "../db/migrate.ts";
import { usernameField } from "../lib/fields.ts";
import { createUser } from "../services/accounts.ts";
import { SYSTEM_ACTOR } from "../services/audit.ts";
import { passwordProblem } from "../services/password-policy.ts";
import { openConfiguredDb } from "./database.ts";

/** Reads the password from stdin: one line when piped, a prompt without echo on a terminal. */
async function readPassword(): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
  if (process.stdin.isTTY) {
    const output = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WriteStream };
    process.stdout.write("Password: ");
    output._writeToOutput = () => undefined;
  }
  const line = await new Promise<string>((resolve) => {
    rl.once("line", resolve);
    rl.once("close", () => resolve(""));
  });
  rl.close();
  if (process.stdin.isTTY) process.stdout.write("\n");
  return line.replace(/\r$/, "");
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const parsed = usernameField.safeParse(process.argv[2] ?? "");
if (!parsed.success) fail(`Usage: npm run admin:create -- <username>\n${parsed.error.issues[0]?.message ?? ""}`);

try {
  const password = await readPassword();
  if (!password) fail("No password given. Type it at the prompt or pipe it on stdin.");
  // Refuse a weak password before opening (or creating) the database; createUser checks it again.
  const problem = passwordProblem(password, { username: parsed.data });
  if (problem) fail(problem);
  const db = await openConfiguredDb();
  try {
    await migrateLatest(db);
    const { user } = await createUser(db, { ...SYSTEM_ACTOR, username: "cli" }, {
      details: { username: parsed.data, fullName: "", title: "", email: null, phone: "", isAdmin: true, authSource: "local" },
      password,
    });
    process.stdout.write(`Administrator ${user.username} created.\n`);
  } finally {
    await db.destroy();
  }
} catch (error) {
  if (error instanceof ValidationError) fail(Object.values(error.fields).join("\n"));
  if (error instanceof ConflictError || error instanceof ConfigError) fail(error.message);
  throw error;
}
