import { Router } from "express";
import type { Db } from "../db/index.ts";
import { databaseAnswers } from "../services/installation.ts";

export function healthRouter(db: Db): Router {
  const router = Router();
  router.get("/healthz", (_req, res) => {
    res.set("Cache-Control", "no-store").json({ status: "ok" });
  });
  router.get("/readyz", async (_req, res) => {
    res.set("Cache-Control", "no-store");
    if (await databaseAnswers(db)) res.json({ status: "ready", database: "ok" });
    else res.status(503).json({ status: "unavailable", database: "unreachable" });
  });
  return router;
}
