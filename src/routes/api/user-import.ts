import { z } from "zod";
import { PROBLEMS_SHOWN } from "../../presenters/user-import.ts";
import { FILE_TOO_LARGE, IMPORT_MAX_BYTES, importUsers } from "../../services/user-import.ts";
import { actorOf } from "../actor.ts";
import type { RouteDeps } from "../deps.ts";
import { type Operation, operation, send } from "./operation.ts";

const ImportQuery = z.strictObject({
  checkOnly: z
    .enum(["true", "false"], { error: 'checkOnly must be "true" or "false".' })
    .optional()
    .transform((v) => v === "true")
    .meta({ description: "true: check the file and answer how many accounts it would create, creating none.", default: "false" }),
});

/** The file as the raw parser read it: bytes, whatever they hold (the service reads them as UTF-8 CSV). */
const CsvBytes = z.instanceof(Buffer);

const ImportedAccountView = z.object({
  id: z.number().int(),
  line: z.number().int().meta({ description: "The line of the file the account came from." }),
  username: z.string(),
  fullName: z.string(),
  email: z.string().nullable(),
  authSource: z.enum(["local", "ldap"]),
  teams: z.array(z.string()),
  invited: z.boolean().meta({ description: "An email with a code to choose a password (valid 72 hours) is on its way." }),
});

const ImportedView = z.object({
  imported: z.number().int(),
  accounts: z.array(ImportedAccountView),
  invitationsSent: z.number().int(),
  teamsJoined: z.number().int(),
  needTemporaryPassword: z
    .array(z.string())
    .meta({ description: "Local accounts without an invitation (no address, or no mail server): issue each a temporary password." }),
});

const CheckedView = z.object({ wouldImport: z.number().int(), local: z.number().int(), ldap: z.number().int() });

const ProblemView = z.object({
  line: z.number().int().nullable().meta({ description: "The line of the file (1 is the header); null for the file as a whole." }),
  field: z.string().meta({ description: "The column (username, full name, email, title, phone, teams, authentication), or header, row or file." }),
  message: z.string(),
});

export const ImportRejectedView = z.object({
  error: z.object({
    code: z.literal("import_rejected"),
    message: z.string(),
    total: z.number().int().meta({ description: `How many problems the file has; at most ${PROBLEMS_SHOWN} are listed.` }),
  }),
  errors: z.array(ProblemView),
});

export function userImportOperations({ db, config, mailOutbox }: RouteDeps): Operation[] {
  return [
    operation({
      method: "post",
      path: "/users/import",
      operationId: "importUsers",
      summary: "Import users from a CSV file",
      description:
        "All or nothing: every row is checked first; if any has a problem nothing is imported and the answer lists each by line. " +
        "Columns (header names without regard to case): username (required), full name, email, title, phone, teams (names separated by ;), authentication (local or ldap). " +
        "UTF-8, comma or semicolon separated, at most 10 MB and 50,000 rows. Local accounts get no password: with an address and mail configured each is emailed a code to choose one (valid 72 hours).",
      tag: "Users",
      access: "admin",
      query: ImportQuery,
      body: CsvBytes,
      rawBody: { mediaType: "text/csv", maxBytes: IMPORT_MAX_BYTES, tooLarge: FILE_TOO_LARGE, description: "The CSV file, as it is: a header line, then one account a line." },
      responses: {
        201: { description: "Every row was imported.", schema: ImportedView },
        200: { description: "checkOnly=true: the file has no problems; how many accounts it would create.", schema: CheckedView },
        400: { description: "The file has problems (code `import_rejected`); nothing was imported. `errors` lists them by line.", schema: ImportRejectedView },
      },
      handler: async (req, res, { query, body }) => {
        const outcome = await importUsers(db, actorOf(req), { file: { bytes: body, truncated: false }, checkOnly: query.checkOnly, baseUrl: config.baseUrl });
        if (outcome.status === "rejected") {
          const total = outcome.problems.length;
          return send(res, 400, ImportRejectedView, {
            error: { code: "import_rejected", message: `Nothing was imported: the file has ${total === 1 ? "1 problem" : `${total} problems`}.`, total },
            errors: outcome.problems.slice(0, PROBLEMS_SHOWN),
          });
        }
        if (outcome.status === "checked") return send(res, 200, CheckedView, outcome);
        if (outcome.invitationMessageIds.length > 0) mailOutbox.kick();
        send(res, 201, ImportedView, {
          imported: outcome.accounts.length,
          accounts: outcome.accounts,
          invitationsSent: outcome.invitationMessageIds.length,
          teamsJoined: outcome.teamsJoined,
          needTemporaryPassword: outcome.needTemporaryPassword.map((a) => a.username),
        });
      },
    }),
  ];
}
