import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { chooseLogFormat } from "../../src/lib/logger.ts";

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("loadConfig", () => {
  it("has working defaults for a fresh machine", () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.baseUrl).toBe("http://localhost:3000");
    expect(config.databaseUrl).toBeUndefined();
    expect(config.dataDir).toBe("./data");
    expect(config.secureCookies).toBe(false);
    expect(config.session).toEqual({ idleMinutes: 30, absoluteHours: 12 });
  });

  it("names every bad variable on a line of its own", () => {
    const problems = problemsOf({ PORT: "eighty", BASE_URL: "ftp://x", DATABASE_URL: "mysql://x", LOG_LEVEL: "loud", APP_SECRET: "short" });
    expect(problems).toHaveLength(5);
    expect(problems.find((p) => p.startsWith("PORT:"))).toContain('"eighty"');
    expect(problems.find((p) => p.startsWith("BASE_URL:"))).toContain("http");
    expect(problems.find((p) => p.startsWith("DATABASE_URL:"))).toContain("postgres://");
    expect(problems.find((p) => p.startsWith("LOG_LEVEL:"))).toBeDefined();
    const secret = problems.find((p) => p.startsWith("APP_SECRET:"));
    expect(secret).toContain("32");
    expect(secret).not.toContain("short");
  });

  it("requires ADMIN_USERNAME and ADMIN_PASSWORD together and never echoes the password", () => {
    expect(problemsOf({ ADMIN_PASSWORD: "hunter2hunter2" })).toEqual([
      "ADMIN_USERNAME: ADMIN_USERNAME and ADMIN_PASSWORD must be set together",
    ]);
    expect(problemsOf({ ADMIN_USERNAME: "root" })[0]).toMatch(/^ADMIN_PASSWORD:/);
    const seeded = loadConfig({ ADMIN_USERNAME: "root", ADMIN_PASSWORD: "a long enough password" });
    expect(seeded.adminSeed).toEqual({ username: "root", password: "a long enough password" });
  });

  it("uses secure cookies when the base URL is https", () => {
    const config = loadConfig({ BASE_URL: "https://gatehouse.example.com/" });
    expect(config.secureCookies).toBe(true);
    expect(config.baseUrl).toBe("https://gatehouse.example.com");
  });
});

describe("the log format", () => {
  it("is JSON lines off a terminal, one readable line per event on one, and LOG_FORMAT forces either", () => {
    expect(loadConfig({}).logFormat).toBeUndefined();
    expect(chooseLogFormat(undefined, false)).toBe("json");
    expect(chooseLogFormat(undefined, true)).toBe("pretty");
    expect(chooseLogFormat(loadConfig({ LOG_FORMAT: "json" }).logFormat, true)).toBe("json");
    expect(chooseLogFormat(loadConfig({ LOG_FORMAT: "pretty" }).logFormat, false)).toBe("pretty");
    expect(problemsOf({ LOG_FORMAT: "xml" }).filter((p) => p.startsWith("LOG_FORMAT:"))).toHaveLength(1);
  });
});
