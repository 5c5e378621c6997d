import supertest from "supertest";
import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { grant, makeSystem, versionOf } from "../helpers/access.ts";
import { signedInAgent } from "../helpers/agent.ts";
import { createTestApiToken } from "../helpers/api-tokens.ts";
import { createTestApp } from "../helpers/app.ts";
import { useTestDb } from "../helpers/db.ts";
import { buildAdmin, buildUser } from "../helpers/factories.ts";
import { errorSummary, fieldError, inputValue, isInvalid, pageText } from "../helpers/html.ts";

let db: Db;
useTestDb((created) => {
  db = created;
});

const FORM = { name: "nas-1", host: "10.0.0.1", webAddress: "", gateMode: "by-method", description: "", notes: "" };

async function systemRow(name: string) {
  return db("systems").where({ name }).first<{ id: string; web_address: string | null; gate_mode: string }>();
}

describe("a system's Web address and Gate mode", () => {
  it("is stored as its origin, shown on the administrators' page, and gives people with access an Open link", async () => {
    const admin = await buildAdmin(db, { username: "root" });
    const reader = await buildUser(db, { username: "reader" });
    const app = createTestApp(db);
    const agent = await signedInAgent(app, admin);

    const created = await agent.post("/admin/systems", { ...FORM, webAddress: "  HTTPS://NAS1.Example.COM:443/ ", gateMode: "read-write-only" });
    expect(created.status).toBe(303);
    const row = await systemRow("nas-1");
    expect(row).toMatchObject({ web_address: "https://nas1.example.com", gate_mode: "read-write-only" });
    const [event] = await listAuditEvents(db, { action: "system.created" });
    expect(event?.details.changes).toMatchObject({ webAddress: { from: null, to: "https://nas1.example.com" }, gateMode: { from: null, to: "read-write-only" } });

    const page = await agent.get(`/admin/systems/${row!.id}`);
    expect(pageText(page.text)).toContain("Web address https://nas1.example.com");
    expect(pageText(page.text)).toContain("Gate mode Read/write only");
    expect(inputValue(page.text, "webAddress")).toBe("https://nas1.example.com");
    expect(page.text).toMatch(/<option value="read-write-only" selected>Read\/write only<\/option>/);

    await grant(db, { kind: "user", id: reader.id }, { kind: "system", id: Number(row!.id) }, "read");
    const readerAgent = await signedInAgent(app, reader);
    const own = await readerAgent.get(`/systems/${row!.id}`);
    expect(own.text).toMatch(/<a href="https:\/\/nas1\.example\.com" rel="noopener noreferrer">Open<\/a>/);
    expect(pageText(own.text)).toContain('Gate mode "Read/write only"); with read you can see this page but not use the interface');

    const plain = await makeSystem(db, { name: "no-web" });
    await grant(db, { kind: "user", id: reader.id }, { kind: "system", id: plain.id }, "read");
    const without = await readerAgent.get(`/systems/${plain.id}`);
    expect(pageText(without.text)).toContain("Web address None");
    expect(without.text).not.toContain(">Open</a>");
  });

  it("A12: anything but a bare http(s) origin is refused, naming the field and keeping what was typed", async () => {
    const admin = await buildAdmin(db, { username: "root" });
    const agent = await signedInAgent(createTestApp(db), admin);
    const refused = [
      "javascript:alert(1)",
      "nas1.example.com",
      "ftp://nas1.example.com",
      "https://nas1.example.com/ui",
      "https://nas1.example.com?next=/",
      "https://nas1.example.com#top",
      "https://admin:secret@nas1.example.com",
      "https://nas 1.example.com",
      "https://nas1.example.com:70000",
      `https://${"a".repeat(300)}.com`,
    ];
    for (const webAddress of refused) {
      const res = await agent.post("/admin/systems", { ...FORM, webAddress });
      expect(res.status, webAddress).toBe(422);
      expect(isInvalid(res.text, "webAddress"), webAddress).toBe(true);
      expect(fieldError(res.text, "webAddress"), webAddress).toMatch(/^Web address must be an http:\/\/ or https:\/\/ address/);
      expect(errorSummary(res.text)?.links).toContain("webAddress");
      expect(inputValue(res.text, "webAddress"), webAddress).toBe(webAddress);
      expect(inputValue(res.text, "name")).toBe("nas-1");
    }
    const badMode = await agent.post("/admin/systems", { ...FORM, gateMode: "sideways" });
    expect(badMode.status).toBe(422);
    expect(fieldError(badMode.text, "gateMode")).toBe("Choose a gate mode: By method or Read/write only.");
    expect(Number((await db("systems").count({ n: "*" }).first())?.n)).toBe(0);
  });

  it("is unique by host and port, whatever the case, scheme or default port; clearing it frees it", async () => {
    const admin = await buildAdmin(db, { username: "root" });
    const agent = await signedInAgent(createTestApp(db), admin);
    expect((await agent.post("/admin/systems", { ...FORM, webAddress: "https://nas1.example.com" })).status).toBe(303);
    for (const webAddress of ["https://NAS1.example.com", "https://nas1.example.com:443", "http://nas1.example.com"]) {
      const res = await agent.post("/admin/systems", { ...FORM, name: "nas-2", webAddress });
      expect(res.status, webAddress).toBe(409);
      expect(fieldError(res.text, "webAddress"), webAddress).toBe(
        'Web address is already used by the system "nas-1" (https://nas1.example.com); each web address belongs to one system.',
      );
      expect(inputValue(res.text, "name")).toBe("nas-2");
    }
    expect((await agent.post("/admin/systems", { ...FORM, name: "nas-2", webAddress: "https://nas1.example.com:8443" })).status).toBe(303);

    // Taking it by an edit is refused the same way; clearing it on the first frees it for the second.
    const second = await systemRow("nas-2");
    const first = await systemRow("nas-1");
    const edit = await agent.post(`/admin/systems/${second!.id}`, {
      ...FORM,
      name: "nas-2",
      webAddress: "https://nas1.example.com",
      version: String(await versionOf(db, "systems", Number(second!.id))),
    });
    expect(edit.status).toBe(409);
    expect(fieldError(edit.text, "webAddress")).toContain('already used by the system "nas-1"');
    const cleared = await agent.post(`/admin/systems/${first!.id}`, { ...FORM, version: String(await versionOf(db, "systems", Number(first!.id))) });
    expect(cleared.status).toBe(303);
    expect((await systemRow("nas-1"))?.web_address).toBeNull();
    const taken = await agent.post(`/admin/systems/${second!.id}`, {
      ...FORM,
      name: "nas-2",
      webAddress: "https://nas1.example.com",
      version: String(await versionOf(db, "systems", Number(second!.id))),
    });
    expect(taken.status).toBe(303);
    expect((await systemRow("nas-2"))?.web_address).toBe("https://nas1.example.com");
  });

  it("the API reads and writes webAddress and gateMode; only administrators change them", async () => {
    const admin = await buildAdmin(db, { username: "root" });
    const writer = await buildUser(db, { username: "writer" });
    const app = createTestApp(db);
    const adminToken = await createTestApiToken(db, admin);
    const writerToken = await createTestApiToken(db, writer);
    const api = (token: string) => ({
      post: (path: string, body: object) => supertest(app).post(`/api/v1${path}`).set("Authorization", `Bearer ${token}`).send(body),
      patch: (path: string, body: object) => supertest(app).patch(`/api/v1${path}`).set("Authorization", `Bearer ${token}`).send(body),
      get: (path: string) => supertest(app).get(`/api/v1${path}`).set("Authorization", `Bearer ${token}`),
    });

    const created = await api(adminToken).post("/systems", { name: "nas-1", host: "10.0.0.1", webAddress: "HTTPS://NAS1.example.com/" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ webAddress: "https://nas1.example.com", gateMode: "by-method" });
    const id = created.body.id as number;

    const clash = await api(adminToken).post("/systems", { name: "nas-2", host: "10.0.0.2", webAddress: "http://nas1.example.com" });
    expect(clash.status).toBe(409);
    expect(JSON.stringify(clash.body)).toContain("webAddress");
    const bad = await api(adminToken).post("/systems", { name: "nas-3", host: "10.0.0.3", webAddress: "javascript:alert(1)" });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("webAddress");

    await grant(db, { kind: "user", id: writer.id }, { kind: "system", id }, "read/write");
    const listed = await api(writerToken).get("/systems");
    expect(listed.body.data).toEqual([expect.objectContaining({ id, webAddress: "https://nas1.example.com", permission: "read/write" })]);
    const refused = await api(writerToken).patch(`/systems/${id}`, { version: created.body.version, gateMode: "read-write-only" });
    expect(refused.status).toBe(403);
    const notes = await api(writerToken).patch(`/systems/${id}`, { version: created.body.version, notes: "Patched" });
    expect(notes.status).toBe(200);

    const changed = await api(adminToken).patch(`/systems/${id}`, { version: notes.body.version, gateMode: "read-write-only", webAddress: null });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ webAddress: null, gateMode: "read-write-only", notes: "Patched" });
  });
});
