import { describe, expect, it } from "vitest";
import { ForbiddenError, NotFoundError } from "../../../src/errors.ts";
import { assertCan, can, changeAction, type SystemAction } from "../../../src/policies/systems.ts";
import type { PermissionLevel } from "../../../src/types/access.ts";
import { actor, expectEveryCombinationOnce, expectRefusal, KINDS, type Kind, keysOf, type Refusal } from "./kinds.ts";

const refusals = {
  "404 no such system": { error: NotFoundError, status: 404, message: "There is no such system." },
  "403 needs read/write": { error: ForbiddenError, status: 403, message: "You have read access to this system; changing it needs read/write." },
  "403 name and host are administrators'": {
    error: ForbiddenError,
    status: 403,
    message: "Only administrators can change a system's name or host; read/write covers description and notes.",
  },
  "403 administrators only": { error: ForbiddenError, status: 403, message: "Only administrators can do that." },
} satisfies Record<string, Refusal>;

type Outcome = "passes" | keyof typeof refusals;

const ACTIONS = keysOf<SystemAction>({
  list: true,
  read: true,
  "change-notes": true,
  "change-identity": true,
  administer: true,
  create: true,
  delete: true,
  "see-groups": true,
});
const LEVELS: PermissionLevel[] = [0, 1, 2];

/** [actor kind, action, the actor's level on the system, can(), what assertCan does] */
const rows: [Kind, SystemAction, PermissionLevel, boolean, Outcome][] = [
  // The installation may do everything, whatever the level says.
  ["system", "list", 0, true, "passes"],
  ["system", "list", 1, true, "passes"],
  ["system", "list", 2, true, "passes"],
  ["system", "read", 0, true, "passes"],
  ["system", "read", 1, true, "passes"],
  ["system", "read", 2, true, "passes"],
  ["system", "change-notes", 0, true, "passes"],
  ["system", "change-notes", 1, true, "passes"],
  ["system", "change-notes", 2, true, "passes"],
  ["system", "change-identity", 0, true, "passes"],
  ["system", "change-identity", 1, true, "passes"],
  ["system", "change-identity", 2, true, "passes"],
  ["system", "administer", 0, true, "passes"],
  ["system", "administer", 1, true, "passes"],
  ["system", "administer", 2, true, "passes"],
  ["system", "create", 0, true, "passes"],
  ["system", "create", 1, true, "passes"],
  ["system", "create", 2, true, "passes"],
  ["system", "delete", 0, true, "passes"],
  ["system", "delete", 1, true, "passes"],
  ["system", "delete", 2, true, "passes"],
  ["system", "see-groups", 0, true, "passes"],
  ["system", "see-groups", 1, true, "passes"],
  ["system", "see-groups", 2, true, "passes"],

  // So may an administrator.
  ["administrator", "list", 0, true, "passes"],
  ["administrator", "list", 1, true, "passes"],
  ["administrator", "list", 2, true, "passes"],
  ["administrator", "read", 0, true, "passes"],
  ["administrator", "read", 1, true, "passes"],
  ["administrator", "read", 2, true, "passes"],
  ["administrator", "change-notes", 0, true, "passes"],
  ["administrator", "change-notes", 1, true, "passes"],
  ["administrator", "change-notes", 2, true, "passes"],
  ["administrator", "change-identity", 0, true, "passes"],
  ["administrator", "change-identity", 1, true, "passes"],
  ["administrator", "change-identity", 2, true, "passes"],
  ["administrator", "administer", 0, true, "passes"],
  ["administrator", "administer", 1, true, "passes"],
  ["administrator", "administer", 2, true, "passes"],
  ["administrator", "create", 0, true, "passes"],
  ["administrator", "create", 1, true, "passes"],
  ["administrator", "create", 2, true, "passes"],
  ["administrator", "delete", 0, true, "passes"],
  ["administrator", "delete", 1, true, "passes"],
  ["administrator", "delete", 2, true, "passes"],
  ["administrator", "see-groups", 0, true, "passes"],
  ["administrator", "see-groups", 1, true, "passes"],
  ["administrator", "see-groups", 2, true, "passes"],

  // An ordinary account: lists; reads with read; changes notes with read/write; the rest is the administrators'.
  ["user", "list", 0, true, "passes"],
  ["user", "list", 1, true, "passes"],
  ["user", "list", 2, true, "passes"],
  ["user", "read", 0, false, "404 no such system"],
  ["user", "read", 1, true, "passes"],
  ["user", "read", 2, true, "passes"],
  ["user", "change-notes", 0, false, "404 no such system"],
  ["user", "change-notes", 1, false, "403 needs read/write"],
  ["user", "change-notes", 2, true, "passes"],
  ["user", "change-identity", 0, false, "404 no such system"],
  ["user", "change-identity", 1, false, "403 administrators only"],
  ["user", "change-identity", 2, false, "403 name and host are administrators'"],
  ["user", "administer", 0, false, "403 administrators only"],
  ["user", "administer", 1, false, "403 administrators only"],
  ["user", "administer", 2, false, "403 administrators only"],
  ["user", "create", 0, false, "403 administrators only"],
  ["user", "create", 1, false, "403 administrators only"],
  ["user", "create", 2, false, "403 administrators only"],
  ["user", "delete", 0, false, "403 administrators only"],
  ["user", "delete", 1, false, "403 administrators only"],
  ["user", "delete", 2, false, "403 administrators only"],
  ["user", "see-groups", 0, false, "403 administrators only"],
  ["user", "see-groups", 1, false, "403 administrators only"],
  ["user", "see-groups", 2, false, "403 administrators only"],

  // isAdmin absent is an ordinary account too: the same rows as "user".
  ["user without isAdmin", "list", 0, true, "passes"],
  ["user without isAdmin", "list", 1, true, "passes"],
  ["user without isAdmin", "list", 2, true, "passes"],
  ["user without isAdmin", "read", 0, false, "404 no such system"],
  ["user without isAdmin", "read", 1, true, "passes"],
  ["user without isAdmin", "read", 2, true, "passes"],
  ["user without isAdmin", "change-notes", 0, false, "404 no such system"],
  ["user without isAdmin", "change-notes", 1, false, "403 needs read/write"],
  ["user without isAdmin", "change-notes", 2, true, "passes"],
  ["user without isAdmin", "change-identity", 0, false, "404 no such system"],
  ["user without isAdmin", "change-identity", 1, false, "403 administrators only"],
  ["user without isAdmin", "change-identity", 2, false, "403 name and host are administrators'"],
  ["user without isAdmin", "administer", 0, false, "403 administrators only"],
  ["user without isAdmin", "administer", 1, false, "403 administrators only"],
  ["user without isAdmin", "administer", 2, false, "403 administrators only"],
  ["user without isAdmin", "create", 0, false, "403 administrators only"],
  ["user without isAdmin", "create", 1, false, "403 administrators only"],
  ["user without isAdmin", "create", 2, false, "403 administrators only"],
  ["user without isAdmin", "delete", 0, false, "403 administrators only"],
  ["user without isAdmin", "delete", 1, false, "403 administrators only"],
  ["user without isAdmin", "delete", 2, false, "403 administrators only"],
  ["user without isAdmin", "see-groups", 0, false, "403 administrators only"],
  ["user without isAdmin", "see-groups", 1, false, "403 administrators only"],
  ["user without isAdmin", "see-groups", 2, false, "403 administrators only"],

  // Nobody signed in may do nothing, even with a level the resolver would never give it. The 403 messages at
  // levels 1 and 2 are the ones the policy gives; they speak of read access the anonymous request cannot have.
  ["anonymous", "list", 0, false, "403 administrators only"],
  ["anonymous", "list", 1, false, "403 administrators only"],
  ["anonymous", "list", 2, false, "403 administrators only"],
  ["anonymous", "read", 0, false, "404 no such system"],
  ["anonymous", "read", 1, false, "403 administrators only"],
  ["anonymous", "read", 2, false, "403 administrators only"],
  ["anonymous", "change-notes", 0, false, "404 no such system"],
  ["anonymous", "change-notes", 1, false, "403 needs read/write"],
  ["anonymous", "change-notes", 2, false, "403 needs read/write"],
  ["anonymous", "change-identity", 0, false, "404 no such system"],
  ["anonymous", "change-identity", 1, false, "403 administrators only"],
  ["anonymous", "change-identity", 2, false, "403 name and host are administrators'"],
  ["anonymous", "administer", 0, false, "403 administrators only"],
  ["anonymous", "administer", 1, false, "403 administrators only"],
  ["anonymous", "administer", 2, false, "403 administrators only"],
  ["anonymous", "create", 0, false, "403 administrators only"],
  ["anonymous", "create", 1, false, "403 administrators only"],
  ["anonymous", "create", 2, false, "403 administrators only"],
  ["anonymous", "delete", 0, false, "403 administrators only"],
  ["anonymous", "delete", 1, false, "403 administrators only"],
  ["anonymous", "delete", 2, false, "403 administrators only"],
  ["anonymous", "see-groups", 0, false, "403 administrators only"],
  ["anonymous", "see-groups", 1, false, "403 administrators only"],
  ["anonymous", "see-groups", 2, false, "403 administrators only"],
];

/** The level omitted: collection actions do not need one, and a one-system action then counts as level 0. */
const rowsWithoutLevel: [Kind, SystemAction, boolean, Outcome][] = [
  ["administrator", "administer", true, "passes"],
  ["administrator", "delete", true, "passes"],
  ["administrator", "see-groups", true, "passes"],
  ["user", "list", true, "passes"],
  ["user", "read", false, "404 no such system"],
  ["user", "change-notes", false, "404 no such system"],
  ["user", "change-identity", false, "404 no such system"],
  ["user", "administer", false, "403 administrators only"],
  ["user", "create", false, "403 administrators only"],
  ["user", "delete", false, "403 administrators only"],
  ["user", "see-groups", false, "403 administrators only"],
];

describe("systems policy", () => {
  it("has one row for every actor kind, action and level", () => {
    expectEveryCombinationOnce(
      rows.map(([kind, action, level]) => `${kind} ${action} ${level}`),
      KINDS.flatMap((kind) => ACTIONS.flatMap((action) => LEVELS.map((level) => `${kind} ${action} ${level}`))),
    );
    for (const [, , , allowed, outcome] of rows) expect(allowed).toBe(outcome === "passes");
  });

  describe("can", () => {
    it.each(rows)("%s, %s at level %i → %s", (kind, action, level, allowed) => {
      expect(can(actor(kind), action, level)).toBe(allowed);
    });
  });

  describe("assertCan", () => {
    it.each(rows)("%s, %s at level %i (can: %s) → %s", (kind, action, level, _allowed, outcome) => {
      if (outcome === "passes") expect(() => assertCan(actor(kind), action, level)).not.toThrow();
      else expectRefusal(() => assertCan(actor(kind), action, level), refusals[outcome]);
    });
  });

  describe("level omitted", () => {
    it.each(rowsWithoutLevel)("%s, %s → can %s, assertCan %s", (kind, action, allowed, outcome) => {
      expect(can(actor(kind), action)).toBe(allowed);
      if (outcome === "passes") expect(() => assertCan(actor(kind), action)).not.toThrow();
      else expectRefusal(() => assertCan(actor(kind), action), refusals[outcome]);
    });
  });

  describe("changeAction", () => {
    const changes: [
      string,
      { name?: unknown; host?: unknown; webAddress?: unknown; gateMode?: unknown; description?: unknown; notes?: unknown },
      "change-notes" | "change-identity",
    ][] = [
      ["{ name }", { name: "web-01" }, "change-identity"],
      ["{ host }", { host: "web-01.example.net" }, "change-identity"],
      ["{ name, host }", { name: "web-01", host: "web-01.example.net" }, "change-identity"],
      ["{ name, description }", { name: "web-01", description: "Front end" }, "change-identity"],
      ["{ host, notes }", { host: "web-01.example.net", notes: "Patched" }, "change-identity"],
      ["{ name: \"\" }", { name: "" }, "change-identity"],
      ["{ name: null }", { name: null }, "change-identity"],
      ["{ webAddress }", { webAddress: "https://web-01.example.net" }, "change-identity"],
      ["{ webAddress: null }", { webAddress: null }, "change-identity"],
      ["{ gateMode }", { gateMode: "read-write-only" }, "change-identity"],
      ["{ gateMode, notes }", { gateMode: "by-method", notes: "Patched" }, "change-identity"],
      ["{ description }", { description: "Front end" }, "change-notes"],
      ["{ notes }", { notes: "Patched" }, "change-notes"],
      ["{ description, notes }", { description: "Front end", notes: "Patched" }, "change-notes"],
      ["{}", {}, "change-notes"],
      ["{ name: undefined, host: undefined }", { name: undefined, host: undefined }, "change-notes"],
    ];
    it.each(changes)("%s → %s", (_label, fields, expected) => {
      expect(changeAction(fields)).toBe(expected);
    });
  });
});
