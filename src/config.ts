import { z } from "zod";
import { DATABASE_TIMEOUT_DEFAULTS } from "./db/timeouts.ts";
import { LOOPBACK_PROXIES, parseProxyList } from "./lib/trusted-proxies.ts";

const optionalText = z.preprocess((v) => (v === "" ? undefined : v), z.string().optional());

const EnvSchema = z
  .object({
    NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    BASE_URL: z.preprocess(
      (v) => (v === "" ? undefined : v),
      z
        .url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" })
        .optional(),
    ),
    DATABASE_URL: z.preprocess(
      (v) => (v === "" ? undefined : v),
      z
        .string()
        .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL")
        .optional(),
    ),
    DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(500).max(60_000).default(DATABASE_TIMEOUT_DEFAULTS.connectMs),
    DATABASE_QUERY_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(600_000).default(DATABASE_TIMEOUT_DEFAULTS.queryMs),
    DATA_DIR: z.string().min(1).default("./data"),
    APP_SECRET: z.preprocess(
      (v) => (v === "" ? undefined : v),
      z.string().min(32, "must be at least 32 characters").optional(),
    ),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    LOG_FORMAT: z.preprocess((v) => (v === "" ? undefined : v), z.enum(["json", "pretty"]).optional()),
    ADMIN_USERNAME: optionalText,
    ADMIN_PASSWORD: optionalText,
    TRUST_PROXY: z.coerce.number().int().min(0).max(10).default(0),
    GATE_TRUSTED_PROXIES: z
      .string()
      .default("")
      .superRefine((v, ctx) => {
        const { invalid } = parseProxyList(v);
        if (invalid.length > 0)
          ctx.addIssue({ code: "custom", message: `must be IP addresses or CIDR ranges separated by commas; not one: ${invalid.join(", ")}` });
      }),
  })
  .superRefine((env, ctx) => {
    if (Boolean(env.ADMIN_USERNAME) !== Boolean(env.ADMIN_PASSWORD)) {
      ctx.addIssue({
        code: "custom",
        path: [env.ADMIN_USERNAME ? "ADMIN_PASSWORD" : "ADMIN_USERNAME"],
        message: "ADMIN_USERNAME and ADMIN_PASSWORD must be set together",
      });
    }
  });

/**
 * Session timeouts when General settings were never saved (docs/domain.md, "Sessions and throttling"; docs/security.md §1.1): idle 30 minutes,
 * 12 hours after sign-in. The saved General settings take over from these.
 */
export const SESSION_DEFAULTS: Config["session"] = Object.freeze({ idleMinutes: 30, absoluteHours: 12 });

export interface Config {
  readonly env: "development" | "production" | "test";
  readonly port: number;
  readonly baseUrl: string;
  readonly secureCookies: boolean;
  readonly databaseUrl: string | undefined;
  readonly databaseTimeouts: { readonly connectMs: number; readonly queryMs: number };
  readonly dataDir: string;
  /** Undefined until main.ts resolves it (generated into DATA_DIR when not given). */
  readonly appSecret: string | undefined;
  readonly logLevel: string;
  /** LOG_FORMAT when set; undefined lets main.ts choose by whether stdout is a terminal. */
  readonly logFormat: "json" | "pretty" | undefined;
  readonly adminSeed: { readonly username: string; readonly password: string } | undefined;
  readonly trustProxy: number;
  /** The addresses and ranges the gate takes forwarded headers from: loopback unless GATE_TRUSTED_PROXIES says. */
  readonly gateTrustedProxies: readonly string[];
  readonly session: { readonly idleMinutes: number; readonly absoluteHours: number };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.join("\n")}`);
  }
}

/** Reads the environment once; pure, so tests can pass any object. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.join(".") || "environment";
      const given = typeof issue.path[0] === "string" ? env[issue.path[0]] : undefined;
      const shown = given === undefined || /SECRET|PASSWORD/.test(name) ? "" : ` (got "${given}")`;
      return `${name}: ${issue.message}${shown}`;
    });
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const baseUrl = (e.BASE_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, "");
  return Object.freeze({
    env: e.NODE_ENV,
    port: e.PORT,
    baseUrl,
    secureCookies: baseUrl.startsWith("https://"),
    databaseUrl: e.DATABASE_URL,
    databaseTimeouts: { connectMs: e.DATABASE_CONNECT_TIMEOUT_MS, queryMs: e.DATABASE_QUERY_TIMEOUT_MS },
    dataDir: e.DATA_DIR,
    appSecret: e.APP_SECRET,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    adminSeed:
      e.ADMIN_USERNAME && e.ADMIN_PASSWORD
        ? { username: e.ADMIN_USERNAME, password: e.ADMIN_PASSWORD }
        : undefined,
    trustProxy: e.TRUST_PROXY,
    gateTrustedProxies: e.GATE_TRUSTED_PROXIES.trim() ? parseProxyList(e.GATE_TRUSTED_PROXIES).entries : LOOPBACK_PROXIES,
    session: { ...SESSION_DEFAULTS },
  });
}
