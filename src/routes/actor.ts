import type { Request } from "express";
import type { Actor } from "../types/user.ts";

export function actorOf(req: Request): Actor {
  return {
    id: req.user?.id ?? null,
    username: req.user?.username ?? null,
    clientIp: req.ip ?? null,
    requestId: req.id ? String(req.id) : null,
    isAdmin: req.user?.isAdmin ?? false,
    ...(req.apiTokenId !== undefined ? { apiTokenId: req.apiTokenId } : {}),
  };
}

export function signedInActor(req: Request): Actor & { id: number } {
  if (!req.user) throw new Error("signedInActor called without a signed-in user");
  return { ...actorOf(req), id: req.user.id };
}
