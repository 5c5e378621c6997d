/**
 * Sign-in latency with the production argon2 parameters, through the real app and database:
 * sequential sign-ins (the latency one person sees) and 16 at once (the hash concurrency cap at work).
 * Usage: npm run bench:sign-in [-- <rounds>]   (BENCH_DATABASE_URL for Postgres; embedded otherwise)
 */
import { performance } from "node:perf_hooks";
import argon2 from "argon2";
import { createTestApp } from "../test/helpers/app.ts";
import { TestAgent } from "../test/helpers/agent.ts";
import { createDb } from "../src/db/index.ts";
import { migrateLatest } from "../src/db/migrate.ts";
import { ARGON2_OPTIONS } from "../src/services/passwords.ts";
import { buildUser, DEFAULT_PASSWORD } from "../test/helpers/factories.ts";

const rounds = Number(process.argv[2] ?? 40);

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function report(label: string, samples: number[]): void {
  console.log(`${label.padEnd(44)} n=${String(samples.length).padStart(3)}  p50 ${percentile(samples, 50).toFixed(1).padStart(7)} ms  p99 ${percentile(samples, 99).toFixed(1).padStart(7)} ms`);
}

const db = createDb({ databaseUrl: process.env.BENCH_DATABASE_URL, embeddedDir: undefined });
await migrateLatest(db);
await db.raw("TRUNCATE users, sessions, audit_events, login_failures RESTART IDENTITY CASCADE");
const app = createTestApp(db);
const users = await Promise.all(Array.from({ length: 16 }, (_, i) => buildUser(db, { username: `bench${i}` })));

const hash = await argon2.hash(DEFAULT_PASSWORD, ARGON2_OPTIONS);
const verifySamples: number[] = [];
for (let i = 0; i < rounds; i++) {
  const start = performance.now();
  await argon2.verify(hash, DEFAULT_PASSWORD);
  verifySamples.push(performance.now() - start);
}

async function timedSignIn(username: string): Promise<number> {
  const agent = new TestAgent(app);
  await agent.refreshToken("/login");
  const start = performance.now();
  const res = await agent.post("/login", { username, password: DEFAULT_PASSWORD });
  const elapsed = performance.now() - start;
  if (res.status !== 303) throw new Error(`sign-in failed: ${res.status}`);
  return elapsed;
}

const sequential: number[] = [];
for (let i = 0; i < rounds; i++) sequential.push(await timedSignIn(users[i % users.length]!.username));

const concurrent: number[] = [];
for (let i = 0; i < Math.max(1, Math.floor(rounds / 16)); i++) {
  concurrent.push(...(await Promise.all(users.map((u) => timedSignIn(u.username)))));
}

console.log(`argon2id m=${ARGON2_OPTIONS.memoryCost} KiB t=${ARGON2_OPTIONS.timeCost} p=${ARGON2_OPTIONS.parallelism}; database: ${process.env.BENCH_DATABASE_URL ? "Postgres" : "PGlite (embedded)"}`);
report("argon2 verify alone", verifySamples);
report("POST /login, one at a time", sequential);
report("POST /login, 16 concurrent", concurrent);
await db.destroy();
