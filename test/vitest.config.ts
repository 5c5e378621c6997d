import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL("..", import.meta.url));

/**
 * Four projects. Each test file has a database of its own (an in-memory PGlite, or its own schema on the Postgres
 * that TEST_DATABASE_URL names: see helpers/db.ts), so files need not wait for each other for the database:
 *
 * - unit and http run two files at a time (one per core) — `npm run test:unit`, `npm run test:http`. An http worker
 *   runs its files one after another in one process (isolate: false): src/ and the helpers are loaded once, not
 *   once a file (2–4 s of CPU each). Every file still makes its own database, app and servers in its hooks; what
 *   a module keeps between files is only counters and cached password hashes (helpers/users.ts, src/services);
 * - integration and browser run one file at a time, after them: they start processes (the app, slapd, Chromium,
 *   SMTP and TCP proxies) and are the heaviest on the two cores.
 *
 * `npm test` runs all four. Vitest runs projects of one `groupOrder` together and the groups one after another.
 */
const shared = {
  root,
  // Generous: browser and process tests share two cores with Chromium, slapd and Postgres.
  testTimeout: 60_000,
  hookTimeout: 120_000,
} as const;

const PARALLEL = 2;

export default defineConfig({
  test: {
    root,
    reporters: ["default"],
    // Makes the migrated PGlite snapshot every file's database starts from (unless only unit tests run).
    globalSetup: ["test/helpers/global-setup.ts"],
    projects: [
      {
        test: {
          ...shared,
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          maxWorkers: PARALLEL,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: "http",
          include: ["test/http/**/*.test.ts"],
          maxWorkers: PARALLEL,
          // See above; the other projects start a fresh process for each file.
          isolate: false,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: "integration",
          // test/integration/, and any other folder of tests that has no project of its own.
          include: ["test/**/*.test.ts"],
          exclude: ["test/unit/**", "test/http/**", "test/browser/**", "**/node_modules/**"],
          fileParallelism: false,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          ...shared,
          name: "browser",
          include: ["test/browser/**/*.test.ts"],
          fileParallelism: false,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
