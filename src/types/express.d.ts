import type { User as GatehouseUser } from "./user.ts";

declare global {
  namespace Express {
    interface User extends GatehouseUser {}
  }
}

declare module "express-session" {
  interface SessionData {
    /** When the account signed in (ms); the absolute lifetime counts from here. */
    authAt?: number;
    /** Last request (ms); the idle timeout counts from here. */
    lastSeenAt?: number;
    client?: { ip: string; userAgent: string };
    flash?: { kind: "success" | "error"; text: string }[];
    /** Set by passport once the account has signed in. */
    passport?: { user?: { id: number; sv: number } };
  }
}
