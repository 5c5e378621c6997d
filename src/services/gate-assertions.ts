import type { Db } from "../db/index.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import { signCompactJws } from "../lib/jws.ts";
import { BuiltFromSigningKeys, type CurrentSigningKey, currentSigningKey } from "./signing-keys.ts";

/** An assertion's life: long enough for the proxy to pass the request on, too short to be worth replaying. */
export const GATE_ASSERTION_SECONDS = 60;

/** A signed assertion is handed out again while it has more than this left of its life (half of it). */
const REUSE_WHILE_SECONDS_LEFT = GATE_ASSERTION_SECONDS / 2;

/** At most this many signed assertions are kept for reuse (about a kilobyte each). */
const REUSE_LIMIT = 1_000;

/**
 * The gate's `X-Gatehouse-Jwt`: who the request is from, as a JWT an upstream can verify with the OpenID Connect
 * provider's published keys (BASE_URL/oidc/jwks) instead of trusting the Remote-* headers. Signed ES256 with the
 * current key (its kid in the header, typ JWT); iss is the issuer (BASE_URL), aud the system's web address, and
 * exp is iat + 60. There is no jti: an assertion is not single use (see below).
 *
 * The key is read from the database only when the signing keys change (BuiltFromSigningKeys), never per decision.
 * Signing costs about as much CPU as a twentieth of a decision, so an assertion signed for exactly these claims,
 * this audience and this key is handed out again while it has more than half its life left. The claims are the
 * caller's, computed at each decision: a changed permission, name or team is a different key and a new signature.
 */
export class GateAssertions {
  private readonly key: BuiltFromSigningKeys<CurrentSigningKey>;
  private readonly signed = new Map<string, { jwt: string; reuseUntil: number }>();

  constructor(
    db: Db,
    keys: SecretKeys,
    private readonly issuer: string,
  ) {
    this.key = new BuiltFromSigningKeys(db, () => currentSigningKey(db, keys, "ES256"));
  }

  async assertionFor(audience: string, claims: Record<string, unknown>): Promise<string> {
    const key = await this.key.get();
    const now = Math.floor(Date.now() / 1000);
    const id = JSON.stringify([key.kid, audience, claims]);
    const kept = this.signed.get(id);
    if (kept && now < kept.reuseUntil) return kept.jwt;
    const jwt = signCompactJws(
      key.privateKey,
      { alg: key.alg, kid: key.kid, typ: "JWT" },
      { ...claims, iss: this.issuer, aud: audience, iat: now, exp: now + GATE_ASSERTION_SECONDS },
    );
    this.keep(id, jwt, now);
    return jwt;
  }

  /**
   * Remembers a new assertion. The map is in the order of signing, so the ones past reuse are at its front: they
   * go, and the oldest while it is full, without reading the rest.
   */
  private keep(id: string, jwt: string, now: number): void {
    this.signed.delete(id);
    for (const [other, entry] of this.signed) {
      if (entry.reuseUntil > now && this.signed.size < REUSE_LIMIT) break;
      this.signed.delete(other);
    }
    this.signed.set(id, { jwt, reuseUntil: now + GATE_ASSERTION_SECONDS - REUSE_WHILE_SECONDS_LEFT });
  }
}
