import { z } from "zod";
import { idParam, textField, usernameField, versionField } from "../../lib/fields.ts";
import { hostField } from "../../lib/host.ts";
import { gateModeField, webAddressField } from "../../lib/web-address.ts";

/**
 * Characters that do not show: format controls (zero-width space, soft hyphen, word joiner, …), private-use and
 * unassigned code points, line and paragraph separators, fillers, variation selectors. "prod\u200b" would look
 * like "prod" yet be another name, so names refuse them (docs/security.md A9).
 */
const INVISIBLE = /[\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}\u115F\u1160\u3164\uFFA0\u2800]|\u034F|\p{Variation_Selector}/u;
/** What emoji need of those: a zero-width joiner between two pictographs, and the emoji presentation selector. */
const EMOJI_JOINERS = /(?<=[\p{Extended_Pictographic}#*0-9])\uFE0F|(?<=\p{Extended_Pictographic}\uFE0F?)\u200D(?=\p{Extended_Pictographic})/gu;

function hasInvisible(value: string): boolean {
  return INVISIBLE.test(value.replace(EMOJI_JOINERS, ""));
}

/**
 * A required name for a team, group or system: 1–100 code points, one line, no invisible characters, unique
 * without regard to case, width or spaces at the ends (the repositories' name_key).
 */
export const nameField = textField("Name", 100)
  .refine((v) => v.length > 0, "Enter a name.")
  .refine((v) => !hasInvisible(v), "Name cannot contain invisible characters such as a zero-width space.");

export const TeamFieldsSchema = z.strictObject({ name: nameField, description: textField("Description", 1000, { multiline: true }) });
export const TeamUpdateSchema = TeamFieldsSchema.extend({ version: versionField });

export const GroupFieldsSchema = TeamFieldsSchema;
export const GroupUpdateSchema = TeamUpdateSchema;

export const SystemFieldsSchema = z.strictObject({
  name: nameField,
  host: hostField,
  webAddress: webAddressField,
  gateMode: gateModeField,
  description: textField("Description", 1000, { multiline: true }),
  notes: textField("Notes", 10_000, { multiline: true }),
});
export const SystemUpdateSchema = SystemFieldsSchema.extend({ version: versionField });

/** What a read/write user may change on a system (docs/domain.md, "Grants and the resolver"). */
export const SystemNotesSchema = z.strictObject({
  description: textField("Description", 1000, { multiline: true }),
  notes: textField("Notes", 10_000, { multiline: true }),
  version: versionField,
});

/**
 * The ?q= of a list of systems: at most 200 characters; control characters and lone surrogates are dropped
 * (no name contains them, and Postgres refuses NUL), anything malformed is no search at all.
 */
export const searchField = z
  .string()
  .max(200)
  .transform((v) => v.replace(/[\p{Cc}\p{Cs}]/gu, ""))
  .catch("")
  .default("");

export const VersionOnlySchema = z.strictObject({ version: versionField });
export const IdParams = z.object({ id: idParam });
export const MemberParams = z.object({ id: idParam, userId: idParam });
export const AddMemberSchema = z.strictObject({ username: usernameField });
export const AddSystemToGroupSchema = z.strictObject({ systemId: idParam });
export const GroupSystemParams = z.object({ id: idParam, systemId: idParam });
export const JoinTeamSchema = z.strictObject({ teamId: idParam });
export const UserTeamParams = z.object({ id: idParam, teamId: idParam });
