import pino from "pino";
import type { AdapterPayload } from "oidc-provider";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { KnexOidcAdapter, knexAdapterFactory } from "../../src/auth/oidc/adapter.ts";
import { OidcPayloadCleanup } from "../../src/auth/oidc/cleanup.ts";
import { createDb, type Db } from "../../src/db/index.ts";
import {
  consumeOidcPayload,
  deleteExpiredOidcPayloads,
  revokeOidcPayloadsOfAccount,
  revokeOidcPayloadsOfClient,
  upsertOidcPayload,
} from "../../src/repositories/oidc-payloads.ts";
import { schemaUrl } from "../helpers/app-process.ts";
import { createTestDb, resetDb, usingPostgres } from "../helpers/db.ts";

/**
 * The OpenID Connect provider's storage (src/auth/oidc/adapter.ts) on both databases. "Two instances" are two
 * adapters on two connection pools to one Postgres; PGlite is one process's database, so there they share its one
 * connection (the several-instances case is Postgres's).
 */

const backends = [{ name: "PGlite", embedded: true }, ...(usingPostgres ? [{ name: "Postgres", embedded: false }] : [])];

describe.each(backends)("the OpenID Connect storage on $name", ({ embedded }) => {
  let db: Db;
  /** A second instance's database: its own pool on Postgres, the same PGlite otherwise. */
  let other: Db;

  beforeAll(async () => {
    db = await createTestDb({ embedded });
    other = embedded ? db : createDb({ databaseUrl: await schemaUrl(db), embeddedDir: undefined });
  });
  afterAll(async () => {
    if (other !== db) await other?.destroy();
    await db?.destroy();
  });
  beforeEach(async () => {
    await resetDb(db);
  });

  const adapter = (model: string, on: Db = db) => new KnexOidcAdapter(on, model);

  /** Makes a stored object expired, as time passing would (the test cannot wait for the database's clock). */
  const expire = (model: string, id: string) =>
    db("oidc_payloads").where({ model, id }).update({ expires_at: db.raw("now() - interval '1 second'") });

  const ids = async () =>
    (await db("oidc_payloads").select("model", "id").orderBy(["model", "id"])).map((r: { model: string; id: string }) => `${r.model}:${r.id}`);

  it("stores an object under its model and id and finds it again, with the columns it is looked up by", async () => {
    const payload: AdapterPayload = {
      jti: "at1",
      kind: "AccessToken",
      accountId: "42",
      clientId: "app",
      grantId: "g1",
      scope: "openid email",
      extra: { nested: [1, "two", null] },
    };
    await adapter("AccessToken").upsert("at1", payload, 60);
    expect(await adapter("AccessToken").find("at1")).toEqual(payload);
    // The same id under another model is another object.
    expect(await adapter("RefreshToken").find("at1")).toBeUndefined();
    expect(await adapter("AccessToken").find("missing")).toBeUndefined();

    const row = await db("oidc_payloads")
      .where({ model: "AccessToken", id: "at1" })
      .first("grant_id", "account_id", "client_id", "uid", "user_code", "consumed_at", db.raw("extract(epoch FROM expires_at - now()) AS left"));
    expect(row).toMatchObject({ grant_id: "g1", account_id: "42", client_id: "app", uid: null, user_code: null, consumed_at: null });
    // now() + 60 s, on the database's clock.
    expect(Number(row.left)).toBeGreaterThan(58);
    expect(Number(row.left)).toBeLessThanOrEqual(60);
  });

  it("replaces an object in one upsert, and keeps one without a lifetime until it is destroyed", async () => {
    const grants = adapter("Grant");
    await grants.upsert("g1", { jti: "g1", kind: "Grant", accountId: "1", clientId: "app", openid: { scope: "openid" } }, 60);
    await grants.upsert("g1", { jti: "g1", kind: "Grant", accountId: "1", clientId: "app", openid: { scope: "openid email" } });
    expect(await grants.find("g1")).toMatchObject({ openid: { scope: "openid email" } });
    expect(await db("oidc_payloads").where({ model: "Grant" }).first("expires_at")).toEqual({ expires_at: null });

    await grants.destroy("g1");
    expect(await grants.find("g1")).toBeUndefined();
    await grants.destroy("g1");
  });

  it("never returns an expired object, by any lookup, even before the cleanup has deleted it", async () => {
    await adapter("Session").upsert("s1", { jti: "s1", kind: "Session", uid: "u1", accountId: "7" }, 60);
    await adapter("DeviceCode").upsert("d1", { jti: "d1", kind: "DeviceCode", userCode: "ABCD-EFGH", grantId: "g1" }, 60);
    await expire("Session", "s1");
    await expire("DeviceCode", "d1");

    expect(await adapter("Session").find("s1")).toBeUndefined();
    expect(await adapter("Session").findByUid("u1")).toBeUndefined();
    expect(await adapter("DeviceCode").findByUserCode("ABCD-EFGH")).toBeUndefined();
    await adapter("DeviceCode").consume("d1");
    expect(await db("oidc_payloads").where({ model: "DeviceCode" }).first("consumed_at")).toEqual({ consumed_at: null });
    expect(await ids()).toEqual(["DeviceCode:d1", "Session:s1"]);
  });

  it("finds a session by its uid and a device code by its user code, each only under its own model", async () => {
    const session = { jti: "s1", kind: "Session", uid: "uid-1", accountId: "7", loginTs: 1 };
    const device = { jti: "d1", kind: "DeviceCode", userCode: "WXYZ-1234", clientId: "tv" };
    await adapter("Session").upsert("s1", session, 60);
    await adapter("DeviceCode").upsert("d1", device, 60);

    expect(await adapter("Session").findByUid("uid-1")).toEqual(session);
    expect(await adapter("Session").findByUid("uid-2")).toBeUndefined();
    expect(await adapter("Interaction").findByUid("uid-1")).toBeUndefined();
    expect(await adapter("DeviceCode").findByUserCode("WXYZ-1234")).toEqual(device);
    expect(await adapter("DeviceCode").findByUserCode("WXYZ-9999")).toBeUndefined();
  });

  it("consumes an object once: find then carries `consumed` (seconds since the epoch), and a second use keeps the first time", async () => {
    const codes = adapter("AuthorizationCode");
    await codes.upsert("c1", { jti: "c1", kind: "AuthorizationCode", grantId: "g1", accountId: "7" }, 60);
    expect((await codes.find("c1"))?.consumed).toBeUndefined();

    const dbNow = Number((await db.raw("SELECT floor(extract(epoch FROM now())) AS t")).rows[0].t);
    await codes.consume("c1");
    const consumed = (await codes.find("c1"))?.consumed;
    expect(typeof consumed).toBe("number");
    expect(Math.abs((consumed ?? 0) - dbNow)).toBeLessThanOrEqual(2);

    await db("oidc_payloads").where({ id: "c1" }).update({ consumed_at: new Date("2026-01-01T00:00:00Z") });
    await codes.consume("c1");
    expect((await codes.find("c1"))?.consumed).toBe(Date.parse("2026-01-01T00:00:00Z") / 1000);

    // As the memory adapter: a consumed object saved again is what was saved.
    await codes.upsert("c1", { jti: "c1", kind: "AuthorizationCode", grantId: "g1", accountId: "7" }, 60);
    expect((await codes.find("c1"))?.consumed).toBeUndefined();
    await codes.upsert("c1", { jti: "c1", kind: "AuthorizationCode", grantId: "g1", consumed: 1_700_000_000 }, 60);
    expect((await codes.find("c1"))?.consumed).toBe(1_700_000_000);
  });

  it("revoking a grant deletes its codes and tokens of every model, and nothing of another grant", async () => {
    for (const model of ["AccessToken", "RefreshToken", "AuthorizationCode", "DeviceCode", "BackchannelAuthenticationRequest"]) {
      await adapter(model).upsert(`${model}-1`, { kind: model, grantId: "g1" }, 60);
      await adapter(model).upsert(`${model}-2`, { kind: model, grantId: "g2" }, 60);
    }
    // Not codes or tokens: the grant itself (the provider destroys it when its policy says so) and an interaction.
    await adapter("Grant").upsert("g1", { jti: "g1", kind: "Grant", accountId: "7" }, 60);
    await adapter("Interaction").upsert("i1", { jti: "i1", kind: "Interaction", grantId: "g1" }, 60);

    // The provider asks each model's adapter in turn; the first answer already took them all.
    await adapter("RefreshToken").revokeByGrantId("g1");
    expect(await ids()).toEqual([
      "AccessToken:AccessToken-2",
      "AuthorizationCode:AuthorizationCode-2",
      "BackchannelAuthenticationRequest:BackchannelAuthenticationRequest-2",
      "DeviceCode:DeviceCode-2",
      "Grant:g1",
      "Interaction:i1",
      "RefreshToken:RefreshToken-2",
    ]);
    await adapter("AccessToken").revokeByGrantId("g1");
    expect(await ids()).toHaveLength(7);
  });

  it("stores a payload with any string, a NUL character included (a request parameter the provider keeps)", async () => {
    const payload = { jti: "i1", kind: "Interaction", params: { nonce: "a\u0000b", state: "é😀\u2028" } };
    await adapter("Interaction").upsert("i1", payload, 60);
    expect(await adapter("Interaction").find("i1")).toEqual(payload);
  });

  it("deletes expired objects in batches, and only those", async () => {
    for (let i = 1; i <= 5; i += 1) {
      await adapter("Session").upsert(`old${i}`, { uid: `u${i}` }, 60);
      await expire("Session", `old${i}`);
    }
    await adapter("Session").upsert("live", { uid: "live" }, 60);
    await adapter("Grant").upsert("forever", { accountId: "7" });

    expect(await deleteExpiredOidcPayloads(db, { batchSize: 2 })).toBe(5);
    expect(await ids()).toEqual(["Grant:forever", "Session:live"]);
    expect(await deleteExpiredOidcPayloads(db)).toBe(0);
  });

  it("the periodic cleanup deletes expired objects when it starts, and stops", async () => {
    await adapter("Session").upsert("old", { uid: "old" }, 60);
    await expire("Session", "old");
    await adapter("Session").upsert("live", { uid: "live" }, 60);
    const cleanup = new OidcPayloadCleanup(db, pino({ level: "silent" }));
    cleanup.start(60_000);
    await cleanup.stop();
    expect(await ids()).toEqual(["Session:live"]);
  });

  it("revoking an account deletes its sessions, grants, codes and tokens, and nothing of anyone else", async () => {
    const owned = (accountId: string) => ({ accountId, clientId: "app", grantId: `g-${accountId}` });
    for (const accountId of ["42", "420"]) {
      await adapter("Session").upsert(`s-${accountId}`, { uid: `u-${accountId}`, accountId }, 60);
      await adapter("Grant").upsert(`g-${accountId}`, { accountId, clientId: "app" }, 60);
      for (const model of ["AccessToken", "RefreshToken", "AuthorizationCode"]) await adapter(model).upsert(`${model}-${accountId}`, owned(accountId), 60);
    }
    await adapter("Interaction").upsert("i1", { uid: "i1" }, 60);
    await adapter("ClientCredentials").upsert("cc1", { clientId: "app" }, 60);

    expect(await revokeOidcPayloadsOfAccount(db, 42)).toBe(5);
    expect(await ids()).toEqual([
      "AccessToken:AccessToken-420",
      "AuthorizationCode:AuthorizationCode-420",
      "ClientCredentials:cc1",
      "Grant:g-420",
      "Interaction:i1",
      "RefreshToken:RefreshToken-420",
      "Session:s-420",
    ]);
    expect(await revokeOidcPayloadsOfAccount(db, "420")).toBe(5);
  });

  it("revoking a client deletes its grants, codes and tokens, and nothing of another client", async () => {
    for (const clientId of ["app", "other"]) {
      await adapter("Grant").upsert(`g-${clientId}`, { accountId: "7", clientId }, 60);
      await adapter("AccessToken").upsert(`at-${clientId}`, { accountId: "7", clientId, grantId: `g-${clientId}` }, 60);
      await adapter("RefreshToken").upsert(`rt-${clientId}`, { accountId: "7", clientId, grantId: `g-${clientId}` }, 60);
      await adapter("ClientCredentials").upsert(`cc-${clientId}`, { clientId }, 60);
    }
    await adapter("Session").upsert("s1", { uid: "u1", accountId: "7" }, 60);

    expect(await revokeOidcPayloadsOfClient(db, "app")).toBe(4);
    expect(await ids()).toEqual(["AccessToken:at-other", "ClientCredentials:cc-other", "Grant:g-other", "RefreshToken:rt-other", "Session:s1"]);
  });

  it("answers the Client model from the function it is given, and refuses to write clients then", async () => {
    const asked: string[] = [];
    const Adapter = knexAdapterFactory(db, {
      findClient: async (clientId) => {
        asked.push(clientId);
        return clientId === "app" ? { client_id: "app", redirect_uris: ["https://app.example.test/cb"] } : undefined;
      },
    });
    const clients = new Adapter("Client");
    expect(await clients.find("app")).toEqual({ client_id: "app", redirect_uris: ["https://app.example.test/cb"] });
    expect(await clients.find("nobody")).toBeUndefined();
    expect(asked).toEqual(["app", "nobody"]);
    await expect(clients.upsert("app", { client_id: "app" })).rejects.toThrow(/Gatehouse's own records/);
    await expect(clients.destroy("app")).rejects.toThrow(/Gatehouse's own records/);
    // Every other model is stored as usual.
    await new Adapter("Session").upsert("s1", { uid: "u1" }, 60);
    expect(await new Adapter("Session").findByUid("u1")).toEqual({ uid: "u1" });
    // Without the function, clients are stored like any other model.
    await adapter("Client").upsert("dyn", { client_id: "dyn" });
    expect(await adapter("Client").find("dyn")).toEqual({ client_id: "dyn" });
  });

  it("two instances see each other's writes, consumptions and deletions at once", async () => {
    const a = knexAdapterFactory(db);
    const b = knexAdapterFactory(other);
    await new a("RefreshToken").upsert("rt1", { accountId: "7", grantId: "g1" }, 60);
    expect(await new b("RefreshToken").find("rt1")).toEqual({ accountId: "7", grantId: "g1" });
    await new b("RefreshToken").consume("rt1");
    expect(typeof (await new a("RefreshToken").find("rt1"))?.consumed).toBe("number");
    await new b("AccessToken").upsert("at1", { accountId: "7", grantId: "g1" }, 60);
    await new a("AccessToken").revokeByGrantId("g1");
    expect(await new b("AccessToken").find("at1")).toBeUndefined();
    expect(await new b("RefreshToken").find("rt1")).toBeUndefined();
  });

  it("two instances consuming one code at the same moment mark it once, and upserting one id at once leaves one row", async () => {
    await adapter("AuthorizationCode").upsert("c1", { grantId: "g1" }, 60);
    const results = await Promise.all([
      consumeOidcPayload(db, "AuthorizationCode", "c1"),
      consumeOidcPayload(other, "AuthorizationCode", "c1"),
      consumeOidcPayload(db, "AuthorizationCode", "c1"),
      consumeOidcPayload(other, "AuthorizationCode", "c1"),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);

    const write = (on: Db, n: number) =>
      upsertOidcPayload(on, {
        model: "Session",
        id: "s1",
        payload: { n },
        expiresIn: 60,
        grantId: null,
        userCode: null,
        uid: `u${n}`,
        accountId: null,
        clientId: null,
        consumedAt: null,
        consoleSessionId: null,
      });
    await Promise.all([write(db, 1), write(other, 2), write(db, 3), write(other, 4)]);
    const rows = await db("oidc_payloads").where({ model: "Session" }).select("payload", "uid");
    expect(rows).toHaveLength(1);
    expect(rows[0].uid).toBe(`u${(rows[0].payload as { n: number }).n}`);
  });
});
