import { existsSync, mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import AxeBuilder from "@axe-core/playwright";
import type { Express } from "express";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { expect } from "vitest";
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

export async function launchChromium(): Promise<Browser> {
  if (!chromiumInstalled) {
    throw new Error(`Chromium is not installed at ${CHROMIUM_PATH}; with CI=true the browser tests must run, so this fails.`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
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

export async function startHarness(): Promise<BrowserHarness> {
  const db = await createTestDb();
  await resetDb(db);

  // Listen first to learn the port, then build the app with that BASE_URL (the Origin check compares against it).
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  const build = () => createTestApp(db, { BASE_URL: baseUrl });
  let app: Express = build();
  server.on("request", (req, res) => app(req, res));

  let browser: Browser;
  try {
    browser = await launchChromium();
  } catch (error) {
    server.close();
    await db.destroy();
    throw error;
  }
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
      const context = await browser.newContext({ baseURL: baseUrl, colorScheme: "light", viewport: { width: 1280, height: 800 } });
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

/** Runs axe on the page as it is now and fails with a readable list (rule, help, target nodes) on any violation. */
export async function expectNoAxeViolations(page: Page, label: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const violations = (results.violations as AxeViolation[]).map(describeViolation);
  expect(violations, `axe violations on ${label} (${page.url()})`).toEqual([]);
}

/**
 * The accessibility check of one page: axe in the light and the dark colour scheme, and a full-page
 * screenshot of each (<name>.png and <name>-dark.png). Leaves the page in the light scheme.
 */
export async function checkPage(page: Page, name: string): Promise<void> {
  try {
    for (const colorScheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme });
      const label = colorScheme === "light" ? name : `${name}-dark`;
      await screenshot(page, label);
      await expectNoAxeViolations(page, label);
    }
  } finally {
    await page.emulateMedia({ colorScheme: "light" });
  }
}

/** Signs in through the real form, by label and button text, and waits for the redirect away from /login. */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto("/login");
  await page.getByLabel(/^username$/i).fill(username);
  await page.getByLabel(/^password$/i).fill(password);
  await page.getByRole("button", { name: /^sign in$/i }).click();
  await page.waitForURL((url) => url.pathname !== "/login");
}
