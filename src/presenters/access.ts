import type { AccessLoss } from "../types/access.ts";
import type { ContributingGrant, EffectiveAccess } from "../types/access.ts";

export interface GrantExplanationView {
  words: string;
  permission: string;
  decides: boolean;
}

export interface PresentedAccess {
  permission: string;
  summary: string;
  grants: GrantExplanationView[];
}

/** Source A–D in words (docs/domain.md, "Grants and the resolver"): from the user's own point of view, or an administrator's looking at that user. */
export function describeGrant(grant: ContributingGrant, perspective: "self" | "admin"): string {
  const who = perspective === "self" ? "you, " : "";
  switch (grant.source) {
    case "A":
      return `${who}directly`;
    case "B":
      return `${who}through group ${grant.group?.name}`;
    case "C":
      return `team ${grant.team?.name}`;
    case "D":
      return `team ${grant.team?.name}, through group ${grant.group?.name}`;
  }
}

export function presentAccess(access: EffectiveAccess, perspective: "self" | "admin"): PresentedAccess {
  const summary =
    access.basis === "administrator"
      ? perspective === "self"
        ? "You are an administrator: administrators have read/write on every system."
        : "Administrator: read/write on every system."
      : access.basis === "disabled"
        ? "The account is disabled: no access."
        : access.basis === "no-grants"
          ? "No grant gives access."
          : access.grants.length === 1
            ? `${access.permission}, from one grant.`
            : `${access.permission}, the most permissive of ${access.grants.length} grants.`;
  return {
    permission: access.permission,
    summary,
    grants: access.grants.map((g) => ({ words: describeGrant(g, perspective), permission: g.permission, decides: g.decides })),
  };
}

export interface AccessLossView {
  userCount: number;
  systemCount: number;
  rows: { username: string; userId: number; systems: { name: string; change: string }[] }[];
}

const LEVEL_WORDS = ["no access", "read", "read/write"] as const;

export function presentAccessLoss(lost: AccessLoss[]): AccessLossView {
  const byUser = new Map<number, AccessLossView["rows"][number]>();
  for (const loss of lost) {
    const row = byUser.get(loss.userId) ?? { username: loss.username, userId: loss.userId, systems: [] };
    row.systems.push({ name: loss.systemName, change: `${LEVEL_WORDS[loss.before]} → ${LEVEL_WORDS[loss.after]}` });
    byUser.set(loss.userId, row);
  }
  return { userCount: byUser.size, systemCount: new Set(lost.map((l) => l.systemId)).size, rows: [...byUser.values()] };
}

/** "12 users lost access to 3 systems" — for the flash after a deletion. */
export function lossSentence(lost: AccessLoss[]): string {
  const view = presentAccessLoss(lost);
  if (view.userCount === 0) return "no user lost access";
  const users = view.userCount === 1 ? "1 user" : `${view.userCount} users`;
  const systems = view.systemCount === 1 ? "1 system" : `${view.systemCount} systems`;
  return `${users} lost access to ${systems}`;
}
