import { describe, expect, it } from "vitest";
import { ForbiddenError } from "../../../src/errors.ts";
import { assertCan, can, type OidcClientAction } from "../../../src/policies/oidc-clients.ts";
import { actor, expectEveryCombinationOnce, expectRefusal, KINDS, type Kind, keysOf, type Refusal } from "./kinds.ts";

const refusals = {
  "403 administrators only": { error: ForbiddenError, status: 403, message: "Only administrators can do that." },
} satisfies Record<string, Refusal>;

type Outcome = "passes" | keyof typeof refusals;

const ACTIONS = keysOf<OidcClientAction>({ see: true, enable: true, "change-redirect-uris": true, "rotate-secret": true, disable: true });

const ADMINISTRATORS: Kind[] = ["system", "administrator"];

/** [actor kind, action, can(), what assertCan does]: a system's OpenID Connect client is the administrators' alone. */
const rows: [Kind, OidcClientAction, boolean, Outcome][] = KINDS.flatMap((kind) =>
  ACTIONS.map((action): [Kind, OidcClientAction, boolean, Outcome] =>
    ADMINISTRATORS.includes(kind) ? [kind, action, true, "passes"] : [kind, action, false, "403 administrators only"],
  ),
);

describe("OpenID Connect clients policy", () => {
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
