import { expect } from "vitest";
import type { ForbiddenError, NotFoundError } from "../../../src/errors.ts";
import type { PolicyActor } from "../../../src/policies/actor.ts";

/**
 * The five kinds of actor every policy table runs through. Written out here, not built with `actorKind`, so that the
 * tables do not lean on the code they test.
 */
const ACTORS = {
  system: { id: null, isAdmin: true },
  administrator: { id: 1, isAdmin: true },
  user: { id: 7, isAdmin: false },
  "user without isAdmin": { id: 7 },
  anonymous: { id: null },
} as const satisfies Record<string, PolicyActor>;

export type Kind = keyof typeof ACTORS;

/** A fresh copy each time, so that no row can see what another row did to its actor. */
export function actor(kind: Kind): PolicyActor {
  return { ...ACTORS[kind] };
}

/** What assertCan must throw when it refuses. */
export interface Refusal {
  error: typeof NotFoundError | typeof ForbiddenError;
  status: 404 | 403;
  message: string;
}

/** Asserts that `run` throws exactly `refusal`: that class (not a subclass or sibling), that status, that message. */
export function expectRefusal(run: () => void, refusal: Refusal): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, "assertCan should have thrown").toBeInstanceOf(refusal.error);
  expect((thrown as object).constructor).toBe(refusal.error);
  expect(thrown).toMatchObject({ status: refusal.status, message: refusal.message });
}

/** Every kind, for the tests that check a table leaves no combination out. */
export const KINDS = Object.keys(ACTORS) as Kind[];

/**
 * The keys of a record that must name every member of a union (`satisfies Record<Action, true>`), so that a new
 * action added to a policy fails the type check until its rows are written.
 */
export function keysOf<K extends string>(record: Record<K, true>): K[] {
  return Object.keys(record) as K[];
}

/** Asserts that a table has exactly one row for each combination: none missing, none twice. */
export function expectEveryCombinationOnce(rowKeys: string[], combinations: string[]): void {
  expect([...rowKeys].sort()).toEqual([...combinations].sort());
}
