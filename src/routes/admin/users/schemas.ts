import { z } from "zod";
import { checkbox, idParam, optionalEmailField, passwordField, textField, usernameField, versionField } from "../../../lib/fields.ts";
import { USER_SORT_KEYS } from "../../../types/user.ts";


/** Unknown sort columns or directions fall back to the default instead of failing (docs/security.md A16). */
export const UserListQuerySchema = z.object({
  q: z.string().max(200).catch("").default(""),
  sort: z.enum(USER_SORT_KEYS).catch("username").default("username"),
  dir: z.enum(["asc", "desc"]).catch("asc").default("asc"),
  page: z.coerce.number().int().min(1).max(1_000_000).catch(1).default(1),
});
export type UserListQuery = z.infer<typeof UserListQuerySchema>;

export const AUTH_SOURCES = [
  { value: "local", label: "Local password" },
  { value: "ldap", label: "LDAP" },
] as const;

const userFields = {
  username: usernameField,
  fullName: textField("Full name", 128),
  title: textField("Title", 128),
  email: optionalEmailField,
  phone: textField("Phone", 64),
  password: passwordField.optional().default(""),
  confirmPassword: z.string().optional().default(""),
  isAdmin: checkbox,
  authSource: z.enum(["local", "ldap"], { error: "Choose how this account signs in: Local password or LDAP." }).default("local"),
};

export const UserCreateSchema = z.strictObject(userFields);
export type UserCreateBody = z.infer<typeof UserCreateSchema>;

export const UserUpdateSchema = z.strictObject({ ...userFields, version: versionField });
export type UserUpdateBody = z.infer<typeof UserUpdateSchema>;

export const VersionSchema = z.strictObject({ version: versionField });

export const UserIdParams = z.object({ id: idParam });
export type UserIdParams = z.infer<typeof UserIdParams>;

export const ConfirmationSchema = z.strictObject({ confirmationCode: z.string().max(200).default("") });
