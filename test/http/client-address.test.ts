import http from "node:http";
import type { AddressInfo } from "node:net";
import supertest from "supertest";
import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { canonicalAddress } from "../../src/lib/client-address.ts";
import { up as canonicaliseStoredAddresses } from "../../migrations/20261203100000_canonical_client_addresses.ts";
import { IP_POLICY } from "../../src/services/sign-in.ts";
import { TestAgent } from "../helpers/agent.ts";
import { createTestApp } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { buildAdmin } from "../helpers/factories.ts";
import { pageText } from "../helpers/html.ts";
import { failureRows, presetFailures } from "../helpers/sign-in.ts";

let db: Db;
useTestDb((created) => {
  db = created;
});

const WRONG = "not the password at all 99";

describe("one form of a client address", () => {
  it("reads an IPv4-mapped IPv6 address as IPv4 and leaves every other address as it is", () => {
    expect(canonicalAddress("::ffff:203.0.113.9")).toBe("203.0.113.9");
    expect(canonicalAddress("::FFFF:10.0.0.5")).toBe("10.0.0.5");
    expect(canonicalAddress("203.0.113.9")).toBe("203.0.113.9");
    expect(canonicalAddress("2001:db8::1")).toBe("2001:db8::1");
    expect(canonicalAddress("::ffff:abcd")).toBe("::ffff:abcd");
    expect(canonicalAddress("::1")).toBe("::1");
    expect(canonicalAddress(undefined)).toBeUndefined();
  });

  it("an IPv4 client of a dual-stack listener is stored and shown as a.b.c.d: session, audit trail, Profile, log download", async () => {
    const admin = await buildAdmin(db, { username: "root" });
    const app = createTestApp(db);
    // Listening on "::" takes IPv4 clients too, and the socket names them ::ffff:127.0.0.1.
    const server = http.createServer(app).listen(0, "::");
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const seen = await new Promise<string | undefined>((resolve) => {
        server.once("connection", (socket) => resolve(socket.remoteAddress));
        void supertest(base).get("/healthz").then(() => undefined);
      });
      expect(seen).toBe("::ffff:127.0.0.1");

      const agent = new TestAgent(app);
      Object.assign(agent, { http: supertest.agent(base) });
      expect((await agent.signIn("root", admin.password)).status).toBe(303);

      const sessions = await db("sessions").whereNotNull("user_id").select("client_ip");
      expect(sessions).toEqual([{ client_ip: "127.0.0.1" }]);
      const events = await db("audit_events").where({ action: "sign_in.succeeded" }).select("client_ip");
      expect(events).toEqual([{ client_ip: "127.0.0.1" }]);

      const profile = pageText((await agent.get("/profile")).text);
      expect(profile).toContain("127.0.0.1");
      expect(profile).not.toContain("::ffff:");
      const download = await agent.get("/admin/logs/download.csv");
      expect(download.status).toBe(200);
      expect(download.text).toContain("127.0.0.1");
      expect(download.text).not.toContain("::ffff:");
    } finally {
      server.close();
    }
  });

  it("L6: the per-address throttle counts ::ffff:a.b.c.d and a.b.c.d as one address", async () => {
    await buildAdmin(db, { username: "root" });
    // One proxy hop in front: the client address comes from X-Forwarded-For, spelt either way by the proxy.
    const app = createTestApp(db, { TRUST_PROXY: "1" });
    const agent = new TestAgent(app);
    const from = (address: string) => ({ set: (req: supertest.Test) => req.set("X-Forwarded-For", address) });
    const spellings = ["::ffff:203.0.113.9", "203.0.113.9"];
    for (let i = 0; i < IP_POLICY.maxFailures; i++) {
      const token = await agent.refreshToken("/login");
      const res = await from(spellings[i % 2]!).set(
        agent.http.post("/login").set("Accept", "text/html").type("form").send({ _csrf: token, username: `victim${i}`, password: WRONG }),
      );
      expect(res.status, `attempt ${i + 1}`).toBe(401);
    }
    expect((await failureRows(db)).filter((row) => row.scope === "ip")).toEqual([{ scope: "ip", key: "203.0.113.9", failures: IP_POLICY.maxFailures }]);
    for (const spelling of spellings) {
      const token = await agent.refreshToken("/login");
      const blocked = await from(spelling).set(
        agent.http.post("/login").set("Accept", "text/html").type("form").send({ _csrf: token, username: "victim-next", password: WRONG }),
      );
      expect(blocked.status, spelling).toBe(429);
    }
  });

  it("addresses stored before in the mapped form are rewritten, and their throttle counters merged", async () => {
    await db("audit_events").insert({ action: "sign_in.failed", client_ip: "::ffff:198.51.100.7", details: {} });
    await presetFailures(db, "ip", "::ffff:198.51.100.7", 4);
    await presetFailures(db, "ip", "198.51.100.7", 5);
    await presetFailures(db, "ip", "::ffff:198.51.100.8", 2);
    await presetFailures(db, "ip", "2001:db8::1", 1);
    await canonicaliseStoredAddresses(db);
    expect(await db("audit_events").pluck("client_ip")).toEqual(["198.51.100.7"]);
    expect((await failureRows(db)).filter((row) => row.scope === "ip")).toEqual([
      { scope: "ip", key: "198.51.100.7", failures: 9 },
      { scope: "ip", key: "198.51.100.8", failures: 2 },
      { scope: "ip", key: "2001:db8::1", failures: 1 },
    ]);
  });
});
