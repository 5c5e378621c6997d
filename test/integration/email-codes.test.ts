import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Db } from "../../src/db/index.ts";
import { ConflictError, ValidationError } from "../../src/errors.ts";
import { optionalEmailField } from "../../src/lib/fields.ts";
import { hashCode } from "../../src/lib/secret-box.ts";
import type { CodePurpose } from "../../src/repositories/email-codes.ts";
import { findUserById, setPendingEmail } from "../../src/repositories/users/index.ts";
import { createUser } from "../../src/services/accounts.ts";
import { SYSTEM_ACTOR } from "../../src/services/audit.ts";
import { assertEmailFree, confirmEmailCode, EMAIL_TAKEN } from "../../src/services/email-verification.ts";
import {
  CODE_FAILURE_POLICY,
  CODE_MESSAGES,
  CODE_POLICY,
  checkEmailCode,
  issueCode,
  newSixDigitCode,
  reserveCodeSend,
} from "../../src/services/one-time-codes.ts";
import type { User } from "../../src/types/user.ts";
import { useTestDb } from "../helpers/db.ts";
import { testKeys } from "../helpers/mail.ts";
import { insertTestUser } from "../helpers/users.ts";

let db: Db;
useTestDb((created) => {
  db = created;
});

const IP = "192.0.2.10";

async function reload(user: { id: number }): Promise<User> {
  const current = await findUserById(db, user.id);
  if (!current) throw new Error(`user ${user.id} is gone`);
  return current;
}

/** A 6-digit code that is certainly not `code`. */
function wrongFor(code: string): string {
  return String((Number(code) + 1) % 1_000_000).padStart(6, "0");
}

/**
 * An account whose verified address is `old@…` and which asked to change it to `newAddress`: the state a
 * profile change leaves (docs/security.md E5), with a code issued for the new address.
 */
async function accountAwaitingCode(name: string, newAddress = `${name}.new@example.com`) {
  const user = await insertTestUser(db, { username: name, email: `${name}.old@example.com` });
  await db("users").where({ id: user.id }).update({ email_verified: true });
  await setPendingEmail(db, user.id, newAddress);
  const code = await issueCode(db, testKeys, { userId: user.id, purpose: "verify_email", address: newAddress });
  return { user: await reload(user), code, address: newAddress };
}

/** What a person can see of their account's address: unchanged means all three are as before. */
function addressState(user: User) {
  return { email: user.email, emailVerified: user.emailVerified, pendingEmail: user.pendingEmail };
}

/** Runs confirmEmailCode and returns the ValidationError it throws (the test fails if it succeeds). */
async function refusedConfirmation(userId: number, code: string): Promise<ValidationError> {
  const error = await confirmEmailCode(db, testKeys, SYSTEM_ACTOR, userId, code).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, `code ${code} was accepted`).toBeInstanceOf(ValidationError);
  return error as ValidationError;
}

async function codeRows(userId: number, purpose: CodePurpose = "verify_email") {
  return db("email_codes").where({ user_id: userId, purpose }).orderBy("id");
}

/** Moves every code of the account `seconds` into the past (created and expiry), as if that time had gone by. */
async function ageCodes(userId: number, seconds: number): Promise<void> {
  await db("email_codes")
    .where({ user_id: userId })
    .update({
      created_at: db.raw("created_at - make_interval(secs => ?)", [seconds]),
      expires_at: db.raw("expires_at - make_interval(secs => ?)", [seconds]),
    });
}

async function ageCounter(scope: string, key: string, seconds: number): Promise<void> {
  await db("login_failures")
    .where({ scope, key })
    .update({ window_started_at: db.raw("window_started_at - make_interval(secs => ?)", [seconds]) });
}

async function counter(scope: string, key: string): Promise<number> {
  const row = await db("login_failures").where({ scope, key }).first("failures");
  return Number(row?.failures ?? 0);
}

/** reserveCodeSend's refusal, or undefined when the send was allowed. */
async function reserve(userId: number, clientIp = IP): Promise<ValidationError | undefined> {
  return reserveCodeSend(db, { userId, purpose: "verify_email", clientIp, field: "confirmationCode" }).then(
    () => undefined,
    (caught: unknown) => {
      if (caught instanceof ValidationError) return caught;
      throw caught;
    },
  );
}

/** A send as the app does it: reserved first, then a code issued. */
async function send(userId: number, address: string, clientIp = IP): Promise<ValidationError | undefined> {
  const refused = await reserve(userId, clientIp);
  if (!refused) await issueCode(db, testKeys, { userId, purpose: "verify_email", address });
  return refused;
}

describe("codes: six digits, stored only as a keyed hash, valid 10 minutes", () => {
  it("every code is 6 digits; the row holds an HMAC of it, never the code itself", async () => {
    for (let i = 0; i < 200; i++) expect(newSixDigitCode()).toMatch(/^[0-9]{6}$/);

    const user = await insertTestUser(db, { username: "hashed", email: "hashed@example.com" });
    const code = await issueCode(db, testKeys, { userId: user.id, purpose: "verify_email", address: "hashed@example.com" });
    expect(code).toMatch(/^[0-9]{6}$/);
    const [row] = await codeRows(user.id);
    expect(row).toBeDefined();
    expect(row.code_hash).toBe(hashCode(testKeys.codes, code));
    // Keyed: not a plain digest anyone could build a table of a million codes for.
    expect(row.code_hash).not.toBe(createHash("sha256").update(code).digest("base64url"));
    expect(row.code_hash).not.toBe(createHash("sha256").update(code).digest("hex"));
    for (const value of Object.values(row as Record<string, unknown>)) expect(String(value)).not.toContain(code);
    expect(row).toMatchObject({ user_id: expect.anything(), purpose: "verify_email", address: "hashed@example.com", failed_attempts: 0 });

    const lifetime = await db.raw("SELECT extract(epoch FROM expires_at - created_at)::float8 AS seconds FROM email_codes WHERE id = ?", [row.id]);
    expect(Math.round(Number((lifetime.rows as { seconds: number }[])[0]?.seconds))).toBe(CODE_POLICY.validSeconds);
    expect(CODE_POLICY.validSeconds).toBe(600);
  });

  it("a new code retires the older one: only the newest counts", async () => {
    const { user, code: first, address } = await accountAwaitingCode("retire");
    const second = await issueCode(db, testKeys, { userId: user.id, purpose: "verify_email", address });
    if (first !== second) {
      expect(await checkEmailCode(db, testKeys, { userId: user.id, purpose: "verify_email", address, code: first })).toBe("invalid");
    }
    expect(await checkEmailCode(db, testKeys, { userId: user.id, purpose: "verify_email", address, code: second })).toBe("ok");
  });

  it("the right code verifies the pending address: it becomes the account's email, verified", async () => {
    const { user, code, address } = await accountAwaitingCode("happy");
    const confirmed = await confirmEmailCode(db, testKeys, SYSTEM_ACTOR, user.id, code);
    expect(addressState(confirmed)).toEqual({ email: address, emailVerified: true, pendingEmail: null });
    expect(addressState(await reload(user))).toEqual({ email: address, emailVerified: true, pendingEmail: null });
  });
});

describe("E1: wrong codes", () => {
  it("E1: after 5 wrong tries the code is dead and even the right code fails; a new code does not reset the account's counter", async () => {
    const { user, code, address } = await accountAwaitingCode("guesser");
    const before = addressState(user);
    const key = `verify_email:${user.id}`;

    for (let i = 1; i <= 4; i++) {
      const error = await refusedConfirmation(user.id, wrongFor(code));
      expect(error.status).toBe(422);
      expect(error.fields).toEqual({ confirmationCode: CODE_MESSAGES.invalid });
    }
    const fifth = await refusedConfirmation(user.id, wrongFor(code));
    expect(fifth.fields.confirmationCode).toBe(CODE_MESSAGES.dead);
    expect(fifth.fields.confirmationCode).toContain("Request a new code");

    const right = await refusedConfirmation(user.id, code);
    expect(right.fields.confirmationCode).toBe(CODE_MESSAGES.dead);
    expect(addressState(await reload(user))).toEqual(before);
    expect((await codeRows(user.id))[0]?.failed_attempts).toBe(CODE_POLICY.failuresPerCode);

    // A new code: the per-code count starts again, the account's does not (10 wrong in 15 minutes).
    const fresh = await issueCode(db, testKeys, { userId: user.id, purpose: "verify_email", address });
    const used = await counter("second_factor", key);
    expect(used).toBe(6);
    for (let i = used + 1; i <= CODE_FAILURE_POLICY.maxFailures; i++) {
      expect((await refusedConfirmation(user.id, wrongFor(fresh))).fields.confirmationCode).toBe(CODE_MESSAGES.invalid);
    }
    const throttled = await refusedConfirmation(user.id, fresh);
    expect(throttled.status).toBe(429);
    expect(throttled.fields.confirmationCode).toBe(CODE_MESSAGES.throttled);
    expect(addressState(await reload(user))).toEqual(before);

    // Once the 15 minutes have passed, the newest code (not dead: 4 wrong tries) works.
    await ageCounter("second_factor", key, CODE_FAILURE_POLICY.windowSeconds + 1);
    const confirmed = await confirmEmailCode(db, testKeys, SYSTEM_ACTOR, user.id, fresh);
    expect(addressState(confirmed)).toEqual({ email: address, emailVerified: true, pendingEmail: null });
  });

  it("E1: a code that is not 6 digits counts as a wrong try, with the same message", async () => {
    const { user, code } = await accountAwaitingCode("shapes");
    for (const typed of ["12345", "1234567", "abcdef", ` ${code}x`]) {
      expect((await refusedConfirmation(user.id, typed)).fields.confirmationCode).toBe(CODE_MESSAGES.invalid);
    }
    expect((await refusedConfirmation(user.id, "")).fields.confirmationCode).toBe(CODE_MESSAGES.dead);
    expect((await refusedConfirmation(user.id, code)).fields.confirmationCode).toBe(CODE_MESSAGES.dead);
  });
});

describe("E2: expired and used codes", () => {
  it("E2: a code past its 10 minutes says 'expired or already used' and the account is unchanged", async () => {
    const { user, code } = await accountAwaitingCode("late");
    const before = addressState(user);
    await db("email_codes").where({ user_id: user.id }).update({ expires_at: db.raw("now() - interval '1 second'") });
    const error = await refusedConfirmation(user.id, code);
    expect(error.status).toBe(422);
    expect(error.fields.confirmationCode).toBe(CODE_MESSAGES.expired);
    expect(error.fields.confirmationCode).toMatch(/^Code expired or already used/);
    expect(addressState(await reload(user))).toEqual(before);
    expect(before.pendingEmail).toBe("late.new@example.com");
    expect(before.email).toBe("late.old@example.com");
    // The right code, late, is not a guess: it does not count against the account.
    expect(await counter("second_factor", `verify_email:${user.id}`)).toBe(0);
  });

  it("E2: a code entered at 9 min 59 s still works (the limit is the expiry, not a rounding)", async () => {
    const { user, code, address } = await accountAwaitingCode("intime");
    await ageCodes(user.id, CODE_POLICY.validSeconds - 5);
    const confirmed = await confirmEmailCode(db, testKeys, SYSTEM_ACTOR, user.id, code);
    expect(confirmed.email).toBe(address);
  });

  it("E2: a code already used says 'expired or already used' and the account is unchanged", async () => {
    const { user, code, address } = await accountAwaitingCode("twice");
    const before = addressState(user);
    // Used once (by a parallel request, say) …
    expect(await checkEmailCode(db, testKeys, { userId: user.id, purpose: "verify_email", address, code })).toBe("ok");
    expect((await codeRows(user.id))[0]?.consumed_at).not.toBeNull();
    // … and then entered again.
    expect(await checkEmailCode(db, testKeys, { userId: user.id, purpose: "verify_email", address, code })).toBe("expired");
    const error = await refusedConfirmation(user.id, code);
    expect(error.fields.confirmationCode).toBe(CODE_MESSAGES.expired);
    expect(addressState(await reload(user))).toEqual(before);
  });

  it("E2: the code of a confirmed address cannot confirm again after the address changed back to pending", async () => {
    const { user, code, address } = await accountAwaitingCode("reuse");
    await confirmEmailCode(db, testKeys, SYSTEM_ACTOR, user.id, code);
    await setPendingEmail(db, user.id, "reuse.third@example.com");
    const before = addressState(await reload(user));
    const error = await refusedConfirmation(user.id, code);
    expect(error.fields.confirmationCode).toBe(CODE_MESSAGES.expired);
    expect(addressState(await reload(user))).toEqual(before);
    expect(before).toEqual({ email: address, emailVerified: true, pendingEmail: "reuse.third@example.com" });
  });
});

describe("E3: a code is bound to its user, purpose and address", () => {
  it("E3: user A's code does not work for user B (who has a code of their own, or none)", async () => {
    const a = await accountAwaitingCode("alice");
    const b = await accountAwaitingCode("bob");
    const bBefore = addressState(b.user);
    if (a.code !== b.code) {
      expect((await refusedConfirmation(b.user.id, a.code)).fields.confirmationCode).toBe(CODE_MESSAGES.invalid);
    }
    expect(addressState(await reload(b.user))).toEqual(bBefore);

    // Carol has no code at all: she is told so, rather than that a code expired.
    const c = await insertTestUser(db, { username: "carol", email: "carol@example.com" });
    const cBefore = addressState(c);
    expect((await refusedConfirmation(c.id, a.code)).fields.confirmationCode).toBe(CODE_MESSAGES.none);
    expect(addressState(await reload(c))).toEqual(cBefore);

    // A's code was not used up by the others' attempts.
    expect((await confirmEmailCode(db, testKeys, SYSTEM_ACTOR, a.user.id, a.code)).email).toBe(a.address);
    expect((await confirmEmailCode(db, testKeys, SYSTEM_ACTOR, b.user.id, b.code)).email).toBe(b.address);
  });

  it("E3: a sign-in code does not verify an address, and a verification code does not sign in", async () => {
    const user = await insertTestUser(db, { username: "purpose", email: "purpose@example.com" });
    const signInCode = await issueCode(db, testKeys, { userId: user.id, purpose: "sign_in", address: "purpose@example.com" });
    const before = addressState(user);
    // No verification code was ever sent: a sign-in code finds none to match.
    expect((await refusedConfirmation(user.id, signInCode)).fields.confirmationCode).toBe(CODE_MESSAGES.none);
    expect(addressState(await reload(user))).toEqual(before);

    const verifyCode = await issueCode(db, testKeys, { userId: user.id, purpose: "verify_email", address: "purpose@example.com" });
    if (verifyCode !== signInCode) {
      expect(
        await checkEmailCode(db, testKeys, { userId: user.id, purpose: "sign_in", address: "purpose@example.com", code: verifyCode }),
      ).toBe("invalid");
      expect(
        await checkEmailCode(db, testKeys, { userId: user.id, purpose: "verify_email", address: "purpose@example.com", code: signInCode }),
      ).toBe("invalid");
    }
    expect(
      await checkEmailCode(db, testKeys, { userId: user.id, purpose: "verify_email", address: "purpose@example.com", code: verifyCode }),
    ).toBe("ok");
    expect(
      await checkEmailCode(db, testKeys, { userId: user.id, purpose: "sign_in", address: "purpose@example.com", code: signInCode }),
    ).toBe("ok");
  });

  it("E3: a code sent to one address does not verify another: after the pending address changes, the old code fails", async () => {
    const { user, code, address } = await accountAwaitingCode("mover");
    expect(await checkEmailCode(db, testKeys, { userId: user.id, purpose: "verify_email", address: "elsewhere@example.com", code })).toBe(
      "expired",
    );
    await setPendingEmail(db, user.id, "attacker@example.net");
    const before = addressState(await reload(user));
    expect((await refusedConfirmation(user.id, code)).fields.confirmationCode).toBe(CODE_MESSAGES.expired);
    expect(addressState(await reload(user))).toEqual(before);
    expect(before.email).toBe("mover.old@example.com");

    // Back to the address the code was sent to: it works, since the attempts above did not use it.
    await setPendingEmail(db, user.id, address);
    expect((await confirmEmailCode(db, testKeys, SYSTEM_ACTOR, user.id, code)).email).toBe(address);
  });
});

describe("E4: reserveCodeSend", () => {
  it("E4: one code a minute per account: a second send within 60 s is a calm 429 saying when, and does not use up the hourly allowance", async () => {
    const user = await insertTestUser(db, { username: "presser" });
    expect(await send(user.id, "presser@example.com")).toBeUndefined();
    for (let press = 0; press < 10; press++) {
      const refused = await send(user.id, "presser@example.com");
      expect(refused, `press ${press}`).toBeInstanceOf(ValidationError);
      expect(refused?.status).toBe(429);
      const message = refused?.fields.confirmationCode ?? "";
      expect(message).toMatch(/^A code was sent less than a minute ago; check your inbox\. You can ask for another in (\d+) seconds\.$/);
      const seconds = Number(/in (\d+) seconds/.exec(message)?.[1]);
      expect(seconds).toBeGreaterThanOrEqual(1);
      expect(seconds).toBeLessThanOrEqual(60);
    }
    expect(await codeRows(user.id)).toHaveLength(1);
    expect(await counter("code_send_account", String(user.id))).toBe(1);

    // Another account is not held up by this one's minute.
    const other = await insertTestUser(db, { username: "bystander" });
    expect(await send(other.id, "bystander@example.com", "198.51.100.7")).toBeUndefined();

    // 20 seconds later: still refused, with less to wait.
    await ageCodes(user.id, 20);
    const later = await send(user.id, "presser@example.com");
    expect(Number(/in (\d+) seconds/.exec(later?.fields.confirmationCode ?? "")?.[1])).toBeLessThanOrEqual(40);

    await ageCodes(user.id, 41);
    expect(await send(user.id, "presser@example.com")).toBeUndefined();
    expect(await codeRows(user.id)).toHaveLength(2);
  });

  it("E4: five codes an hour per account; the sixth is refused with a calm message until the hour is over", async () => {
    const user = await insertTestUser(db, { username: "hourly" });
    for (let i = 1; i <= CODE_POLICY.sendsPerHour; i++) {
      // Each from a different address, so only the account's own limit can apply.
      expect(await send(user.id, "hourly@example.com", `203.0.113.${i}`), `send ${i}`).toBeUndefined();
      await ageCodes(user.id, 61);
    }
    const sixth = await send(user.id, "hourly@example.com", "203.0.113.99");
    expect(sixth?.status).toBe(429);
    expect(sixth?.fields.confirmationCode).toMatch(
      /^Five codes were sent in the last hour, which is the limit\. Use the newest one, or ask again in \d+ minutes\.$/,
    );
    expect(await codeRows(user.id)).toHaveLength(CODE_POLICY.sendsPerHour);
    // The refused send counted nowhere: the other address has room left.
    expect(await counter("code_send_ip", "203.0.113.99")).toBe(0);

    await ageCounter("code_send_account", String(user.id), 3601);
    expect(await send(user.id, "hourly@example.com", "203.0.113.99")).toBeUndefined();
  });

  it("E4: five codes an hour per client address, across accounts; the refused account is not charged", async () => {
    const users = [];
    for (let i = 1; i <= 6; i++) users.push(await insertTestUser(db, { username: `shared${i}` }));
    for (const user of users.slice(0, 5)) expect(await send(user.id, `${user.username}@example.com`), user.username).toBeUndefined();
    const sixth = users[5] as User;
    const refused = await send(sixth.id, "shared6@example.com");
    expect(refused?.status).toBe(429);
    expect(refused?.fields.confirmationCode).toMatch(/^Five codes were sent in the last hour, which is the limit\./);
    expect(await codeRows(sixth.id)).toHaveLength(0);
    expect(await counter("code_send_account", String(sixth.id))).toBe(0);

    // From another address the same account may send; after the hour the first address may too.
    expect(await send(sixth.id, "shared6@example.com", "198.51.100.20")).toBeUndefined();
    await ageCounter("code_send_ip", IP, 3601);
    const seventh = await insertTestUser(db, { username: "shared7" });
    expect(await send(seventh.id, "shared7@example.com")).toBeUndefined();
  });
});

describe("E7: email addresses", () => {
  const parse = (value: string) => optionalEmailField.safeParse(value);

  it("E7: the domain is lower-cased, the local part kept as typed; blank means none", () => {
    expect(parse("A@B.COM").data).toBe("A@b.com");
    expect(parse("  Pat.Doe@Example.ORG ").data).toBe("Pat.Doe@example.org");
    expect(parse("").data).toBeNull();
  });

  it("E7: an IDN domain is accepted as Unicode and lower-cased (not converted to punycode)", () => {
    expect(parse("user@BÜCHER.example").data).toBe("user@bücher.example");
    expect(parse("user@bücher.example").data).toBe("user@bücher.example");
    expect(parse("user@xn--bcher-kva.example").data).toBe("user@xn--bcher-kva.example");
  });

  it("E7: at most 254 characters; 255 is refused with the count", () => {
    const local = "a".repeat(64);
    const domainOf = (length: number) => `${"d".repeat(length - 4)}.com`;
    const at254 = `${local}@${domainOf(254 - 65)}`;
    expect(at254).toHaveLength(254);
    expect(parse(at254).success).toBe(true);
    const at255 = `${local}@${domainOf(255 - 65)}`;
    const result = parse(at255);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe("Email must be at most 254 characters; this one has 255.");
    expect(parse(`${"x".repeat(1000)}@example.com`).success).toBe(false);
  });

  it("E7: a@b@c and other shapes that are not one address are refused", () => {
    for (const bad of ["a@b@c", "a@b@c.com", "a@b", "@b.com", "a@", "a b@c.com", "a@b.com, c@d.com", "<a@b.com>", "a@b.com\r\nBcc: x@evil"]) {
      const result = parse(bad);
      expect(result.success, JSON.stringify(bad)).toBe(false);
      expect(result.error?.issues[0]?.message, JSON.stringify(bad)).toMatch(/^Email|^Enter an email address like name@example\.com\.$/);
    }
  });

  it("E7: A@B.COM and a@b.com are the same address: a second account cannot take it in another case", async () => {
    const owner = await insertTestUser(db, { username: "owner", email: "A@B.COM" });
    const other = await insertTestUser(db, { username: "other" });
    for (const spelling of ["a@b.com", "A@B.COM", "a@B.Com"]) {
      const error = await assertEmailFree(db, spelling, other.id).catch((caught: unknown) => caught);
      expect(error, spelling).toBeInstanceOf(ConflictError);
      expect((error as ConflictError).fields).toEqual({ email: EMAIL_TAKEN });
    }
    // The owner may keep (or re-case) their own address.
    await expect(assertEmailFree(db, "a@b.com", owner.id)).resolves.toBeUndefined();

    const created = await createUser(db, SYSTEM_ACTOR, {
      details: { username: "third", fullName: "", title: "", email: "a@b.com", phone: "", isAdmin: false, authSource: "local" },
      password: "a long enough passphrase 12",
    }).catch((caught: unknown) => caught);
    expect(created).toBeInstanceOf(ConflictError);
    expect((created as ConflictError).fields.email).toBe(EMAIL_TAKEN);
    const [holders] = await db("users").whereRaw("lower(email) = 'a@b.com'").count<{ count: string }[]>("* as count");
    expect(Number(holders?.count)).toBe(1);

    // Even straight into the table (a path that skips the check), the database refuses a second spelling.
    await expect(db("users").where({ id: other.id }).update({ email: "a@b.COM" })).rejects.toThrow(/unique|duplicate/i);
  });
});
