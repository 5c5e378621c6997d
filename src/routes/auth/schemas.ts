import { z } from "zod";
import { passwordField, usernameField } from "../../lib/fields.ts";

export const LoginSchema = z.strictObject({
  username: usernameField,
  password: passwordField.refine((v) => v.length > 0, "Enter your password."),
  returnTo: z.string().max(2000).optional(),
});

export const LoginPageQuerySchema = z.object({
  returnTo: z.string().max(2000).optional().catch(undefined),
  expired: z.string().optional().catch(undefined),
});
