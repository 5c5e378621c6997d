import type { Request, Response } from "express";
import { ConflictError } from "../../errors.ts";
import { formView } from "../../middleware/form-view.ts";
import { fieldErrorsOf, typedValues } from "../form-values.ts";

/** What a settings form shows again after an error: the typed values, and on a conflict what the other save left. */
export interface SettingsFormState<Stale> {
  values: Record<string, string>;
  errors?: Record<string, string>;
  message: string;
  stale?: Stale;
}

/**
 * The error view of a form that saves settings at the version it was loaded at. Someone saved meanwhile: their
 * values are summarised, the typed ones kept, and the form now carries their version, so saving again applies what
 * was typed. Any other error shows the form again with its messages.
 */
export function settingsFormView<Stale>(options: {
  /** The settings as saved now: their version, and what the page shows of them beside the typed values. */
  current: () => Promise<{ version: number; stale: Stale }>;
  /** Said after the conflict's message, such as "Your input is kept." */
  kept: string;
  render: (req: Request, res: Response, status: number, form: SettingsFormState<Stale>) => Promise<void>;
}) {
  return formView(async (req, res, error) => {
    const typed = typedValues(req);
    if (error instanceof ConflictError) {
      const { version, stale } = await options.current();
      return options.render(req, res, 409, { values: { ...typed, version: String(version) }, message: `${error.message} ${options.kept}`, stale });
    }
    await options.render(req, res, error.status, { values: typed, errors: fieldErrorsOf(error), message: error.message });
  });
}
