import type { NewMessage } from "../repositories/outbox.ts";

const PRODUCT = "Gatehouse";

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}

/** Plain text plus the same paragraphs as simple HTML. */
function message(kind: string, to: string, subject: string, paragraphs: string[]): NewMessage {
  return {
    kind,
    to,
    subject,
    text: `${paragraphs.join("\n\n")}\n\n-- \n${PRODUCT}\n`,
    html: `<!doctype html><html><body style="font-family: sans-serif">${paragraphs
      .map((p) => `<p>${escapeHtml(p)}</p>`)
      .join("")}<p style="color: #666">${PRODUCT}</p></body></html>`,
  };
}

export function verificationCodeMessage(to: string, username: string, code: string): NewMessage {
  return message("verification_code", to, `[AUTH] ${PRODUCT} verification code`, [
    `Your confirmation code is ${code}`,
    `Enter it in Confirmation code to verify this address for the account "${username}". The code is valid for 10 minutes and works once.`,
    "If you did not ask for this, ignore this message: the address will not be used.",
  ]);
}

export function signInCodeMessage(to: string, username: string, code: string): NewMessage {
  return message("sign_in_code", to, `[AUTH] ${PRODUCT} sign-in code`, [
    `Your sign-in code is ${code}`,
    `Enter it in Code to finish signing in as "${username}". The code is valid for 10 minutes and works once.`,
    "If you are not signing in right now, someone knows your password: change it.",
  ]);
}

export function emailChangeNoticeMessage(to: string, username: string, newAddress: string): NewMessage {
  return message("email_change_notice", to, `[AUTH] ${PRODUCT} email change requested`, [
    `Someone asked to change the email address of the account "${username}" to ${newAddress}.`,
    "This address stays in use until the new one is confirmed with the code sent to it. If this was not you, change your password and tell an administrator.",
  ]);
}

export function twoFactorChangedMessage(to: string, username: string, change: string): NewMessage {
  return message("two_factor_changed", to, `[AUTH] ${PRODUCT} two-factor authentication changed`, [
    `Two-factor authentication for the account "${username}": ${change}.`,
    "If this was not you, tell an administrator at once.",
  ]);
}

export function codeReplayMessage(to: string, username: string): NewMessage {
  return message("code_replay", to, `[AUTH] ${PRODUCT} authenticator code used twice`, [
    `An authenticator code of the account "${username}" was entered again after it had already been used. The second use was refused.`,
    "If you did not enter it twice yourself, someone may know your password and see your codes: change your password.",
  ]);
}

export function testMessage(to: string): NewMessage {
  return message("test", to, `${PRODUCT} test email`, [
    "This is a test message from Gatehouse's Alert Services settings.",
    "Mail from Gatehouse (verification and sign-in codes) will arrive like this one.",
  ]);
}

export function passwordResetMessage(to: string, username: string, code: string, link: string, validMinutes: number): NewMessage {
  return message("password_reset", to, `[AUTH] ${PRODUCT} Password Reset`, [
    `Someone asked to reset the password of the Gatehouse account "${username}". Your reset code is:`,
    code,
    `Open this link to sign in with it: ${link}`,
    `Or, on the sign-in page, enter your username, and this code as the password. You then choose a new password. The code is valid for ${validMinutes} minutes and works once; two-factor authentication still applies.`,
    "If you did not ask for this, ignore this message: your password has not changed.",
  ]);
}

/** The first mail of an imported account: it has no password yet, and this code (a reset code) lets its owner choose one. */
export function invitationMessage(to: string, username: string, code: string, link: string, validHours: number): NewMessage {
  return message("invitation", to, `[AUTH] ${PRODUCT}: set your password`, [
    `An administrator created the Gatehouse account "${username}" for you. It has no password yet; choose one with this code:`,
    code,
    `Open this link to sign in with it: ${link}`,
    `Or, on the sign-in page, enter your username, and this code as the password. You then choose your password. The code is valid for ${validHours} hours and works once.`,
    "If you did not expect this, ignore this message or tell your administrator.",
  ]);
}

export function apiTokenCreatedMessage(to: string, username: string, tokenName: string, prefix: string): NewMessage {
  return message("api_token_created", to, `[AUTH] ${PRODUCT} API token created`, [
    `A personal API token "${tokenName}" (${prefix}…) was created for the account "${username}". It can do in the Gatehouse API whatever the account can.`,
    "If this was not you, revoke it on your Profile under API tokens, change your password and tell an administrator.",
  ]);
}

export function passwordChangedMessage(to: string, username: string, how: string): NewMessage {
  return message("password_changed", to, `${PRODUCT}: your password was changed`, [
    `The password of the Gatehouse account "${username}" was changed (${how}). Every session of the account has been signed out.`,
    "If this was not you, contact your Gatehouse administrator at once.",
  ]);
}
