import { describe, expect, it } from "vitest";
import { ForbiddenError } from "../../../src/errors.ts";
import { assertCan, can, type GroupAction } from "../../../src/policies/groups.ts";
import { actor, expectEveryCombinationOnce, expectRefusal, KINDS, type Kind, keysOf, type Refusal } from "./kinds.ts";

const refusals = {
  "403 administrators only": { error: ForbiddenError, status: 403, message: "Only administrators can do that." },
} satisfies Record<string, Refusal>;

type Outcome = "passes" | keyof typeof refusals;

const ACTIONS = keysOf<GroupAction>({
  list: true,
  read: true,
  create: true,
  update: true,
  delete: true,
  "add-system": true,
  "remove-system": true,
});

/** [actor kind, action, can(), what assertCan does]: system groups are the administrators' alone. */
const rows: [Kind, GroupAction, boolean, Outcome][] = [
  ["system", "list", true, "passes"],
  ["system", "read", true, "passes"],
  ["system", "create", true, "passes"],
  ["system", "update", true, "passes"],
  ["system", "delete", true, "passes"],
  ["system", "add-system", true, "passes"],
  ["system", "remove-system", true, "passes"],

  ["administrator", "list", true, "passes"],
  ["administrator", "read", true, "passes"],
  ["administrator", "create", true, "passes"],
  ["administrator", "update", true, "passes"],
  ["administrator", "delete", true, "passes"],
  ["administrator", "add-system", true, "passes"],
  ["administrator", "remove-system", true, "passes"],

  ["user", "list", false, "403 administrators only"],
  ["user", "read", false, "403 administrators only"],
  ["user", "create", false, "403 administrators only"],
  ["user", "update", false, "403 administrators only"],
  ["user", "delete", false, "403 administrators only"],
  ["user", "add-system", false, "403 administrators only"],
  ["user", "remove-system", false, "403 administrators only"],

  ["user without isAdmin", "list", false, "403 administrators only"],
  ["user without isAdmin", "read", false, "403 administrators only"],
  ["user without isAdmin", "create", false, "403 administrators only"],
  ["user without isAdmin", "update", false, "403 administrators only"],
  ["user without isAdmin", "delete", false, "403 administrators only"],
  ["user without isAdmin", "add-system", false, "403 administrators only"],
  ["user without isAdmin", "remove-system", false, "403 administrators only"],

  ["anonymous", "list", false, "403 administrators only"],
  ["anonymous", "read", false, "403 administrators only"],
  ["anonymous", "create", false, "403 administrators only"],
  ["anonymous", "update", false, "403 administrators only"],
  ["anonymous", "delete", false, "403 administrators only"],
  ["anonymous", "add-system", false, "403 administrators only"],
  ["anonymous", "remove-system", false, "403 administrators only"],
];

describe("groups policy", () => {
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
