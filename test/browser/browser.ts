import { existsSync, mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AxeBuilder } from "@axe-core/playwright";
import type { Express } from "express";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import type { Db } from "../../src/db/index.ts";
import { createTestApp } from "../helpers/app.ts";
import { createTestDb, resetDb } from "../helpers/db.ts";

/**
 * Browser tests drive the system's Chromium (never a downloaded one) against the real app, served
 * in-process on an ephemeral loopback port. Where no Chromium is installed they are skipped with a loud
 * notice, except under CI=true, where they fail: CI never skips.
 */
export const CHROMIUM_PATH = "/usr/bin/chromium";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

const chromiumInstalled = existsSync(CHROMIUM_PATH);
const onCi = process.env.CI === "true";

/** True when the browser tests should be skipped (no Chromium, and not on CI). Use with describe.skipIf. */
export const skipBrowserTests = !chromiumInstalled && !onCi;

if (skipBrowserTests) {
  console.warn(
    [
      "",
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
      `!!  BROWSER TESTS SKIPPED: no Chromium at ${CHROMIUM_PATH}.`,
      "!!  Install it (apt-get install -y chromium) to run them. Under CI=true they fail instead.",
      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
      "",
    ].join("\n"),
  );
}

export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  if (!chromiumInstalled) {
    throw new Error(`Chromium is not installed at ${CHROMIUM_PATH}; with CI=true the browser tests must run, so this fails.`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

const root = fileURLToPath(new URL("../..", import.meta.url));
export const SCREENSHOT_DIR = path.join(root, "test-results", "screenshots");

/** A fresh database, the real app on 127.0.0.1:<ephemeral port>, and a headless Chromium. */
export interface BrowserHarness {
  readonly baseUrl: string;
  readonly db: Db;
  readonly browser: Browser;
  /** Empties the database and serves a newly built app (so state such as the setup gate starts over). */
  reset(): Promise<void>;
  /** A new browser context (its own cookies) on the app, light colour scheme, a desktop-sized viewport. */
  newContext(): Promise<BrowserContext>;
  close(): Promise<void>;
}

/** `chromiumArgs`: more command-line switches, such as `--host-resolver-rules` to give test hostnames an address. */
export async function startHarness({ chromiumArgs = [] }: { chromiumArgs?: string[] } = {}): Promise<BrowserHarness> {
  const browser = await launchChromium(chromiumArgs);
  let db: Db | undefined;
  const server: Server = createServer();
  try {
    db = await createTestDb();
    await resetDb(db);
    // Listen first to learn the port, then build the app with that BASE_URL (the Origin check compares against it).
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
  } catch (error) {
    await browser.close();
    server.close();
    await db?.destroy();
    throw error;
  }
  return serve(browser, db, server);
}

function serve(browser: Browser, db: Db, server: Server): BrowserHarness {
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  const build = () => createTestApp(db, { BASE_URL: baseUrl });
  let app: Express = build();
  server.on("request", (req, res) => app(req, res));
  const contexts: BrowserContext[] = [];

  return {
    baseUrl,
    db,
    browser,
    async reset() {
      await resetDb(db);
      app = build();
    },
    async newContext() {
      const context = await browser.newContext({ baseURL: baseUrl, colorScheme: "light", reducedMotion: "reduce", viewport: { width: 1280, height: 800 } });
      // Fail a stuck step with Playwright's own message, well before the test's timeout.
      context.setDefaultTimeout(10_000);
      context.setDefaultNavigationTimeout(10_000);
      contexts.push(context);
      return context;
    },
    async close() {
      await Promise.allSettled(contexts.map((c) => c.close()));
      await browser.close().catch(() => undefined);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await db.destroy();
    },
  };
}

/** Saves a full-page PNG of what the page shows now, as test-results/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

interface AxeViolation {
  id: string;
  impact?: string | null;
  help: string;
  helpUrl: string;
  nodes: { target: unknown[]; failureSummary?: string }[];
}

function describeViolation(v: AxeViolation): string {
  const nodes = v.nodes
    .map((n) => `    - ${JSON.stringify(n.target)}${n.failureSummary ? `\n      ${n.failureSummary.replace(/\n/g, "\n      ")}` : ""}`)
    .join("\n");
  return `${v.id} (${v.impact ?? "unknown impact"}): ${v.help}\n    ${v.helpUrl}\n${nodes}`;
}

/**
 * Runs axe on the page as it is now and fails with a readable list (rule, help, target nodes) on any violation.
 * `rules` limits the run to those rules (the dark-scheme pass needs only the colour rules).
 */
export async function expectNoAxeViolations(page: Page, label: string, rules?: string[]): Promise<void> {
  const builder = new AxeBuilder({ page });
  if (rules) builder.withRules(rules);
  const results = await builder.analyze();
  const violations = results.violations as AxeViolation[];
  if (violations.length > 0) {
    throw new Error(
      `axe found ${violations.length} violation(s) on ${label} (${page.url()}):\n\n${violations.map(describeViolation).join("\n\n")}`,
    );
  }
}

/** What changes between the light and the dark scheme: colours. Everything else axe checks once, in light. */
export const COLOUR_RULES = ["color-contrast", "link-in-text-block"];

/**
 * The accessibility check of one page: all of axe in the light colour scheme, its colour rules again in the
 * dark one, and a full-page screenshot of each (<name>.png and <name>-dark.png). Leaves the page in light.
 */
export async function checkPage(page: Page, name: string): Promise<void> {
  try {
    await page.emulateMedia({ colorScheme: "light" });
    await screenshot(page, name);
    await expectNoAxeViolations(page, name);
    await page.emulateMedia({ colorScheme: "dark" });
    await screenshot(page, `${name}-dark`);
    await expectNoAxeViolations(page, `${name}-dark`, COLOUR_RULES);
  } finally {
    await page.emulateMedia({ colorScheme: "light" });
  }
}

/** Signs in through the real form, by label and button text, and waits for the redirect away from /login. */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto("/login");
  await page.getByLabel(/^username$/i).fill(username);
  await page.getByLabel(/^password$/i).fill(password);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/login"),
    page.getByRole("button", { name: /^sign in$/i }).click(),
  ]);
  if (response.status() !== 303) throw new Error(`signing in as ${username} failed with status ${response.status()}`);
  await page.waitForURL((url) => url.pathname !== "/login");
}
