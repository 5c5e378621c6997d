import { describe, expect, it } from "vitest";
import { ForbiddenError, NotFoundError } from "../../../src/errors.ts";
import { assertCan, can, listScope, type TeamAction } from "../../../src/policies/teams.ts";
import { actor, expectEveryCombinationOnce, expectRefusal, KINDS, type Kind, keysOf, type Refusal } from "./kinds.ts";

const refusals = {
  "404 no such team": { error: NotFoundError, status: 404, message: "There is no such team." },
  "403 members are administrators'": { error: ForbiddenError, status: 403, message: "Only administrators can list a team's members." },
  "403 administrators only": { error: ForbiddenError, status: 403, message: "Only administrators can do that." },
} satisfies Record<string, Refusal>;

type Outcome = "passes" | keyof typeof refusals;

const ACTIONS = keysOf<TeamAction>({
  list: true,
  read: true,
  "list-members": true,
  administer: true,
  create: true,
  update: true,
  delete: true,
  "add-member": true,
  "remove-member": true,
});
const MEMBERSHIP = [true, false];

/** [actor kind, action, whether the actor belongs to the team, can(), what assertCan does] */
const rows: [Kind, TeamAction, boolean, boolean, Outcome][] = [
  ["system", "list", true, true, "passes"],
  ["system", "list", false, true, "passes"],
  ["system", "read", true, true, "passes"],
  ["system", "read", false, true, "passes"],
  ["system", "list-members", true, true, "passes"],
  ["system", "list-members", false, true, "passes"],
  ["system", "administer", true, true, "passes"],
  ["system", "administer", false, true, "passes"],
  ["system", "create", true, true, "passes"],
  ["system", "create", false, true, "passes"],
  ["system", "update", true, true, "passes"],
  ["system", "update", false, true, "passes"],
  ["system", "delete", true, true, "passes"],
  ["system", "delete", false, true, "passes"],
  ["system", "add-member", true, true, "passes"],
  ["system", "add-member", false, true, "passes"],
  ["system", "remove-member", true, true, "passes"],
  ["system", "remove-member", false, true, "passes"],

  ["administrator", "list", true, true, "passes"],
  ["administrator", "list", false, true, "passes"],
  ["administrator", "read", true, true, "passes"],
  ["administrator", "read", false, true, "passes"],
  ["administrator", "list-members", true, true, "passes"],
  ["administrator", "list-members", false, true, "passes"],
  ["administrator", "administer", true, true, "passes"],
  ["administrator", "administer", false, true, "passes"],
  ["administrator", "create", true, true, "passes"],
  ["administrator", "create", false, true, "passes"],
  ["administrator", "update", true, true, "passes"],
  ["administrator", "update", false, true, "passes"],
  ["administrator", "delete", true, true, "passes"],
  ["administrator", "delete", false, true, "passes"],
  ["administrator", "add-member", true, true, "passes"],
  ["administrator", "add-member", false, true, "passes"],
  ["administrator", "remove-member", true, true, "passes"],
  ["administrator", "remove-member", false, true, "passes"],

  // A member sees its team, not who else is in it; another team does not exist for it.
  ["user", "list", true, true, "passes"],
  ["user", "list", false, true, "passes"],
  ["user", "read", true, true, "passes"],
  ["user", "read", false, false, "404 no such team"],
  ["user", "list-members", true, false, "403 members are administrators'"],
  ["user", "list-members", false, false, "404 no such team"],
  ["user", "administer", true, false, "403 administrators only"],
  ["user", "administer", false, false, "403 administrators only"],
  ["user", "create", true, false, "403 administrators only"],
  ["user", "create", false, false, "403 administrators only"],
  ["user", "update", true, false, "403 administrators only"],
  ["user", "update", false, false, "403 administrators only"],
  ["user", "delete", true, false, "403 administrators only"],
  ["user", "delete", false, false, "403 administrators only"],
  ["user", "add-member", true, false, "403 administrators only"],
  ["user", "add-member", false, false, "403 administrators only"],
  ["user", "remove-member", true, false, "403 administrators only"],
  ["user", "remove-member", false, false, "403 administrators only"],

  ["user without isAdmin", "list", true, true, "passes"],
  ["user without isAdmin", "list", false, true, "passes"],
  ["user without isAdmin", "read", true, true, "passes"],
  ["user without isAdmin", "read", false, false, "404 no such team"],
  ["user without isAdmin", "list-members", true, false, "403 members are administrators'"],
  ["user without isAdmin", "list-members", false, false, "404 no such team"],
  ["user without isAdmin", "administer", true, false, "403 administrators only"],
  ["user without isAdmin", "administer", false, false, "403 administrators only"],
  ["user without isAdmin", "create", true, false, "403 administrators only"],
  ["user without isAdmin", "create", false, false, "403 administrators only"],
  ["user without isAdmin", "update", true, false, "403 administrators only"],
  ["user without isAdmin", "update", false, false, "403 administrators only"],
  ["user without isAdmin", "delete", true, false, "403 administrators only"],
  ["user without isAdmin", "delete", false, false, "403 administrators only"],
  ["user without isAdmin", "add-member", true, false, "403 administrators only"],
  ["user without isAdmin", "add-member", false, false, "403 administrators only"],
  ["user without isAdmin", "remove-member", true, false, "403 administrators only"],
  ["user without isAdmin", "remove-member", false, false, "403 administrators only"],

  // Nobody signed in, even if a caller claimed membership for it.
  ["anonymous", "list", true, false, "403 administrators only"],
  ["anonymous", "list", false, false, "403 administrators only"],
  ["anonymous", "read", true, false, "403 administrators only"],
  ["anonymous", "read", false, false, "404 no such team"],
  ["anonymous", "list-members", true, false, "403 members are administrators'"],
  ["anonymous", "list-members", false, false, "404 no such team"],
  ["anonymous", "administer", true, false, "403 administrators only"],
  ["anonymous", "administer", false, false, "403 administrators only"],
  ["anonymous", "create", true, false, "403 administrators only"],
  ["anonymous", "create", false, false, "403 administrators only"],
  ["anonymous", "update", true, false, "403 administrators only"],
  ["anonymous", "update", false, false, "403 administrators only"],
  ["anonymous", "delete", true, false, "403 administrators only"],
  ["anonymous", "delete", false, false, "403 administrators only"],
  ["anonymous", "add-member", true, false, "403 administrators only"],
  ["anonymous", "add-member", false, false, "403 administrators only"],
  ["anonymous", "remove-member", true, false, "403 administrators only"],
  ["anonymous", "remove-member", false, false, "403 administrators only"],
];

/** The team omitted: it counts as one the actor does not belong to. */
const rowsWithoutTeam: [Kind, TeamAction, boolean, Outcome][] = [
  ["administrator", "read", true, "passes"],
  ["user", "list", true, "passes"],
  ["user", "read", false, "404 no such team"],
  ["user", "list-members", false, "404 no such team"],
  ["user", "administer", false, "403 administrators only"],
  ["user", "create", false, "403 administrators only"],
  ["user", "update", false, "403 administrators only"],
  ["user", "delete", false, "403 administrators only"],
  ["user", "add-member", false, "403 administrators only"],
  ["user", "remove-member", false, "403 administrators only"],
];

describe("teams policy", () => {
  it("has one row for every actor kind, action and membership", () => {
    expectEveryCombinationOnce(
      rows.map(([kind, action, isMember]) => `${kind} ${action} ${isMember}`),
      KINDS.flatMap((kind) => ACTIONS.flatMap((action) => MEMBERSHIP.map((isMember) => `${kind} ${action} ${isMember}`))),
    );
    for (const [, , , allowed, outcome] of rows) expect(allowed).toBe(outcome === "passes");
  });

  describe("can", () => {
    it.each(rows)("%s, %s, member %s → %s", (kind, action, isMember, allowed) => {
      expect(can(actor(kind), action, { isMember })).toBe(allowed);
    });
  });

  describe("assertCan", () => {
    it.each(rows)("%s, %s, member %s (can: %s) → %s", (kind, action, isMember, _allowed, outcome) => {
      if (outcome === "passes") expect(() => assertCan(actor(kind), action, { isMember })).not.toThrow();
      else expectRefusal(() => assertCan(actor(kind), action, { isMember }), refusals[outcome]);
    });
  });

  describe("team omitted", () => {
    it.each(rowsWithoutTeam)("%s, %s → can %s, assertCan %s", (kind, action, allowed, outcome) => {
      expect(can(actor(kind), action)).toBe(allowed);
      if (outcome === "passes") expect(() => assertCan(actor(kind), action)).not.toThrow();
      else expectRefusal(() => assertCan(actor(kind), action), refusals[outcome]);
    });
  });

  describe("listScope", () => {
    // Nobody signed in belongs to no team: member id 0 matches none (listTeamsPage refuses it with assertCan("list") first).
    const scopes: [Kind, { memberId?: number }][] = [
      ["system", {}],
      ["administrator", {}],
      ["user", { memberId: 7 }],
      ["user without isAdmin", { memberId: 7 }],
      ["anonymous", { memberId: 0 }],
    ];
    it.each(scopes)("%s → %o", (kind, expected) => {
      expect(listScope(actor(kind))).toStrictEqual(expected);
    });
  });
});
