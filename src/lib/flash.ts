import type { Request } from "express";

/** success: it was done; notice: it was done, and something still needs doing; error: it was not done. */
export type FlashKind = "success" | "notice" | "error";

export function flash(req: Request, kind: FlashKind, text: string): void {
  req.session.flash = [...(req.session.flash ?? []), { kind, text }];
}

export function takeFlash(req: Request): { kind: FlashKind; text: string }[] {
  const messages = req.session?.flash ?? [];
  if (req.session?.flash) delete req.session.flash;
  return messages;
}
