import { describe, expect, it } from "vitest";
import { ForbiddenError, NotFoundError } from "../../../src/errors.ts";
import { type AccessQuestion, assertCan, can, type GrantAction, mayAskAbout } from "../../../src/policies/grants.ts";
import type { Permission } from "../../../src/types/access.ts";
import { actor, expectEveryCombinationOnce, expectRefusal, KINDS, type Kind, keysOf, type Refusal } from "./kinds.ts";

const refusals = {
  "404 no such user": { error: NotFoundError, status: 404, message: "There is no such user." },
  "404 no such system": { error: NotFoundError, status: 404, message: "There is no such system." },
  "403 grants are administrators'": { error: ForbiddenError, status: 403, message: "Only administrators can manage grants." },
} satisfies Record<string, Refusal>;

type Outcome = "passes" | keyof typeof refusals;
type Whose = "own" | "another" | "no question";

const ACTIONS = keysOf<GrantAction>({ manage: true, explain: true });
const PERMISSIONS = keysOf<Permission>({ none: true, read: true, "read/write": true });

/**
 * The accounts each kind asks about: its own (the administrator is account 1, the user account 7) and another. The
 * installation and an anonymous request have no account of their own: they ask about 7 and 8.
 */
const ACCOUNTS: Record<Kind, [number, number]> = {
  system: [7, 8],
  administrator: [1, 7],
  user: [7, 8],
  "user without isAdmin": [7, 8],
  anonymous: [7, 8],
};

/**
 * [actor kind, action, whose access, the account asked about, its permission on the system, can(), what assertCan
 * does]; the account and permission are both undefined when no question is given.
 */
const rows: [Kind, GrantAction, Whose, number | undefined, Permission | undefined, boolean, Outcome][] = [
  ["system", "manage", "no question", undefined, undefined, true, "passes"],
  ["system", "manage", "another", 7, "none", true, "passes"],
  ["system", "manage", "another", 7, "read", true, "passes"],
  ["system", "manage", "another", 7, "read/write", true, "passes"],
  ["system", "manage", "another", 8, "none", true, "passes"],
  ["system", "manage", "another", 8, "read", true, "passes"],
  ["system", "manage", "another", 8, "read/write", true, "passes"],
  ["system", "explain", "no question", undefined, undefined, true, "passes"],
  ["system", "explain", "another", 7, "none", true, "passes"],
  ["system", "explain", "another", 7, "read", true, "passes"],
  ["system", "explain", "another", 7, "read/write", true, "passes"],
  ["system", "explain", "another", 8, "none", true, "passes"],
  ["system", "explain", "another", 8, "read", true, "passes"],
  ["system", "explain", "another", 8, "read/write", true, "passes"],

  ["administrator", "manage", "no question", undefined, undefined, true, "passes"],
  ["administrator", "manage", "own", 1, "none", true, "passes"],
  ["administrator", "manage", "own", 1, "read", true, "passes"],
  ["administrator", "manage", "own", 1, "read/write", true, "passes"],
  ["administrator", "manage", "another", 7, "none", true, "passes"],
  ["administrator", "manage", "another", 7, "read", true, "passes"],
  ["administrator", "manage", "another", 7, "read/write", true, "passes"],
  ["administrator", "explain", "no question", undefined, undefined, true, "passes"],
  ["administrator", "explain", "own", 1, "none", true, "passes"],
  ["administrator", "explain", "own", 1, "read", true, "passes"],
  ["administrator", "explain", "own", 1, "read/write", true, "passes"],
  ["administrator", "explain", "another", 7, "none", true, "passes"],
  ["administrator", "explain", "another", 7, "read", true, "passes"],
  ["administrator", "explain", "another", 7, "read/write", true, "passes"],

  // An ordinary account asks only about itself on a system it can access: another account is not found, and so is a
  // system it has no access to.
  ["user", "manage", "no question", undefined, undefined, false, "403 grants are administrators'"],
  ["user", "manage", "own", 7, "none", false, "403 grants are administrators'"],
  ["user", "manage", "own", 7, "read", false, "403 grants are administrators'"],
  ["user", "manage", "own", 7, "read/write", false, "403 grants are administrators'"],
  ["user", "manage", "another", 8, "none", false, "403 grants are administrators'"],
  ["user", "manage", "another", 8, "read", false, "403 grants are administrators'"],
  ["user", "manage", "another", 8, "read/write", false, "403 grants are administrators'"],
  ["user", "explain", "no question", undefined, undefined, false, "403 grants are administrators'"],
  ["user", "explain", "own", 7, "none", false, "404 no such system"],
  ["user", "explain", "own", 7, "read", true, "passes"],
  ["user", "explain", "own", 7, "read/write", true, "passes"],
  ["user", "explain", "another", 8, "none", false, "404 no such user"],
  ["user", "explain", "another", 8, "read", false, "404 no such user"],
  ["user", "explain", "another", 8, "read/write", false, "404 no such user"],

  ["user without isAdmin", "manage", "no question", undefined, undefined, false, "403 grants are administrators'"],
  ["user without isAdmin", "manage", "own", 7, "none", false, "403 grants are administrators'"],
  ["user without isAdmin", "manage", "own", 7, "read", false, "403 grants are administrators'"],
  ["user without isAdmin", "manage", "own", 7, "read/write", false, "403 grants are administrators'"],
  ["user without isAdmin", "manage", "another", 8, "none", false, "403 grants are administrators'"],
  ["user without isAdmin", "manage", "another", 8, "read", false, "403 grants are administrators'"],
  ["user without isAdmin", "manage", "another", 8, "read/write", false, "403 grants are administrators'"],
  ["user without isAdmin", "explain", "no question", undefined, undefined, false, "403 grants are administrators'"],
  ["user without isAdmin", "explain", "own", 7, "none", false, "404 no such system"],
  ["user without isAdmin", "explain", "own", 7, "read", true, "passes"],
  ["user without isAdmin", "explain", "own", 7, "read/write", true, "passes"],
  ["user without isAdmin", "explain", "another", 8, "none", false, "404 no such user"],
  ["user without isAdmin", "explain", "another", 8, "read", false, "404 no such user"],
  ["user without isAdmin", "explain", "another", 8, "read/write", false, "404 no such user"],

  // Nobody signed in: every account is another's.
  ["anonymous", "manage", "no question", undefined, undefined, false, "403 grants are administrators'"],
  ["anonymous", "manage", "another", 7, "none", false, "403 grants are administrators'"],
  ["anonymous", "manage", "another", 7, "read", false, "403 grants are administrators'"],
  ["anonymous", "manage", "another", 7, "read/write", false, "403 grants are administrators'"],
  ["anonymous", "manage", "another", 8, "none", false, "403 grants are administrators'"],
  ["anonymous", "manage", "another", 8, "read", false, "403 grants are administrators'"],
  ["anonymous", "manage", "another", 8, "read/write", false, "403 grants are administrators'"],
  ["anonymous", "explain", "no question", undefined, undefined, false, "403 grants are administrators'"],
  ["anonymous", "explain", "another", 7, "none", false, "404 no such user"],
  ["anonymous", "explain", "another", 7, "read", false, "404 no such user"],
  ["anonymous", "explain", "another", 7, "read/write", false, "404 no such user"],
  ["anonymous", "explain", "another", 8, "none", false, "404 no such user"],
  ["anonymous", "explain", "another", 8, "read", false, "404 no such user"],
  ["anonymous", "explain", "another", 8, "read/write", false, "404 no such user"],
];

function question(userId: number | undefined, permission: Permission | undefined): AccessQuestion | undefined {
  if (userId === undefined || permission === undefined) return undefined;
  return { userId, permission };
}

describe("grants policy", () => {
  it("has one row for every actor kind, action, account and permission, and one without a question", () => {
    expectEveryCombinationOnce(
      rows.map(([kind, action, , userId, permission]) => `${kind} ${action} ${userId} ${permission}`),
      KINDS.flatMap((kind) =>
        ACTIONS.flatMap((action) => [
          `${kind} ${action} undefined undefined`,
          ...ACCOUNTS[kind].flatMap((userId) => PERMISSIONS.map((permission) => `${kind} ${action} ${userId} ${permission}`)),
        ]),
      ),
    );
    for (const [, , , , , allowed, outcome] of rows) expect(allowed).toBe(outcome === "passes");
  });

  describe("can", () => {
    it.each(rows)("%s, %s, %s access (account %s, %s) → %s", (kind, action, _whose, userId, permission, allowed) => {
      expect(can(actor(kind), action, question(userId, permission))).toBe(allowed);
    });
  });

  describe("assertCan", () => {
    it.each(rows)("%s, %s, %s access (account %s, %s) (can: %s) → %s", (kind, action, _whose, userId, permission, _allowed, outcome) => {
      if (outcome === "passes") expect(() => assertCan(actor(kind), action, question(userId, permission))).not.toThrow();
      else expectRefusal(() => assertCan(actor(kind), action, question(userId, permission)), refusals[outcome]);
    });
  });

  describe("mayAskAbout", () => {
    /** [actor kind, account asked about, answer]: administrators ask about anyone, an account only about itself. */
    const asks: [Kind, number, boolean][] = [
      ["system", 1, true],
      ["system", 7, true],
      ["system", 8, true],
      ["administrator", 1, true],
      ["administrator", 7, true],
      ["administrator", 8, true],
      ["user", 1, false],
      ["user", 7, true],
      ["user", 8, false],
      ["user without isAdmin", 1, false],
      ["user without isAdmin", 7, true],
      ["user without isAdmin", 8, false],
      ["anonymous", 1, false],
      ["anonymous", 7, false],
      ["anonymous", 8, false],
    ];
    it.each(asks)("%s about account %i → %s", (kind, userId, expected) => {
      expect(mayAskAbout(actor(kind), userId)).toBe(expected);
    });
  });
});
