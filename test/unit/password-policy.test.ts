import { describe, expect, it } from "vitest";
import { passwordProblem } from "../../src/services/password-policy.ts";

const TOO_EASY = "This password is too common or too easy to guess; choose another.";

describe("passwordProblem: common passwords stretched to the minimum length (docs/domain.md, Passwords and reset; docs/security.md R9)", () => {
  it.each([
    "password1234",
    "Password1234!",
    "!iloveyou2024",
    "sunshine2024!!",
    "pa55word1234",
    "passwordpassword",
    "monkey!monkey!",
    "dragon-dragon-dragon",
    "qwertyuiopasdf",
    "QWERTYUIOPASDF",
    "fdsapoiuytrewq",
    "zxcvbnm12345",
    "1qaz2wsx3edc",
    "123456789012",
    "210987654321",
    "abcdefghijklm",
    "!!!!!!!!!!!!",
    "abcabcabcabc",
    "🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂",
  ])("refuses %j", (password) => {
    expect(passwordProblem(password, { username: "someone" })).toBe(TOO_EASY);
  });

  it.each([
    "correct horse battery staple 42",
    "a very long password 1",
    "481927365501",
    "Tr0ub4dor&3xyz",
    "Lq9#vT2!mZLq9#vT2!mZ",
    "zoë mag sushi en jazz",
    "пароль-которого-нет-1",
  ])("accepts %j", (password) => {
    expect(passwordProblem(password, { username: "someone" })).toBeNull();
  });
});
