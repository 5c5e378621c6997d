import { describe, expect, it } from "vitest";
import { ForbiddenError, NotFoundError } from "../../../src/errors.ts";
import { assertCan, can, listScope, type UserAction } from "../../../src/policies/users.ts";
import { actor, expectEveryCombinationOnce, expectRefusal, KINDS, type Kind, keysOf, type Refusal } from "./kinds.ts";

const refusals = {
  "404 no such user": { error: NotFoundError, status: 404, message: "There is no such user." },
  "403 administrators only": { error: ForbiddenError, status: 403, message: "Only administrators can do that." },
} satisfies Record<string, Refusal>;

type Outcome = "passes" | keyof typeof refusals;
type Whose = "own" | "another" | "no subject";

const ACTIONS = keysOf<UserAction>({
  list: true,
  read: true,
  create: true,
  import: true,
  update: true,
  disable: true,
  delete: true,
  "reset-credentials": true,
  "end-sessions": true,
  "send-confirmation-code": true,
});

/**
 * The accounts each kind is asked about: its own (the administrator is account 1, the user account 7), another, and
 * none. The installation and an anonymous request have no account of their own: they are asked about 7 and 8.
 */
const SUBJECTS: Record<Kind, (number | undefined)[]> = {
  system: [7, 8, undefined],
  administrator: [1, 7, undefined],
  user: [7, 8, undefined],
  "user without isAdmin": [7, 8, undefined],
  anonymous: [7, 8, undefined],
};

/** [actor kind, action, whose account, the account's id (undefined: no subject given), can(), what assertCan does] */
const rows: [Kind, UserAction, Whose, number | undefined, boolean, Outcome][] = [
  ["system", "list", "another", 7, true, "passes"],
  ["system", "list", "another", 8, true, "passes"],
  ["system", "list", "no subject", undefined, true, "passes"],
  ["system", "read", "another", 7, true, "passes"],
  ["system", "read", "another", 8, true, "passes"],
  ["system", "read", "no subject", undefined, true, "passes"],
  ["system", "create", "another", 7, true, "passes"],
  ["system", "import", "another", 7, true, "passes"],
  ["system", "create", "another", 8, true, "passes"],
  ["system", "import", "another", 8, true, "passes"],
  ["system", "create", "no subject", undefined, true, "passes"],
  ["system", "import", "no subject", undefined, true, "passes"],
  ["system", "update", "another", 7, true, "passes"],
  ["system", "update", "another", 8, true, "passes"],
  ["system", "update", "no subject", undefined, true, "passes"],
  ["system", "disable", "another", 7, true, "passes"],
  ["system", "disable", "another", 8, true, "passes"],
  ["system", "disable", "no subject", undefined, true, "passes"],
  ["system", "delete", "another", 7, true, "passes"],
  ["system", "delete", "another", 8, true, "passes"],
  ["system", "delete", "no subject", undefined, true, "passes"],
  ["system", "reset-credentials", "another", 7, true, "passes"],
  ["system", "reset-credentials", "another", 8, true, "passes"],
  ["system", "reset-credentials", "no subject", undefined, true, "passes"],
  ["system", "end-sessions", "another", 7, true, "passes"],
  ["system", "send-confirmation-code", "another", 7, true, "passes"],
  ["system", "end-sessions", "another", 8, true, "passes"],
  ["system", "send-confirmation-code", "another", 8, true, "passes"],
  ["system", "end-sessions", "no subject", undefined, true, "passes"],
  ["system", "send-confirmation-code", "no subject", undefined, true, "passes"],

  ["administrator", "list", "own", 1, true, "passes"],
  ["administrator", "list", "another", 7, true, "passes"],
  ["administrator", "list", "no subject", undefined, true, "passes"],
  ["administrator", "read", "own", 1, true, "passes"],
  ["administrator", "read", "another", 7, true, "passes"],
  ["administrator", "read", "no subject", undefined, true, "passes"],
  ["administrator", "create", "own", 1, true, "passes"],
  ["administrator", "import", "own", 1, true, "passes"],
  ["administrator", "create", "another", 7, true, "passes"],
  ["administrator", "import", "another", 7, true, "passes"],
  ["administrator", "create", "no subject", undefined, true, "passes"],
  ["administrator", "import", "no subject", undefined, true, "passes"],
  ["administrator", "update", "own", 1, true, "passes"],
  ["administrator", "update", "another", 7, true, "passes"],
  ["administrator", "update", "no subject", undefined, true, "passes"],
  ["administrator", "disable", "own", 1, true, "passes"],
  ["administrator", "disable", "another", 7, true, "passes"],
  ["administrator", "disable", "no subject", undefined, true, "passes"],
  ["administrator", "delete", "own", 1, true, "passes"],
  ["administrator", "delete", "another", 7, true, "passes"],
  ["administrator", "delete", "no subject", undefined, true, "passes"],
  ["administrator", "reset-credentials", "own", 1, true, "passes"],
  ["administrator", "reset-credentials", "another", 7, true, "passes"],
  ["administrator", "reset-credentials", "no subject", undefined, true, "passes"],
  ["administrator", "end-sessions", "own", 1, true, "passes"],
  ["administrator", "send-confirmation-code", "own", 1, true, "passes"],
  ["administrator", "end-sessions", "another", 7, true, "passes"],
  ["administrator", "send-confirmation-code", "another", 7, true, "passes"],
  ["administrator", "end-sessions", "no subject", undefined, true, "passes"],
  ["administrator", "send-confirmation-code", "no subject", undefined, true, "passes"],

  // An ordinary account reads itself and nothing else; another account (or none named) is not found.
  ["user", "list", "own", 7, false, "403 administrators only"],
  ["user", "list", "another", 8, false, "403 administrators only"],
  ["user", "list", "no subject", undefined, false, "403 administrators only"],
  ["user", "read", "own", 7, true, "passes"],
  ["user", "read", "another", 8, false, "404 no such user"],
  ["user", "read", "no subject", undefined, false, "404 no such user"],
  ["user", "create", "own", 7, false, "403 administrators only"],
  ["user", "import", "own", 7, false, "403 administrators only"],
  ["user", "create", "another", 8, false, "403 administrators only"],
  ["user", "import", "another", 8, false, "403 administrators only"],
  ["user", "create", "no subject", undefined, false, "403 administrators only"],
  ["user", "import", "no subject", undefined, false, "403 administrators only"],
  ["user", "update", "own", 7, false, "403 administrators only"],
  ["user", "update", "another", 8, false, "403 administrators only"],
  ["user", "update", "no subject", undefined, false, "403 administrators only"],
  ["user", "disable", "own", 7, false, "403 administrators only"],
  ["user", "disable", "another", 8, false, "403 administrators only"],
  ["user", "disable", "no subject", undefined, false, "403 administrators only"],
  ["user", "delete", "own", 7, false, "403 administrators only"],
  ["user", "delete", "another", 8, false, "403 administrators only"],
  ["user", "delete", "no subject", undefined, false, "403 administrators only"],
  ["user", "reset-credentials", "own", 7, false, "403 administrators only"],
  ["user", "reset-credentials", "another", 8, false, "403 administrators only"],
  ["user", "reset-credentials", "no subject", undefined, false, "403 administrators only"],
  ["user", "end-sessions", "own", 7, false, "403 administrators only"],
  ["user", "send-confirmation-code", "own", 7, false, "403 administrators only"],
  ["user", "end-sessions", "another", 8, false, "403 administrators only"],
  ["user", "send-confirmation-code", "another", 8, false, "403 administrators only"],
  ["user", "end-sessions", "no subject", undefined, false, "403 administrators only"],
  ["user", "send-confirmation-code", "no subject", undefined, false, "403 administrators only"],

  ["user without isAdmin", "list", "own", 7, false, "403 administrators only"],
  ["user without isAdmin", "list", "another", 8, false, "403 administrators only"],
  ["user without isAdmin", "list", "no subject", undefined, false, "403 administrators only"],
  ["user without isAdmin", "read", "own", 7, true, "passes"],
  ["user without isAdmin", "read", "another", 8, false, "404 no such user"],
  ["user without isAdmin", "read", "no subject", undefined, false, "404 no such user"],
  ["user without isAdmin", "create", "own", 7, false, "403 administrators only"],
  ["user without isAdmin", "import", "own", 7, false, "403 administrators only"],
  ["user without isAdmin", "create", "another", 8, false, "403 administrators only"],
  ["user without isAdmin", "import", "another", 8, false, "403 administrators only"],
  ["user without isAdmin", "create", "no subject", undefined, false, "403 administrators only"],
  ["user without isAdmin", "import", "no subject", undefined, false, "403 administrators only"],
  ["user without isAdmin", "update", "own", 7, false, "403 administrators only"],
  ["user without isAdmin", "update", "another", 8, false, "403 administrators only"],
  ["user without isAdmin", "update", "no subject", undefined, false, "403 administrators only"],
  ["user without isAdmin", "disable", "own", 7, false, "403 administrators only"],
  ["user without isAdmin", "disable", "another", 8, false, "403 administrators only"],
  ["user without isAdmin", "disable", "no subject", undefined, false, "403 administrators only"],
  ["user without isAdmin", "delete", "own", 7, false, "403 administrators only"],
  ["user without isAdmin", "delete", "another", 8, false, "403 administrators only"],
  ["user without isAdmin", "delete", "no subject", undefined, false, "403 administrators only"],
  ["user without isAdmin", "reset-credentials", "own", 7, false, "403 administrators only"],
  ["user without isAdmin", "reset-credentials", "another", 8, false, "403 administrators only"],
  ["user without isAdmin", "reset-credentials", "no subject", undefined, false, "403 administrators only"],
  ["user without isAdmin", "end-sessions", "own", 7, false, "403 administrators only"],
  ["user without isAdmin", "send-confirmation-code", "own", 7, false, "403 administrators only"],
  ["user without isAdmin", "end-sessions", "another", 8, false, "403 administrators only"],
  ["user without isAdmin", "send-confirmation-code", "another", 8, false, "403 administrators only"],
  ["user without isAdmin", "end-sessions", "no subject", undefined, false, "403 administrators only"],
  ["user without isAdmin", "send-confirmation-code", "no subject", undefined, false, "403 administrators only"],

  // Nobody signed in: its null id matches no account, so every read is not found.
  ["anonymous", "list", "another", 7, false, "403 administrators only"],
  ["anonymous", "list", "another", 8, false, "403 administrators only"],
  ["anonymous", "list", "no subject", undefined, false, "403 administrators only"],
  ["anonymous", "read", "another", 7, false, "404 no such user"],
  ["anonymous", "read", "another", 8, false, "404 no such user"],
  ["anonymous", "read", "no subject", undefined, false, "404 no such user"],
  ["anonymous", "create", "another", 7, false, "403 administrators only"],
  ["anonymous", "import", "another", 7, false, "403 administrators only"],
  ["anonymous", "create", "another", 8, false, "403 administrators only"],
  ["anonymous", "import", "another", 8, false, "403 administrators only"],
  ["anonymous", "create", "no subject", undefined, false, "403 administrators only"],
  ["anonymous", "import", "no subject", undefined, false, "403 administrators only"],
  ["anonymous", "update", "another", 7, false, "403 administrators only"],
  ["anonymous", "update", "another", 8, false, "403 administrators only"],
  ["anonymous", "update", "no subject", undefined, false, "403 administrators only"],
  ["anonymous", "disable", "another", 7, false, "403 administrators only"],
  ["anonymous", "disable", "another", 8, false, "403 administrators only"],
  ["anonymous", "disable", "no subject", undefined, false, "403 administrators only"],
  ["anonymous", "delete", "another", 7, false, "403 administrators only"],
  ["anonymous", "delete", "another", 8, false, "403 administrators only"],
  ["anonymous", "delete", "no subject", undefined, false, "403 administrators only"],
  ["anonymous", "reset-credentials", "another", 7, false, "403 administrators only"],
  ["anonymous", "reset-credentials", "another", 8, false, "403 administrators only"],
  ["anonymous", "reset-credentials", "no subject", undefined, false, "403 administrators only"],
  ["anonymous", "end-sessions", "another", 7, false, "403 administrators only"],
  ["anonymous", "send-confirmation-code", "another", 7, false, "403 administrators only"],
  ["anonymous", "end-sessions", "another", 8, false, "403 administrators only"],
  ["anonymous", "send-confirmation-code", "another", 8, false, "403 administrators only"],
  ["anonymous", "end-sessions", "no subject", undefined, false, "403 administrators only"],
  ["anonymous", "send-confirmation-code", "no subject", undefined, false, "403 administrators only"],
];

function subject(id: number | undefined): { id: number } | undefined {
  return id === undefined ? undefined : { id };
}

describe("users policy", () => {
  it("has one row for every actor kind, action and subject", () => {
    expectEveryCombinationOnce(
      rows.map(([kind, action, , id]) => `${kind} ${action} ${id}`),
      KINDS.flatMap((kind) => ACTIONS.flatMap((action) => SUBJECTS[kind].map((id) => `${kind} ${action} ${id}`))),
    );
    for (const [, , , , allowed, outcome] of rows) expect(allowed).toBe(outcome === "passes");
  });

  describe("can", () => {
    it.each(rows)("%s, %s, %s account (%s) → %s", (kind, action, _whose, id, allowed) => {
      expect(can(actor(kind), action, subject(id))).toBe(allowed);
    });
  });

  describe("assertCan", () => {
    it.each(rows)("%s, %s, %s account (%s) (can: %s) → %s", (kind, action, _whose, id, _allowed, outcome) => {
      if (outcome === "passes") expect(() => assertCan(actor(kind), action, subject(id))).not.toThrow();
      else expectRefusal(() => assertCan(actor(kind), action, subject(id)), refusals[outcome]);
    });
  });

  describe("listScope", () => {
    const scopes: [Kind, "everyone" | "self"][] = [
      ["system", "everyone"],
      ["administrator", "everyone"],
      ["user", "self"],
      ["user without isAdmin", "self"],
      ["anonymous", "self"],
    ];
    it.each(scopes)("%s → %s", (kind, expected) => {
      expect(listScope(actor(kind))).toBe(expected);
    });
  });
});
