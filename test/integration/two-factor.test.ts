import { generate } from "otplib";
import { beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { type AppError, ConflictError, ForbiddenError, ValidationError } from "../../src/errors.ts";
import { openSecret } from "../../src/lib/secret-box.ts";
import { listAuditEvents } from "../../src/repositories/audit-events.ts";
import { upsertSession } from "../../src/repositories/sessions.ts";
import { findUserById } from "../../src/repositories/users/index.ts";
import { EMAIL_NOT_CONFIGURED } from "../../src/services/mail-settings.ts";
import {
  adminDisableTwoFactor,
  checkSecondFactor,
  confirmTotpEnrolment,
  disableOwnTwoFactor,
  enableEmailTwoFactor,
  RECOVERY_CODE_COUNT,
  regenerateRecoveryCodes,
  startTotpEnrolment,
  unusedRecoveryCodeCount,
} from "../../src/services/two-factor.ts";
import type { Actor, User } from "../../src/types/user.ts";
import { useTestDb } from "../helpers/db.ts";
import { configureSmtp, testKeys } from "../helpers/mail.ts";
import { insertTestAdmin, insertTestUser } from "../helpers/users.ts";

let db: Db;
useTestDb((created) => {
  db = created;
});

/** Mail settings only (nothing is sent here): enabling email codes needs a configured server. */
beforeEach(async () => {
  await configureSmtp(db, { port: 2525 });
});

const WRONG_PASSWORD = "definitely not the password 7";
const PERIOD = 30;

function actorFor(user: { id: number; username: string; isAdmin?: boolean }, requestId = "req-1"): Actor & { id: number } {
  return { id: user.id, username: user.username, clientIp: "127.0.0.1", requestId, isAdmin: user.isAdmin === true };
}

async function reload(id: number): Promise<User> {
  const user = await findUserById(db, id);
  if (!user) throw new Error(`user ${id} is gone`);
  return user;
}

let emailCounter = 0;

/** A user whose email address is verified (the precondition of every 2FA method). */
async function verifiedUser(overrides: Parameters<typeof insertTestUser>[1] = {}): Promise<User & { password: string }> {
  emailCounter += 1;
  const user = await insertTestUser(db, { email: `${overrides.username ?? `someone${emailCounter}`}@example.test`, ...overrides });
  await db("users").where({ id: user.id }).update({ email_verified: true });
  return { ...(await reload(user.id)), password: user.password };
}

/** Enrols an authenticator through the service, confirmed with the app's current code. */
async function enrolTotp(user: User): Promise<{ secret: string; recoveryCodes: string[]; user: User }> {
  const enrolment = await startTotpEnrolment(testKeys, user);
  const recoveryCodes = await confirmTotpEnrolment(db, testKeys, actorFor(user), enrolment.sealedSecret, await generate({ secret: enrolment.secret }));
  return { secret: enrolment.secret, recoveryCodes, user: await reload(user.id) };
}

/** A 6-digit code that is certainly not one the secret gives now or in the next minute. */
async function wrongCode(secret: string): Promise<string> {
  const step = Math.floor(Date.now() / 1000 / 30);
  const valid = new Set(await Promise.all([-1, 0, 1, 2].map((d) => generate({ secret, epoch: (step + d) * 30 }))));
  for (const candidate of ["000000", "111111", "222222", "333333", "444444"]) if (!valid.has(candidate)) return candidate;
  throw new Error("unreachable");
}

/** The app's current code, with the "last accepted step" cleared so it is not refused as a replay. */
async function freshCode(userId: number, secret: string): Promise<string> {
  await db("users").where({ id: userId }).update({ totp_last_step: null });
  return generate({ secret });
}

async function storedUserRow(id: number): Promise<{ totp_secret: string | null; totp_last_step: string | number | null }> {
  return db("users").where({ id }).first("totp_secret", "totp_last_step");
}

async function secondFactorFailures(userId: number): Promise<number> {
  const row = await db("login_failures").where({ scope: "second_factor", key: String(userId) }).first("failures");
  return row ? Number(row.failures) : 0;
}

async function clearSecondFactorFailures(): Promise<void> {
  await db("login_failures").where({ scope: "second_factor" }).delete();
}

async function outboxTo(address: string): Promise<{ kind: string; subject: string; text_body: string }[]> {
  return db("outbox").where({ to_address: address }).orderBy("id").select("kind", "subject", "text_body");
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const stepNow = () => Math.floor(nowSeconds() / PERIOD);

/**
 * Runs `attempt` until one run starts and ends within a single 30-second step, so that a step boundary passing
 * mid-check cannot change what the check saw (no sleeping, no dependence on when the test runs).
 */
async function withinOneStep<T>(attempt: () => Promise<T>): Promise<T> {
  for (let tries = 0; tries < 5; tries++) {
    const before = stepNow();
    const result = await attempt();
    if (stepNow() === before) return result;
  }
  throw new Error("could not complete a check within one 30 s step");
}

function expectFieldError(error: unknown, field: string): ValidationError {
  expect(error).toBeInstanceOf(ValidationError);
  const validation = error as ValidationError;
  expect(Object.keys(validation.fields)).toEqual([field]);
  return validation;
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to throw");
}

async function addSession(sid: string, userId: number): Promise<void> {
  await upsertSession(db, {
    sid,
    sess: { cookie: {}, passport: { user: { id: userId, sv: 1 } } },
    expiresAt: new Date(Date.now() + 3_600_000),
    userId,
    clientIp: null,
    userAgent: null,
  });
}

async function sessionIds(): Promise<string[]> {
  return (await db("sessions").select("sid").orderBy("sid")).map((r: { sid: string }) => r.sid);
}

describe("T7: authenticator enrolment", () => {
  it("T7: every start gives a fresh 20-byte secret (32 base32 characters) and stores nothing on the account", async () => {
    const user = await verifiedUser({ username: "enroller" });
    const secrets = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const enrolment = await startTotpEnrolment(testKeys, user);
      expect(enrolment.secret).toMatch(/^[A-Z2-7]{32}$/); // 32 × 5 bits = 160 bits = 20 bytes
      expect(enrolment.uri).toContain(`secret=${enrolment.secret}`);
      expect(enrolment.qrDataUrl).toMatch(/^data:image\/png;base64,/);
      expect(enrolment.sealedSecret).not.toContain(enrolment.secret);
      expect(openSecret(testKeys.storage, enrolment.sealedSecret)).toBe(enrolment.secret);
      secrets.add(enrolment.secret);
    }
    expect(secrets.size).toBe(5);
    expect((await reload(user.id)).twoFactorMethod).toBeNull();
    expect((await storedUserRow(user.id)).totp_secret).toBeNull();
    expect(await db("recovery_codes").where({ user_id: user.id })).toHaveLength(0);
  });

  it("T7: 2FA stays off until one valid code confirms the secret; a wrong code names the Code field", async () => {
    const user = await verifiedUser({ username: "confirmer" });
    const enrolment = await startTotpEnrolment(testKeys, user);
    const otherSecret = (await startTotpEnrolment(testKeys, user)).secret;
    for (const wrong of ["", "000000x", await generate({ secret: otherSecret })]) {
      const error = await caught(confirmTotpEnrolment(db, testKeys, actorFor(user), enrolment.sealedSecret, wrong));
      expectFieldError(error, "code");
      expect((await reload(user.id)).twoFactorMethod).toBeNull();
    }
    expect(await listAuditEvents(db, { action: "two_factor.enabled" })).toHaveLength(0);

    const codes = await confirmTotpEnrolment(db, testKeys, actorFor(user), enrolment.sealedSecret, await generate({ secret: enrolment.secret }));
    expect(codes).toHaveLength(RECOVERY_CODE_COUNT);
    expect((await reload(user.id)).twoFactorMethod).toBe("totp");
    const [event] = await listAuditEvents(db, { action: "two_factor.enabled", targetId: String(user.id) });
    expect(event?.details).toEqual({ method: "totp" });
  });

  it("T7: after a restarted enrolment only the new secret works; the secret is stored sealed, never in clear", async () => {
    const user = await verifiedUser({ username: "restarter" });
    const first = await startTotpEnrolment(testKeys, user);
    const second = await startTotpEnrolment(testKeys, user);
    await confirmTotpEnrolment(db, testKeys, actorFor(user), second.sealedSecret, await generate({ secret: second.secret }));

    const stored = (await storedUserRow(user.id)).totp_secret;
    expect(stored).toBeTruthy();
    expect(stored).not.toContain(second.secret);
    expect(stored).not.toContain(second.secret.toLowerCase());
    expect(stored).toMatch(/^v1\./);
    expect(openSecret(testKeys.storage, stored as string)).toBe(second.secret);

    const enrolled = await reload(user.id);
    await db("users").where({ id: user.id }).update({ totp_last_step: null });
    expect(await checkSecondFactor(db, testKeys, actorFor(user), enrolled, await generate({ secret: first.secret }))).toBe("invalid");
    expect(await checkSecondFactor(db, testKeys, actorFor(user), enrolled, await freshCode(user.id, second.secret))).toBe("ok");
  });
});

describe("T6: wrong codes are rejected", () => {
  it("T6: many random 6-digit codes, the code of another secret and malformed input never pass", async () => {
    const user = await verifiedUser({ username: "guesser" });
    const { secret, user: enrolled } = await enrolTotp(user);
    const other = (await startTotpEnrolment(testKeys, user)).secret;
    const step = stepNow();
    // Every code that is right now or could become right during the test is left out of the guesses.
    const valid = new Set(await Promise.all([-1, 0, 1, 2].map((d) => generate({ secret, epoch: (step + d) * PERIOD }))));
    const guesses = new Set<string>([await generate({ secret: other }), "000000", "999999", "", "      "]);
    while (guesses.size < 150) {
      const guess = String(Math.floor(Math.random() * 1_000_000)).padStart(6, "0");
      if (!valid.has(guess)) guesses.add(guess);
    }
    for (const guess of guesses) {
      if (valid.has(guess)) continue;
      await clearSecondFactorFailures();
      await db("users").where({ id: user.id }).update({ totp_last_step: null });
      expect(await checkSecondFactor(db, testKeys, actorFor(user), enrolled, guess), JSON.stringify(guess)).toBe("invalid");
    }
  });
});

describe("T10: ±1 step only", () => {
  it("T10: codes from 30 s before or after are accepted; 60 s and 90 s away are rejected", async () => {
    const user = await verifiedUser({ username: "clockwork" });
    const { secret, user: enrolled } = await enrolTotp(user);
    const cases: [number, "ok" | "invalid"][] = [
      [0, "ok"],
      [-30, "ok"],
      [30, "ok"],
      [-60, "invalid"],
      [60, "invalid"],
      [-90, "invalid"],
      [90, "invalid"],
    ];
    for (const [offset, expected] of cases) {
      const result = await withinOneStep(async () => {
        await clearSecondFactorFailures();
        await db("users").where({ id: user.id }).update({ totp_last_step: null });
        const code = await generate({ secret, epoch: nowSeconds() + offset });
        return checkSecondFactor(db, testKeys, actorFor(user), enrolled, code);
      });
      expect(result, `code from ${offset} s`).toBe(expected);
    }
  });
});

describe("T1: a code is accepted once", () => {
  it("T1: the same code twice: the second is a replay, audited, and the owner is told by email", async () => {
    const user = await verifiedUser({ username: "replayed", email: "replayed@example.test" });
    const { secret, user: enrolled } = await enrolTotp(user);
    const code = await freshCode(user.id, secret);
    expect(await checkSecondFactor(db, testKeys, actorFor(user), enrolled, code)).toBe("ok");
    expect(await checkSecondFactor(db, testKeys, actorFor(user, "req-2"), enrolled, code)).toBe("replay");

    const events = await listAuditEvents(db, { action: "two_factor.code_replayed" });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ targetType: "user", targetId: String(user.id), targetLabel: "replayed" });
    const notices = (await outboxTo("replayed@example.test")).filter((m) => m.kind === "code_replay");
    expect(notices).toHaveLength(1);
    expect(notices[0]?.subject).toBe("[AUTH] Gatehouse authenticator code used twice");
    expect(notices[0]?.text_body).toContain('"replayed"');
    expect(notices[0]?.text_body).not.toContain(code);

    // An older code (the step before the one accepted) is refused too, even though it is inside the window.
    const older = await generate({ secret, epoch: nowSeconds() - PERIOD });
    expect(await checkSecondFactor(db, testKeys, actorFor(user), enrolled, older)).not.toBe("ok");
  });

  it("T1: two parallel checks of one code: exactly one is ok, the other a replay", async () => {
    const user = await verifiedUser({ username: "racer" });
    const { secret, user: enrolled } = await enrolTotp(user);
    for (let round = 0; round < 3; round++) {
      const code = await freshCode(user.id, secret);
      const results = await Promise.all([
        checkSecondFactor(db, testKeys, actorFor(user, "a"), enrolled, code),
        checkSecondFactor(db, testKeys, actorFor(user, "b"), enrolled, code),
      ]);
      expect(results.sort(), `round ${round}`).toEqual(["ok", "replay"]);
    }
    expect(await listAuditEvents(db, { action: "two_factor.code_replayed" })).toHaveLength(3);
  });
});

describe("T9: recovery codes", () => {
  it("T9: ten distinct codes, stored only as hashes", async () => {
    const user = await verifiedUser({ username: "keeper" });
    const { recoveryCodes } = await enrolTotp(user);
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    for (const code of recoveryCodes) expect(code).toMatch(/^[a-z0-9]{5}-[a-z0-9]{5}$/);
    const rows: { code_hash: string; used_at: unknown }[] = await db("recovery_codes").where({ user_id: user.id }).select("code_hash", "used_at");
    expect(rows).toHaveLength(10);
    const stored = JSON.stringify(rows).toLowerCase();
    for (const code of recoveryCodes) {
      expect(stored).not.toContain(code);
      expect(stored).not.toContain(code.replace("-", ""));
    }
    expect(rows.every((r) => r.used_at === null)).toBe(true);
    expect(await unusedRecoveryCodeCount(db, user.id)).toBe(10);
  });

  it("T9: each code works once; a second use and a guessed code fail, and count against the account's throttle", async () => {
    const user = await verifiedUser({ username: "spender" });
    const { recoveryCodes, user: enrolled } = await enrolTotp(user);
    const [first, second] = recoveryCodes as [string, string];
    expect(await checkSecondFactor(db, testKeys, actorFor(user), enrolled, first)).toBe("ok");
    expect(await secondFactorFailures(user.id)).toBe(0);
    expect(await unusedRecoveryCodeCount(db, user.id)).toBe(9);
    const [used] = await listAuditEvents(db, { action: "two_factor.recovery_code_used" });
    expect(used?.details).toEqual({ remaining: 9 });

    expect(await checkSecondFactor(db, testKeys, actorFor(user), enrolled, first)).toBe("invalid");
    expect(await secondFactorFailures(user.id)).toBe(1);
    expect(await checkSecondFactor(db, testKeys, actorFor(user), enrolled, "abcde-fghjk")).toBe("invalid");
    expect(await secondFactorFailures(user.id)).toBe(2);

    // The same throttle as the 6-digit codes: with it full, even an unused recovery code is refused.
    await db("login_failures").where({ scope: "second_factor", key: String(user.id) }).update({ failures: 10 });
    expect(await checkSecondFactor(db, testKeys, actorFor(user), enrolled, second)).toBe("throttled");
    expect(await unusedRecoveryCodeCount(db, user.id)).toBe(9);
  });

  it("T9: an email-code account gets ten recovery codes too, and they sign in once", async () => {
    const user = await verifiedUser({ username: "mailer" });
    const codes = await enableEmailTwoFactor(db, testKeys, actorFor(user));
    expect(codes).toHaveLength(10);
    const enrolled = await reload(user.id);
    expect(await checkSecondFactor(db, testKeys, actorFor(user), enrolled, codes[3] as string)).toBe("ok");
    expect(await checkSecondFactor(db, testKeys, actorFor(user), enrolled, codes[3] as string)).toBe("invalid");
  });
});

describe("T2: at most 10 wrong codes in 15 minutes per account", () => {
  it("T2: the 11th try is throttled, even with the right code, across sign-in attempts and code kinds", async () => {
    const user = await verifiedUser({ username: "hammered" });
    const { secret, recoveryCodes, user: enrolled } = await enrolTotp(user);
    // Five wrong codes in one "sign-in", five guessed recovery codes in another: one account, one count.
    const wrong = await wrongCode(secret);
    for (let i = 0; i < 5; i++) expect(await checkSecondFactor(db, testKeys, actorFor(user, "first"), enrolled, wrong)).toBe("invalid");
    for (const guess of ["aaaaa-bbbbb", "ccccc-ddddd", "eeeee-fffff", "ggggg-hhhhh", "jjjjj-kkkkk"])
      expect(await checkSecondFactor(db, testKeys, actorFor(user, "second"), enrolled, guess)).toBe("invalid");
    expect(await secondFactorFailures(user.id)).toBe(10);

    const right = await freshCode(user.id, secret);
    expect(await checkSecondFactor(db, testKeys, actorFor(user, "third"), enrolled, right)).toBe("throttled");
    expect(await checkSecondFactor(db, testKeys, actorFor(user, "fourth"), enrolled, recoveryCodes[0] as string)).toBe("throttled");
    expect(await unusedRecoveryCodeCount(db, user.id)).toBe(10);

    // Another account is not affected.
    const bystander = await verifiedUser({ username: "bystander" });
    const other = await enrolTotp(bystander);
    expect(await checkSecondFactor(db, testKeys, actorFor(bystander), other.user, await freshCode(bystander.id, other.secret))).toBe("ok");

    // Once the 15 minutes have passed (moved in the database, not waited for), the right code works again.
    await db("login_failures")
      .where({ scope: "second_factor", key: String(user.id) })
      .update({ window_started_at: db.raw("now() - interval '16 minutes'") });
    expect(await checkSecondFactor(db, testKeys, actorFor(user), enrolled, await freshCode(user.id, secret))).toBe("ok");
  });
});

describe("T8: turning 2FA off and new recovery codes need the password and the current code", () => {
  it("T8: disableOwnTwoFactor: wrong password → currentPassword, wrong code → code; nothing changes", async () => {
    const user = await verifiedUser({ username: "careful" });
    const { secret } = await enrolTotp(user);
    const input = { endOtherSessions: false, currentSid: "current" };

    const badPassword = await caught(
      disableOwnTwoFactor(db, testKeys, actorFor(user), { ...input, password: WRONG_PASSWORD, code: await freshCode(user.id, secret) }),
    );
    expect(expectFieldError(badPassword, "currentPassword").fields.currentPassword).toBe("Current password is not correct.");
    for (const code of [await wrongCode(secret), ""]) {
      const badCode = await caught(disableOwnTwoFactor(db, testKeys, actorFor(user), { ...input, password: user.password, code }));
      expectFieldError(badCode, "code");
    }
    const stillOn = await reload(user.id);
    expect(stillOn.twoFactorMethod).toBe("totp");
    expect(await unusedRecoveryCodeCount(db, user.id)).toBe(10);
    expect(await listAuditEvents(db, { action: "two_factor.disabled" })).toHaveLength(0);
    expect((await outboxTo(user.email as string)).filter((m) => m.text_body.includes("turned off"))).toHaveLength(0);
  });

  it("T8: with both right it turns off, ends the other sessions (not the current one) and emails a notice", async () => {
    const user = await verifiedUser({ username: "leaving" });
    const { secret } = await enrolTotp(user);
    const neighbour = await verifiedUser({ username: "neighbour" });
    for (const sid of ["current", "laptop", "phone"]) await addSession(sid, user.id);
    await addSession("neighbours", neighbour.id);

    await disableOwnTwoFactor(db, testKeys, actorFor(user), {
      password: user.password,
      code: await freshCode(user.id, secret),
      endOtherSessions: true,
      currentSid: "current",
    });
    const after = await reload(user.id);
    expect(after.twoFactorMethod).toBeNull();
    expect(await storedUserRow(user.id)).toMatchObject({ totp_secret: null, totp_last_step: null });
    expect(await unusedRecoveryCodeCount(db, user.id)).toBe(0);
    expect(await sessionIds()).toEqual(["current", "neighbours"]);
    const [event] = await listAuditEvents(db, { action: "two_factor.disabled", targetId: String(user.id) });
    expect(event?.details).toMatchObject({ method: "totp", otherSessionsEnded: 2 });
    const notices = (await outboxTo(user.email as string)).filter((m) => m.kind === "two_factor_changed");
    expect(notices.at(-1)?.subject).toBe("[AUTH] Gatehouse two-factor authentication changed");
    expect(notices.at(-1)?.text_body).toContain("turned off by you");
  });

  it("T8: without 'end other sessions' every session stays; an email-code account needs only the password", async () => {
    const user = await verifiedUser({ username: "staying" });
    await enableEmailTwoFactor(db, testKeys, actorFor(user));
    for (const sid of ["current", "laptop"]) await addSession(sid, user.id);
    const wrong = await caught(
      disableOwnTwoFactor(db, testKeys, actorFor(user), { password: WRONG_PASSWORD, code: "", endOtherSessions: false, currentSid: "current" }),
    );
    expectFieldError(wrong, "currentPassword");
    await disableOwnTwoFactor(db, testKeys, actorFor(user), { password: user.password, code: "", endOtherSessions: false, currentSid: "current" });
    expect((await reload(user.id)).twoFactorMethod).toBeNull();
    expect(await sessionIds()).toEqual(["current", "laptop"]);
    expect((await outboxTo(user.email as string)).some((m) => m.text_body.includes("turned off by you"))).toBe(true);
  });

  it("T8: regenerateRecoveryCodes: same checks; new codes replace the old ones and a notice is sent", async () => {
    const user = await verifiedUser({ username: "renewer" });
    const { secret, recoveryCodes: old } = await enrolTotp(user);

    expectFieldError(
      await caught(regenerateRecoveryCodes(db, testKeys, actorFor(user), { password: WRONG_PASSWORD, code: await freshCode(user.id, secret) })),
      "currentPassword",
    );
    expectFieldError(await caught(regenerateRecoveryCodes(db, testKeys, actorFor(user), { password: user.password, code: "123456x" })), "code");
    expect(await listAuditEvents(db, { action: "two_factor.recovery_codes_regenerated" })).toHaveLength(0);

    const fresh = await regenerateRecoveryCodes(db, testKeys, actorFor(user), { password: user.password, code: await freshCode(user.id, secret) });
    expect(fresh).toHaveLength(10);
    expect(fresh.some((c) => old.includes(c))).toBe(false);
    const enrolled = await reload(user.id);
    expect(await checkSecondFactor(db, testKeys, actorFor(user), enrolled, old[0] as string)).toBe("invalid");
    expect(await checkSecondFactor(db, testKeys, actorFor(user), enrolled, fresh[0] as string)).toBe("ok");
    expect(await listAuditEvents(db, { action: "two_factor.recovery_codes_regenerated" })).toHaveLength(1);
    expect((await outboxTo(user.email as string)).some((m) => m.text_body.includes("new recovery codes were made"))).toBe(true);
  });
});

describe("adminDisableTwoFactor", () => {
  it("turns a user's 2FA off: audited, every session of that user ends, a notice is sent", async () => {
    const admin = await insertTestAdmin(db, { username: "warden" });
    const user = await verifiedUser({ username: "lockedout" });
    await enrolTotp(user);
    const before = await reload(user.id);
    for (const sid of ["u1", "u2"]) await addSession(sid, user.id);
    await addSession("admins", admin.id);

    await adminDisableTwoFactor(db, actorFor(admin), user.id);
    const after = await reload(user.id);
    expect(after.twoFactorMethod).toBeNull();
    expect(after.sessionVersion).toBe(before.sessionVersion + 1);
    expect(await storedUserRow(user.id)).toMatchObject({ totp_secret: null });
    expect(await unusedRecoveryCodeCount(db, user.id)).toBe(0);
    expect(await sessionIds()).toEqual(["admins"]);
    const [event] = await listAuditEvents(db, { action: "two_factor.disabled_by_admin" });
    expect(event).toMatchObject({ actorId: admin.id, actorUsername: "warden", targetId: String(user.id), targetLabel: "lockedout" });
    expect(event?.details).toEqual({ changes: { twoFactorMethod: { from: "totp", to: null } } });
    const notice = (await outboxTo(user.email as string)).filter((m) => m.kind === "two_factor_changed").at(-1);
    expect(notice?.text_body).toContain("turned off by the administrator warden");
  });

  it("cannot be used on oneself, nor on an account whose 2FA is already off", async () => {
    const admin = await verifiedUser({ username: "selfish", isAdmin: true });
    await enableEmailTwoFactor(db, testKeys, actorFor(admin));
    const self = await caught(adminDisableTwoFactor(db, actorFor(admin), admin.id));
    expect(self).toBeInstanceOf(ForbiddenError);
    expect((await reload(admin.id)).twoFactorMethod).toBe("email");

    const plain = await verifiedUser({ username: "plain" });
    expect(await caught(adminDisableTwoFactor(db, actorFor(admin), plain.id))).toBeInstanceOf(ConflictError);
    expect(await listAuditEvents(db, { action: "two_factor.disabled_by_admin" })).toHaveLength(0);
  });
});

describe("enableEmailTwoFactor", () => {
  it("requires a verified email address; without one nothing changes", async () => {
    const unverified = await insertTestUser(db, { username: "unverified", email: "unverified@example.test" });
    const noEmail = await insertTestUser(db, { username: "noemail" });
    for (const user of [unverified, noEmail]) {
      const error = await caught(enableEmailTwoFactor(db, testKeys, actorFor(user)));
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as AppError).message).toMatch(/^Verify your email address/);
      expect((await reload(user.id)).twoFactorMethod).toBeNull();
      expect(await db("recovery_codes").where({ user_id: user.id })).toHaveLength(0);
    }
    expect(await listAuditEvents(db, { action: "two_factor.enabled" })).toHaveLength(0);

    const verified = await verifiedUser({ username: "verified" });
    const codes = await enableEmailTwoFactor(db, testKeys, actorFor(verified));
    expect(codes).toHaveLength(10);
    expect((await reload(verified.id)).twoFactorMethod).toBe("email");
    const notice = (await outboxTo(verified.email as string)).at(-1);
    expect(notice?.text_body).toContain("turned on (email code)");
  });

  it("says email is not configured when no mail server is set up", async () => {
    await db("settings").where({ key: "smtp" }).delete();
    const user = await verifiedUser({ username: "nomail" });
    const error = await caught(enableEmailTwoFactor(db, testKeys, actorFor(user)));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toBe(EMAIL_NOT_CONFIGURED);
    expect((await reload(user.id)).twoFactorMethod).toBeNull();
  });
});
