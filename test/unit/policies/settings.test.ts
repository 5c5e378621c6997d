import { describe, expect, it } from "vitest";
import { ForbiddenError } from "../../../src/errors.ts";
import { assertCan, can, type SettingsAction } from "../../../src/policies/settings.ts";
import { actor, expectEveryCombinationOnce, expectRefusal, KINDS, type Kind, keysOf, type Refusal } from "./kinds.ts";

const refusals = {
  "403 administrators only": { error: ForbiddenError, status: 403, message: "Only administrators can do that." },
} satisfies Record<string, Refusal>;

type Outcome = "passes" | keyof typeof refusals;

const ACTIONS = keysOf<SettingsAction>({ read: true, change: true, "read-log": true });

/** [actor kind, action, can(), what assertCan does]: settings and the log are the administrators' alone. */
const rows: [Kind, SettingsAction, boolean, Outcome][] = [
  ["system", "read", true, "passes"],
  ["system", "change", true, "passes"],
  ["system", "read-log", true, "passes"],

  ["administrator", "read", true, "passes"],
  ["administrator", "change", true, "passes"],
  ["administrator", "read-log", true, "passes"],

  ["user", "read", false, "403 administrators only"],
  ["user", "change", false, "403 administrators only"],
  ["user", "read-log", false, "403 administrators only"],

  ["user without isAdmin", "read", false, "403 administrators only"],
  ["user without isAdmin", "change", false, "403 administrators only"],
  ["user without isAdmin", "read-log", false, "403 administrators only"],

  ["anonymous", "read", false, "403 administrators only"],
  ["anonymous", "change", false, "403 administrators only"],
  ["anonymous", "read-log", false, "403 administrators only"],
];

describe("settings policy", () => {
  it("has one row for every actor kind and action", () => {
    expectEveryCombinationOnce(
      rows.map(([kind, action]) => `${kind} ${action}`),
      KINDS.flatMap((kind) => ACTIONS.map((action) => `${kind} ${action}`)),
    );
    for (const [, , allowed, outcome] of rows) expect(allowed).toBe(outcome === "passes");
  });

  describe("can", () => {
    it.each(rows)("%s, %s → %s", (kind, action, allowed) => {
      expect(can(actor(kind), action)).toBe(allowed);
    });
  });

  describe("assertCan", () => {
    it.each(rows)("%s, %s (can: %s) → %s", (kind, action, _allowed, outcome) => {
      if (outcome === "passes") expect(() => assertCan(actor(kind), action)).not.toThrow();
      else expectRefusal(() => assertCan(actor(kind), action), refusals[outcome]);
    });
  });
});
