import { type Request, type Response, Router } from "express";
import { z } from "zod";
import { ValidationError } from "../../../errors.ts";
import { checkbox } from "../../../lib/fields.ts";
import { uploadedFile } from "../../../middleware/file-upload.ts";
import { formView } from "../../../middleware/form-view.ts";
import { requireAdmin } from "../../../middleware/require-auth.ts";
import { input, validate } from "../../../middleware/validate.ts";
import { presentImportedAccount, presentImportProblems } from "../../../presenters/user-import.ts";
import { IMPORT_COLUMNS, type ImportOutcome, importUsers } from "../../../services/user-import.ts";
import { actorOf } from "../../actor.ts";
import type { RouteDeps } from "../../deps.ts";
import { fieldErrorsOf, typedValues } from "../../form-values.ts";

/** The form's fields besides the file (read by middleware/file-upload.ts) and the CSRF token. */
const ImportFormSchema = z.strictObject({ checkOnly: checkbox });

const EXAMPLE = [
  "username,full name,email,title,phone,teams,authentication",
  'ada,Ada Lovelace,ada@example.com,Engineer,+44 20 7946 0000,"storage;backup",local',
  "grace,Grace Hopper,,,,,ldap",
].join("\n");

interface ImportPageState {
  checkOnly: boolean;
  errors?: Record<string, string>;
  message?: string;
  outcome?: ImportOutcome;
}

/** `/admin/users/import`: accounts from a CSV file, all or nothing (docs/domain.md, "Importing users"). */
export function adminUserImportRouter({ db, config, mailOutbox }: RouteDeps): Router {
  const router = Router();
  router.use(requireAdmin);

  const render = (res: Response, status: number, state: ImportPageState) => {
    const { outcome } = state;
    const problems = outcome?.status === "rejected" ? presentImportProblems(outcome.problems) : null;
    const imported = outcome?.status === "imported" ? outcome : null;
    res.status(status).render("admin/users/import", {
      title: imported ? `Imported ${imported.accounts.length} accounts` : "Import users",
      columns: IMPORT_COLUMNS,
      example: EXAMPLE,
      checkOnly: state.checkOnly,
      errors: { ...(state.errors ?? {}), ...(problems ? { csvFile: problems.summary } : {}) },
      message: state.message ?? null,
      problems,
      wouldImport: outcome?.status === "checked" ? outcome : null,
      imported: imported
        ? {
            count: imported.accounts.length,
            accounts: imported.accounts.map(presentImportedAccount),
            needTemporaryPassword: imported.needTemporaryPassword.map(presentImportedAccount),
            invitations: imported.invitationMessageIds.length,
            teamsJoined: imported.teamsJoined,
          }
        : null,
    });
  };

  router.get("/", (_req, res) => render(res, 200, { checkOnly: false }));

  router.post(
    "/",
    formView((req: Request, res: Response, error) =>
      render(res, error.status, { checkOnly: typedValues(req).checkOnly !== undefined, errors: fieldErrorsOf(error), message: error.message }),
    ),
    validate({ body: ImportFormSchema }),
    async (req, res) => {
      const { body } = input<z.infer<typeof ImportFormSchema>>(res);
      const file = uploadedFile(res);
      if (!file || (file.bytes.length === 0 && file.filename === ""))
        throw new ValidationError({ csvFile: "Choose a CSV file to import." });
      const outcome = await importUsers(db, actorOf(req), {
        file: { bytes: file.bytes, truncated: file.truncated },
        checkOnly: body.checkOnly,
        baseUrl: config.baseUrl,
      });
      if (outcome.status === "imported" && outcome.invitationMessageIds.length > 0) mailOutbox.kick();
      render(res, outcome.status === "rejected" ? 422 : 200, { checkOnly: body.checkOnly, outcome });
    },
  );

  return router;
}
