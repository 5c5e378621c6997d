/**
 * Import benchmark (docs/domain.md, "Importing users"). In a fresh schema of its own: an administrator, 20 teams and
 * Alert Services pointed at an SMTP server in this process; then the real app on a loopback port receives a CSV
 * of 10,000 rows (emails, one to three teams each, a tenth of them LDAP) through POST /api/v1/users/import, first
 * with checkOnly=true, then for real. Prints the time of each, the rows per second, the statements the import
 * sent, and how fast the outbox then hands the invitations to the SMTP server (sampled); the last line is JSON.
 * Drops its schema at the end.
 *
 * Usage: npm run bench:import   (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test; schema
 * gatehouse_bench_import; BENCH_ROWS to change the 10,000; BENCH_SKIP_MAIL=1 to leave mail unconfigured)
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { createDb } from "../src/db/index.ts";
import { migrateLatest } from "../src/db/migrate.ts";
import { createTestAppParts } from "../test/helpers/app.ts";
import { createTestApiToken } from "../test/helpers/api-tokens.ts";
import { configureSmtp, TestMailServer } from "../test/helpers/mail.ts";
import { insertTestAdmin } from "../test/helpers/users.ts";
import { makeTeam } from "../test/helpers/access.ts";

const baseUrl = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SCHEMA = "gatehouse_bench_import";
const ROWS = Number(process.env.BENCH_ROWS ?? 10_000);
const WITH_MAIL = process.env.BENCH_SKIP_MAIL !== "1";
const TARGET_SECONDS = 30;
const SAMPLE_SECONDS = 10;
const TEAMS = Array.from({ length: 20 }, (_, i) => `Team ${i + 1}`);

const seconds = (ms: number) => (ms / 1000).toFixed(2);

function csv(rows: number): string {
  const lines = ["username,full name,email,title,phone,teams,authentication"];
  for (let i = 1; i <= rows; i++) {
    const ldap = i % 10 === 0;
    const email = ldap || i % 5 === 0 ? "" : `person${i}@example.test`;
    const teams = [TEAMS[i % 20], ...(i % 2 ? [TEAMS[(i + 7) % 20]] : []), ...(i % 3 ? [] : [TEAMS[(i + 13) % 20]])].join(";");
    lines.push(`person${i},"Person ${i}, Imported",${email},Engineer,+1 555 ${String(i).padStart(4, "0")},"${teams}",${ldap ? "ldap" : "local"}`);
  }
  return `${lines.join("\n")}\n`;
}

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
const mailServer = await TestMailServer.start();
let statements = 0;
db.on("query", () => {
  statements++;
});

try {
  await migrateLatest(db);
  const admin = await insertTestAdmin(db, { username: "bench-admin" });
  for (const name of TEAMS) await makeTeam(db, name);
  if (WITH_MAIL) await configureSmtp(db, mailServer);
  const token = await createTestApiToken(db, admin);

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { app, mailOutbox } = createTestAppParts(db, { BASE_URL: origin });
  server.on("request", app);

  const body = csv(ROWS);
  console.log(`file: ${ROWS.toLocaleString("en")} rows, ${(body.length / 1_048_576).toFixed(2)} MB; mail ${WITH_MAIL ? "configured (SMTP in this process)" : "not configured"}`);
  const post = (query: string) =>
    fetch(`${origin}/api/v1/users/import${query}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "text/csv" }, body });

  statements = 0;
  const checkStart = performance.now();
  const checked = await post("?checkOnly=true");
  const checkMs = performance.now() - checkStart;
  const checkStatements = statements;
  if (checked.status !== 200) throw new Error(`check only answered ${checked.status}: ${(await checked.text()).slice(0, 500)}`);
  console.log(`check only: ${seconds(checkMs)} s, ${JSON.stringify(await checked.json())}, ${checkStatements} statements`);

  statements = 0;
  const importStart = performance.now();
  const imported = await post("");
  const importMs = performance.now() - importStart;
  const importStatements = statements;
  if (imported.status !== 201) throw new Error(`import answered ${imported.status}: ${(await imported.text()).slice(0, 500)}`);
  const result = (await imported.json()) as { imported: number; invitationsSent: number; teamsJoined: number };
  console.log(
    `import: ${seconds(importMs)} s (${Math.round(ROWS / (importMs / 1000)).toLocaleString("en")} rows/s), ${result.imported} accounts, ${result.teamsJoined} memberships, ${result.invitationsSent} invitations queued, ${importStatements} statements`,
  );

  // The outbox sends one message at a time after commit; 8,000 take many minutes, so it is sampled for
  // SAMPLE_SECONDS and the rest is put off (only the bench does that), which lets the drain in progress end.
  let mailRate: number | null = null;
  if (WITH_MAIL) {
    const mailStart = performance.now();
    const draining = mailOutbox.drain();
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_SECONDS * 1000));
    const delivered = mailServer.messages.length;
    mailRate = delivered / ((performance.now() - mailStart) / 1000);
    await db("outbox").where({ status: "queued" }).update({ next_attempt_at: db.raw("now() + interval '1 day'") });
    await draining;
    console.log(
      `outbox: ${delivered} invitations handed to the SMTP server in the first ${SAMPLE_SECONDS} s after commit (${mailRate.toFixed(1)}/s; all ${result.invitationsSent} would take about ${Math.round(result.invitationsSent / mailRate / 60)} min)`,
    );
  }

  const met = importMs / 1000 < TARGET_SECONDS;
  console.log(`target: import under ${TARGET_SECONDS} s: ${met ? "PASS" : "FAIL"}`);
  console.log(
    JSON.stringify({
      bench: "import",
      rows: ROWS,
      mailConfigured: WITH_MAIL,
      checkOnlySeconds: Number(seconds(checkMs)),
      checkOnlyStatements: checkStatements,
      importSeconds: Number(seconds(importMs)),
      importStatements,
      rowsPerSecond: Math.round(ROWS / (importMs / 1000)),
      invitations: result.invitationsSent,
      teamsJoined: result.teamsJoined,
      outboxMessagesPerSecond: mailRate === null ? null : Number(mailRate.toFixed(1)),
      targetSeconds: TARGET_SECONDS,
      met,
    }),
  );
} finally {
  server.close();
  await mailServer.stop();
  await db.destroy();
  await withSchemaAdmin((admin) => admin.raw(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`));
}
