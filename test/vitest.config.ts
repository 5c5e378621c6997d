import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    root: fileURLToPath(new URL("..", import.meta.url)),
    include: ["test/**/*.test.ts"],
    // One shared database (PGlite per file, or the one TEST_DATABASE_URL names): files run one after another.
    fileParallelism: false,
    // Generous: browser and process tests share two cores with Chromium, slapd and Postgres.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ["default"],
    globalSetup: ["test/helpers/global-setup.ts"],
  },
});
