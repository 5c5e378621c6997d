import { describe, expect, it } from "vitest";
import { codePointLength, nameKey, optionalEmailField, textField, usernameField } from "../../src/lib/fields.ts";
import { safeReturnTo } from "../../src/lib/return-to.ts";
import { passwordProblem } from "../../src/services/password-policy.ts";
import { accountWaitSeconds } from "../../src/services/passwords.ts";

describe("nameKey", () => {
  it("gives one key for case, spacing and width variants (L3, A9)", () => {
    for (const variant of ["Admin", " admin ", "ADMIN", "ａｄｍｉｎ"]) expect(nameKey(variant)).toBe("admin");
  });
});

describe("usernameField", () => {
  it.each(["admin\u200b", "a\u202Eb", "a\u0000b", "a\nb", "a\u3164b", "\uD800x"])("refuses invisible and control characters: %j", (value) => {
    expect(usernameField.safeParse(value).success).toBe(false);
  });
  it("counts code points: 64 emoji pass, 65 fail", () => {
    expect(usernameField.safeParse("😀".repeat(64)).success).toBe(true);
    const result = usernameField.safeParse("😀".repeat(65));
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe("Username must be at most 64 characters; this one has 65.");
  });
  it("trims and applies NFKC", () => {
    expect(usernameField.parse("  ｂｏｂ ")).toBe("bob");
  });
});

describe("textField", () => {
  const fullName = textField("Full name", 128);
  it("keeps combining marks and emoji and counts them as code points", () => {
    expect(codePointLength("e\u0301")).toBe(2);
    expect(fullName.parse("Zoë 🙂")).toBe("Zoë 🙂");
  });
  it("refuses bidi controls and NUL", () => {
    expect(fullName.safeParse("evil\u202Eexe").success).toBe(false);
    expect(fullName.safeParse("a\u0000").success).toBe(false);
  });
});

describe("optionalEmailField", () => {
  it("reads a missing field as no address, as a blank one (a second account without one is no clash of addresses)", () => {
    expect(optionalEmailField.parse(undefined)).toBeNull();
    expect(optionalEmailField.parse("  ")).toBeNull();
  });

  it("lower-cases the domain only and keeps blank as none", () => {
    expect(optionalEmailField.parse("Bob@Example.COM")).toBe("Bob@example.com");
    expect(optionalEmailField.parse("  ")).toBeNull();
  });
  it.each(["a@b.com\r\nBcc: x@evil.com", "a@b@c", "no-at-sign", `${"a".repeat(250)}@b.com`])("refuses %j", (value) => {
    expect(optionalEmailField.safeParse(value).success).toBe(false);
  });
});

describe("passwordProblem", () => {
  it("names the length with the count", () => {
    expect(passwordProblem("short pw", { username: "bob" })).toBe("Password must be at least 12 characters; this one has 8.");
    expect(passwordProblem("x".repeat(129), { username: "bob" })).toMatch(/at most 128/);
  });
  it("refuses common passwords, the username and the product name", () => {
    expect(passwordProblem("password1234", { username: "bob" })).toMatch(/too common/);
    expect(passwordProblem("alice-is-my-password", { username: "Alice" })).toMatch(/username/);
    expect(passwordProblem("my gatehouse password", { username: "bob" })).toMatch(/product name/);
    expect(passwordProblem("abcabcabcabc", { username: "bob" })).toMatch(/too common/);
  });
  it("accepts a long passphrase", () => {
    expect(passwordProblem("correct horse battery staple", { username: "bob" })).toBeNull();
  });
});

describe("safeReturnTo (L9)", () => {
  it.each(["//evil.com", "/\\evil.com", "https:evil.com", "javascript:alert(1)", "https://evil.com", "", "/login", "/ok\r\nx"])(
    "refuses %j",
    (value) => expect(safeReturnTo(value)).toBe("/"),
  );
  it("keeps a local path with its query", () => {
    expect(safeReturnTo("/admin/users?q=bob")).toBe("/admin/users?q=bob");
  });
});

describe("accountWaitSeconds", () => {
  it("grows by a minute per failure from the fifth, caps at 15 minutes and locks at 20", () => {
    expect([1, 4, 5, 6, 10, 19, 20, 25].map(accountWaitSeconds)).toEqual([0, 0, 60, 120, 360, 900, 3600, 3600]);
  });
});
