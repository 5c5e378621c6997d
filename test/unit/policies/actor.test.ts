import { describe, expect, it } from "vitest";
import { type ActorKind, actorKind, actsAsAdministrator, type PolicyActor } from "../../../src/policies/actor.ts";
import { actor, expectEveryCombinationOnce, KINDS, type Kind } from "./kinds.ts";

/** [actor kind as the tables name it, actorKind(), actsAsAdministrator()] */
const rows: [Kind, ActorKind, boolean][] = [
  ["system", "system", true],
  ["administrator", "administrator", true],
  ["user", "user", false],
  ["user without isAdmin", "user", false],
  ["anonymous", "anonymous", false],
];

/** Actors beyond the five kinds: only isAdmin === true makes an administrator, and only a null id makes no account. */
const more: [string, PolicyActor, ActorKind, boolean][] = [
  ["{ id: null, isAdmin: false }", { id: null, isAdmin: false }, "anonymous", false],
  ["{ id: 1, isAdmin: false }", { id: 1, isAdmin: false }, "user", false],
  ["{ id: 0 }", { id: 0 }, "user", false],
  ["{ id: 0, isAdmin: true }", { id: 0, isAdmin: true }, "administrator", true],
  ["{ id: 7, isAdmin: undefined }", { id: 7, isAdmin: undefined }, "user", false],
  ["{ id: null, isAdmin: undefined }", { id: null, isAdmin: undefined }, "anonymous", false],
];

describe("actor", () => {
  it("has one row for every actor kind", () => {
    expectEveryCombinationOnce(
      rows.map(([kind]) => kind),
      KINDS,
    );
  });

  describe("actorKind", () => {
    it.each(rows)("%s → %s", (kind, expected) => {
      expect(actorKind(actor(kind))).toBe(expected);
    });
    it.each(more)("%s → %s", (_label, subject, expected) => {
      expect(actorKind(subject)).toBe(expected);
    });
  });

  describe("actsAsAdministrator", () => {
    it.each(rows)("%s (%s) → %s", (kind, _actorKind, expected) => {
      expect(actsAsAdministrator(actor(kind))).toBe(expected);
    });
    it.each(more)("%s (%s) → %s", (_label, subject, _actorKind, expected) => {
      expect(actsAsAdministrator(subject)).toBe(expected);
    });
  });

  it("reads nothing but id and isAdmin: a full request actor decides the same as its two fields", () => {
    const full = { id: 7, isAdmin: false, username: "root", clientIp: "127.0.0.1", requestId: "r-1", apiTokenId: 3 };
    expect(actorKind(full)).toBe("user");
    expect(actsAsAdministrator(full)).toBe(false);
  });
});
