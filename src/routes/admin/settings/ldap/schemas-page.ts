import { z } from "zod";
import { checkbox, idParam } from "../../../../lib/fields.ts";
import type { LdapOptions } from "../../../../services/ldap-settings.ts";
import { settingsVersionField, singleLineField } from "../schemas.ts";

/** The settings page's own forms: the Configuration switches, an LDAP Default Team, an LDAP Group Mapping. */

const optionFields = {
  allowUserCreation: checkbox,
  removeUnmappedTeams: checkbox,
} satisfies { [K in keyof LdapOptions]: z.ZodType<LdapOptions[K]> };

export const LdapOptionsSchema = z
  .strictObject({ ...optionFields, version: settingsVersionField })
  .transform(({ version, ...value }): { version: number; value: LdapOptions } => ({ version, value }));

const CHOOSE_TEAM = "Choose a team from the list.";

export const DefaultTeamSchema = z.strictObject({
  teamId: z
    .string({ error: CHOOSE_TEAM })
    .regex(/^[1-9][0-9]{0,9}$/, { error: CHOOSE_TEAM })
    .transform(Number)
    .refine((n) => n <= 2_147_483_647, { error: CHOOSE_TEAM }),
});

export const GROUP_NAME_MAX = 255;
const CHOOSE_TEAMS = "Choose one or more Teams for the directory group.";

/** A multi-select sends nothing, one value or several; each must be a team id. */
const teamIdsField = z
  .union([z.string(), z.array(z.string()).max(1000)], { error: CHOOSE_TEAMS })
  .optional()
  .transform((v, ctx) => {
    const list = v === undefined ? [] : Array.isArray(v) ? v : [v];
    if (list.length === 0) {
      ctx.addIssue({ code: "custom", message: CHOOSE_TEAMS });
      return z.NEVER;
    }
    const ids: number[] = [];
    for (const raw of list) {
      const parsed = idParam.safeParse(raw);
      if (!parsed.success) {
        ctx.addIssue({ code: "custom", message: "Teams: choose teams from the list; one of the chosen values is not a team." });
        return z.NEVER;
      }
      if (!ids.includes(parsed.data)) ids.push(parsed.data);
    }
    return ids;
  });

export const GroupMappingSchema = z.strictObject({
  groupName: singleLineField("Directory group", GROUP_NAME_MAX).refine((v) => v !== "", "Enter the Directory group: the name of a group in the directory, such as operators."),
  teamIds: teamIdsField,
});

export const TeamParams = z.object({ teamId: idParam });
export const MappingParams = z.object({ id: idParam });
