import type { NextFunction, Request, Response } from "express";
import type { Db } from "../db/index.ts";
import { isSetUp } from "../services/installation.ts";

const OPEN_WHILE_EMPTY = ["/setup", "/healthz", "/readyz"];

/**
 * While no account exists every page leads to /setup. Once an account exists it stays so (the last
 * administrator cannot be deleted), so the answer is remembered per process after the first "yes".
 */
export function setupGate(db: Db) {
  let setUp = false;
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (setUp || OPEN_WHILE_EMPTY.includes(req.path)) return next();
    setUp = await isSetUp(db);
    if (setUp) return next();
    if (req.accepts(["html", "json"]) === "json") {
      res.status(503).json({ error: { code: "setup_required", message: "Create the first administrator at /setup." } });
      return;
    }
    res.redirect(303, "/setup");
  };
}
