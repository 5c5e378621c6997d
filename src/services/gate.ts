import type { Db } from "../db/index.ts";
import type { SecretKeys } from "../lib/app-secret.ts";
import { decide, type GateRefusal } from "../policies/gate.ts";
import { touchApiToken } from "../repositories/api-tokens.ts";
import { selectGateSubjectByToken } from "../repositories/gate.ts";
import { storedFormOfToken } from "./api-tokens.ts";
import { readGeneralSettings } from "./general-settings.ts";

/** The request a reverse proxy asks about, as read from its headers by routes/gate. */
export interface GatedRequest {
  /** Host and port as a web address's key has them (src/lib/web-address.ts): "nas1.example.com", "10.0.0.5:8080". */
  hostKey: string;
  method: string;
  websocket: boolean;
}

/** What the proxy is told: let it through, with who it is; nobody signed in; or signed in and refused, with why. */
export type GateAnswer =
  | { status: 200; identity: { username: string; name: string; email: string | null; groups: string[]; permission: "read" | "read/write" } }
  | { status: 401 }
  | { status: 403; reason: GateRefusal | "unknown_host" | "disabled" | "two_factor_required" | "untrusted_proxy" };

/**
 * The gate's answer for a request carrying a personal API token (scripts): the token owner's rights, decided by
 * src/policies/gate.ts from the resolver's level, read in one statement for this request.
 */
export async function answerForToken(db: Db, keys: SecretKeys, rawToken: string, request: GatedRequest): Promise<GateAnswer> {
  const stored = storedFormOfToken(keys, rawToken);
  if (!stored) return { status: 401 };
  const subject = await selectGateSubjectByToken(db, stored, request.hostKey);
  if (!subject) return { status: 401 };
  // A disabled account's token is known but refuses everything: the proxy is told the person may not (403).
  if (subject.disabled) return { status: 403, reason: "disabled" };
  if (subject.touchDue) await touchApiToken(db, subject.tokenId);
  // As on the API (middleware/api-token-auth.ts): an administrator without 2FA, when it is required, is refused.
  if (subject.isAdmin && !subject.hasTwoFactor && (await readGeneralSettings(db)).value.requireAdminTwoFactor)
    return { status: 403, reason: "two_factor_required" };
  if (!subject.system) return { status: 403, reason: "unknown_host" };
  const decision = decide(subject.level, subject.system.gateMode, request);
  if (!decision.allowed) return { status: 403, reason: decision.reason };
  return {
    status: 200,
    identity: { username: subject.username, name: subject.fullName, email: subject.email, groups: subject.teams, permission: decision.permission },
  };
}
