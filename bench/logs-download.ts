/**
 * Logs benchmark (issue 7). Seeds a schema of its own with 1,000,000 audit events (one INSERT … SELECT), serves the
 * real app on a loopback port, signs in as an administrator over HTTP and downloads the whole trail as CSV and as
 * JSON, counting rows and bytes as they arrive. Prints seconds, MB/s and this process's RSS before, during and after
 * (server and client share the process, so buffering anywhere would show), then times pages of the Logs screen.
 * Drops its schema at the end, leaving the database as it found it.
 *
 * Usage: npm run bench:logs   (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test; schema gatehouse_bench_logs)
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { createDb } from "../src/db/index.ts";
import { migrateLatest } from "../src/db/migrate.ts";
import { createTestApp } from "../test/helpers/app.ts";
import { insertTestAdmin } from "../test/helpers/users.ts";

const baseUrl = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SCHEMA = "gatehouse_bench_logs";
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);

const mb = (bytes: number) => (bytes / 1_048_576).toFixed(1);
const rssMb = () => mb(process.memoryUsage().rss);
/** process.resourceUsage().maxRSS is in KiB: the high-water mark of the whole process so far. */
const peakMb = () => (process.resourceUsage().maxRSS / 1024).toFixed(1);

async function withSchemaAdmin<T>(task: (admin: ReturnType<typeof createDb>) => Promise<T>): Promise<T> {
  const admin = createDb({ databaseUrl: baseUrl, embeddedDir: undefined, poolMax: 1 });
  try {
    return await task(admin);
  } finally {
    await admin.destroy();
  }
}

await withSchemaAdmin(async (admin) => {
  await admin.raw(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin.raw(`CREATE SCHEMA ${SCHEMA}`);
});
const url = new URL(baseUrl);
url.searchParams.set("options", `-c search_path=${SCHEMA}`);
const db = createDb({ databaseUrl: url.toString(), embeddedDir: undefined });
const server = createServer();

try {
  await migrateLatest(db);
  const admin = await insertTestAdmin(db, { username: "bench-admin" });

  const seedStart = performance.now();
  await db.transaction(async (trx) => {
    // The app's connections stop any statement at 10 s; seeding a million rows takes longer, once.
    await trx.raw("SET LOCAL statement_timeout = 0");
    await trx.raw(
      `INSERT INTO audit_events (occurred_at, actor_id, actor_username, client_ip, request_id, action, target_type, target_id, target_label, details)
       SELECT now() - g * interval '500 milliseconds', (g % 50) + 1, 'user' || (g % 50), '10.0.' || (g % 256) || '.' || (g % 199), md5(g::text),
              CASE WHEN g % 10000 = 0 THEN 'password.reset_requested'
                   ELSE (ARRAY['sign_in.succeeded', 'user.updated', 'team.member_added', 'grant.changed', 'system.updated', 'sign_out', 'setup.administrator_created'])[(g % 7) + 1] END,
              'user', (g % 1000)::text, 'target ' || (g % 1000),
              jsonb_build_object('changes', jsonb_build_object('fullName', jsonb_build_object('from', 'Name ' || g, 'to', 'Name, "new" ' || g)), 'sequence', g)
       FROM generate_series(1, ?) g`,
      [EVENTS],
    );
  });
  await db.raw("ANALYZE audit_events");
  const seeded = await db("audit_events").count<{ count: string }[]>("* as count").first();
  console.log(`seeded ${Number(seeded?.count).toLocaleString("en")} audit events in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const app = createTestApp(db, { BASE_URL: origin });
  server.on("request", app);

  // Sign in through the real form, as a browser would: the login page's cookie and CSRF token, then the POST.
  const loginPage = await fetch(`${origin}/login`);
  const firstCookie = (loginPage.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await loginPage.text())?.[1] ?? "";
  const signIn = await fetch(`${origin}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: firstCookie, origin },
    body: new URLSearchParams({ _csrf: csrf, username: admin.username, password: admin.password }).toString(),
  });
  if (signIn.status !== 303) throw new Error(`sign-in failed with ${signIn.status}`);
  const cookie = (signIn.headers.get("set-cookie") ?? "").split(";")[0] ?? "";

  /**
   * Downloads one file, counting lines (newline bytes: no event here has a line break inside) and bytes as they stream
   * in, sampling RSS every 100 ms and noting it at every 200,000th line, so that a climb would show.
   */
  async function download(path: string) {
    let maxSampledRss = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      maxSampledRss = Math.max(maxSampledRss, process.memoryUsage().rss);
    }, 100);
    const start = performance.now();
    const res = await fetch(`${origin}${path}`, { headers: { cookie } });
    if (res.status !== 200 || !res.body) throw new Error(`${path} answered ${res.status}`);
    let lines = 0;
    let bytes = 0;
    let tail = Buffer.alloc(0);
    const milestones: string[] = [];
    for await (const chunk of res.body) {
      const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      bytes += buffer.length;
      for (let i = buffer.indexOf(10); i !== -1; i = buffer.indexOf(10, i + 1)) {
        lines += 1;
        if (lines % 200_000 === 0) milestones.push(`${lines / 1000}k: ${rssMb()}`);
      }
      tail = Buffer.concat([tail, buffer.subarray(-16)]).subarray(-16);
    }
    clearInterval(sampler);
    return { lines, bytes, seconds: (performance.now() - start) / 1000, maxSampledRss, tail: tail.toString("utf8"), milestones };
  }

  console.log(`RSS before downloads: ${rssMb()} MiB (peak so far ${peakMb()} MiB)`);
  for (const format of ["csv", "json"] as const) {
    const before = rssMb();
    const result = await download(`/admin/logs/download.${format}`);
    // CSV: a header line, then one line per event. JSON: "[", one line per event, "]".
    const rows = format === "csv" ? result.lines - 1 : result.lines - 2;
    const wellFormed = format === "csv" ? result.tail.endsWith("\r\n") : result.tail.endsWith("\n]\n");
    console.log(
      `${format.toUpperCase().padEnd(4)} ${rows.toLocaleString("en")} rows, ${mb(result.bytes)} MiB in ${result.seconds.toFixed(1)} s = ${(result.bytes / 1_000_000 / result.seconds).toFixed(1)} MB/s; ` +
        `RSS ${before} → ${rssMb()} MiB, highest sampled during ${mb(result.maxSampledRss)} MiB, process peak ${peakMb()} MiB; ends well-formed: ${wellFormed}`,
    );
    console.log(`     RSS (MiB) at lines ${result.milestones.join(", ")}`);
  }

  /** Times one page of the Logs screen (the median of 5 loads) and returns its HTML. */
  async function page(label: string, path: string): Promise<string> {
    const samples: number[] = [];
    let html = "";
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      const res = await fetch(`${origin}${path}`, { headers: { cookie } });
      html = await res.text();
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
      samples.push(performance.now() - start);
    }
    samples.sort((a, b) => a - b);
    const summary = /<caption>([^<]*)<\/caption>/.exec(html)?.[1] ?? (html.includes("No events match") ? "no event matches" : "no table");
    console.log(`${label.padEnd(46)} median ${samples[2]?.toFixed(1).padStart(7)} ms  (${summary})`);
    return html;
  }
  const olderHref = (html: string) => /<a href="([^"]*)" rel="next">Older<\/a>/.exec(html)?.[1]?.replace(/&amp;/g, "&");

  let html = await page("Logs, first page", "/admin/logs");
  for (let i = 0; i < 3; i++) html = await page(`Logs, Older × ${i + 1}`, olderHref(html) ?? "/admin/logs");
  // A page deep in the trail: the cursor of an event near the oldest end.
  const deep = await db.raw(
    `SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t, id FROM audit_events ORDER BY occurred_at, id OFFSET 1000 LIMIT 1`,
  );
  const cursor = `${deep.rows[0].t}_${deep.rows[0].id}`;
  await page("Logs, Older from the 999,000th event", `/admin/logs?older=${encodeURIComponent(cursor)}`);
  await page("Logs, Category Setup (1 in 7)", "/admin/logs?category=setup");
  await page("Logs, Category Passwords (1 in 10,000)", "/admin/logs?category=password");
  await page("Logs, Actor user7", "/admin/logs?actor=user7");
  await page("Logs, Search matching nothing (full scan)", "/admin/logs?q=no-such-text");
} finally {
  server.close();
  await db.destroy();
  await withSchemaAdmin((admin) => admin.raw(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`));
}
