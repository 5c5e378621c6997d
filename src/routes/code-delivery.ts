import type { Request } from "express";
import { flash } from "../lib/flash.ts";
import type { MailOutbox } from "../services/mail-outbox.ts";

/**
 * Sends a just-queued confirmation code at once and tells the person what happened: sent, or the server's own
 * error with the promise of a retry (the message stays in the outbox, nothing is lost).
 */
export async function reportCodeDelivery(req: Request, mailOutbox: MailOutbox, messageId: number | null, address: string | null): Promise<void> {
  if (messageId === null || !address) return;
  const result = await mailOutbox.deliverNow(messageId);
  if (result.status === "sent") flash(req, "success", `A confirmation code was sent to ${address}. Enter it in Confirmation code.`);
  else if (result.status === "pending") flash(req, "success", `A confirmation code is on its way to ${address}.`);
  else
    flash(
      req,
      "error",
      result.status === "failed"
        ? `The confirmation code could not be sent to ${address}: ${result.error}`
        : `The confirmation code could not be sent to ${address} yet: ${result.error}. Gatehouse will keep trying; you can also ask for a new code.`,
    );
}

/** Where a person is sent to set up mail: the words of the menu, as the pages show it. */
export const ALERT_SERVICES_PLACE = "Settings › Alert Services";

/**
 * An administrator saved an address while no mail server is configured: the save stands, unverified, and the page
 * says why no code went out and where to fix it (docs/domain.md, "Email and verification").
 */
export function reportCodeWithheld(req: Request, address: string | null): void {
  if (!address) return;
  flash(
    req,
    "notice",
    `${address} is saved unverified. No confirmation code was sent: email is not configured. Set up the mail server under ${ALERT_SERVICES_PLACE}, then press Send confirmation code below.`,
  );
}
