/**
 * Resolver benchmark (issue: teams/access). Seeds a fresh schema with 100,000 users, 10,000 systems, 1,000 teams
 * (about 20 members each), 500 groups (about 50 systems each), 200,000 user grants and 20,000 team grants, then prints
 * p50/p99 of (a) the single (user, system) check, (b) the accessible-systems list of a user with about 2,000
 * systems, (c) the floor: a bare indexed SELECT of one grant row, and the ratio a/c, all in this one run.
 *
 * Usage: npm run bench:access   (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test; uses schema gatehouse_bench)
 */
import { performance } from "node:perf_hooks";
import { accessibleSystems, permissionLevel } from "../src/repositories/effective-access.ts";
import { freshSchema, HEAVY, SYSTEMS, seedAccess, USERS } from "./seed-access.ts";

const SCHEMA = "gatehouse_bench";

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function time(samples: number[], task: () => Promise<unknown>): Promise<void> {
  const start = performance.now();
  await task();
  samples.push(performance.now() - start);
}

const db = await freshSchema(SCHEMA, 1);
await seedAccess(db);

const pairs = Array.from({ length: 3000 }, (_, i) => ({ user: ((i * 7919) % USERS) + 1, system: ((i * 104729) % SYSTEMS) + 1 }));

// Warm up both paths so that neither pays for planning or cold pages alone.
for (const p of pairs.slice(0, 300)) {
  await permissionLevel(db, p.user, p.system);
  await db("user_system_grants").select("permission").where({ user_id: p.user, system_id: p.system }).first();
}

const check: number[] = [];
const floor: number[] = [];
for (const p of pairs) {
  await time(check, () => permissionLevel(db, p.user, p.system));
  await time(floor, () => db("user_system_grants").select("permission").where({ user_id: p.user, system_id: p.system }).first());
}

const list: number[] = [];
let listed = 0;
for (let i = 0; i < 60; i++) {
  await time(list, async () => {
    listed = (await accessibleSystems(db, HEAVY)).systems.length;
  });
}

const row = (label: string, samples: number[]) =>
  console.log(`${label.padEnd(52)} n=${String(samples.length).padStart(5)}  p50 ${percentile(samples, 50).toFixed(3).padStart(8)} ms  p99 ${percentile(samples, 99).toFixed(3).padStart(8)} ms`);
row("(a) single (user, system) check", check);
row(`(b) accessible systems of one user (${listed} systems)`, list);
row("(c) floor: bare indexed SELECT of one grant row", floor);
console.log(`a/c ratio: p50 ${(percentile(check, 50) / percentile(floor, 50)).toFixed(2)}  p99 ${(percentile(check, 99) / percentile(floor, 99)).toFixed(2)}`);
console.log(`targets: (a) p50 < 1 ms and a/c < 3; (b) p50 < 30 ms`);
await db.destroy();
