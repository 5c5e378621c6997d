import { z } from "zod";
import { idParam, textField, usernameField, versionField } from "../../lib/fields.ts";
import { hostField } from "../../lib/host.ts";

/** A required name for a team, group or system: 1–100 code points, one line, unique without regard to case. */
export const nameField = textField("Name", 100).refine((v) => v.length > 0, "Enter a name.");

export const TeamFieldsSchema = z.strictObject({ name: nameField, description: textField("Description", 1000, { multiline: true }) });
export const TeamUpdateSchema = TeamFieldsSchema.extend({ version: versionField });

export const GroupFieldsSchema = TeamFieldsSchema;
export const GroupUpdateSchema = TeamUpdateSchema;

export const SystemFieldsSchema = z.strictObject({
  name: nameField,
  host: hostField,
  description: textField("Description", 1000, { multiline: true }),
  notes: textField("Notes", 10_000, { multiline: true }),
});
export const SystemUpdateSchema = SystemFieldsSchema.extend({ version: versionField });

/** What a read/write user may change on a system (DESIGN §3.2). */
export const SystemNotesSchema = z.strictObject({
  description: textField("Description", 1000, { multiline: true }),
  notes: textField("Notes", 10_000, { multiline: true }),
  version: versionField,
});

export const VersionOnlySchema = z.strictObject({ version: versionField });
export const EmptySchema = z.strictObject({});
export const IdParams = z.object({ id: idParam });
export const MemberParams = z.object({ id: idParam, userId: idParam });
export const AddMemberSchema = z.strictObject({ username: usernameField });
export const AddSystemToGroupSchema = z.strictObject({ systemId: idParam });
export const GroupSystemParams = z.object({ id: idParam, systemId: idParam });
export const JoinTeamSchema = z.strictObject({ teamId: idParam });
export const UserTeamParams = z.object({ id: idParam, teamId: idParam });
