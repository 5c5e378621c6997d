import type { ReportedAccess } from "../access/resolver.ts";
import { describeGrant } from "./access.ts";

/** One row of the access report in the console's words (docs/domain.md, "The access report"). */
export interface AccessReportRowView {
  userId: number;
  username: string;
  systemId: number;
  system: string;
  permission: string;
  /** The deciding source as a user's page says it: "directly", "team Ops, through group nas", or "administrator". */
  decidedBy: string;
  /** Every contributing grant with its permission, in the explanation's order: "directly (read)". */
  grants: string[];
}

export function presentReportRow({ user, system, access }: ReportedAccess): AccessReportRowView {
  const decider = access.grants.find((grant) => grant.decides);
  return {
    userId: user.id,
    username: user.username,
    systemId: system.id,
    system: system.name,
    permission: access.permission,
    decidedBy: access.basis === "administrator" ? "administrator" : decider ? describeGrant(decider, "admin") : "",
    grants: access.grants.map((grant) => `${describeGrant(grant, "admin")} (${grant.permission})`),
  };
}
