import { describe, expect, it } from "vitest";
import { ForbiddenError } from "../../../src/errors.ts";
import { assertCan, can, type ReportAction } from "../../../src/policies/reports.ts";
import { actor, expectEveryCombinationOnce, expectRefusal, KINDS, type Kind, keysOf, type Refusal } from "./kinds.ts";

const refusals = {
  "403 administrators only": { error: ForbiddenError, status: 403, message: "Only administrators can do that." },
} satisfies Record<string, Refusal>;

type Outcome = "passes" | keyof typeof refusals;

const ACTIONS = keysOf<ReportAction>({ "download-users": true, "read-access-report": true });

/** [actor kind, action, can(), what assertCan does]: the users download and the access report are the administrators' alone. */
const rows: [Kind, ReportAction, boolean, Outcome][] = [
  ["system", "download-users", true, "passes"],
  ["system", "read-access-report", true, "passes"],

  ["administrator", "download-users", true, "passes"],
  ["administrator", "read-access-report", true, "passes"],

  ["user", "download-users", false, "403 administrators only"],
  ["user", "read-access-report", false, "403 administrators only"],

  ["user without isAdmin", "download-users", false, "403 administrators only"],
  ["user without isAdmin", "read-access-report", false, "403 administrators only"],

  ["anonymous", "download-users", false, "403 administrators only"],
  ["anonymous", "read-access-report", false, "403 administrators only"],
];

describe("reports policy", () => {
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
