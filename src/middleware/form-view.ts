import type { NextFunction, Request, Response } from "express";
import type { AppError } from "../errors.ts";

/** Re-renders a form with the typed values and the error's messages; declared on the route. */
export type FormRenderer = (req: Request, res: Response, error: AppError) => void | Promise<void>;

export function formView(renderer: FormRenderer) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    res.locals.renderForm = renderer;
    next();
  };
}
