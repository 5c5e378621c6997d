/**
 * The floors of bench:http, served by a child process of their own: what bare Express costs, and bare Express plus one
 * Postgres query, on this machine.
 *   GET /hello      a tiny text
 *   GET /user/:id   one users row by id through knex (the app's pool and connection settings), its username as text
 * Environment: PORT, DATABASE_URL (postgres://…). Not a server for anything else; bench/http.ts starts and stops it.
 */
import express from "express";
import { createDb } from "../src/db/index.ts";

const port = Number(process.env.PORT ?? 0);
const db = createDb({ databaseUrl: process.env.DATABASE_URL, embeddedDir: undefined });

const app = express();
app.disable("x-powered-by");
app.get("/hello", (_req, res) => {
  res.type("text/plain").send("hello");
});
app.get("/user/:id", async (req, res) => {
  const row = await db("users").select("id", "username", "full_name", "is_admin", "disabled", "session_version").where({ id: Number(req.params.id) }).first();
  if (!row) {
    res.status(404).type("text/plain").send("no such user");
    return;
  }
  res.type("text/plain").send(String(row.username));
});

const server = app.listen(port, "127.0.0.1");
process.on("SIGTERM", () => {
  server.close(() => {
    db.destroy().finally(() => process.exit(0));
  });
  server.closeIdleConnections();
});
