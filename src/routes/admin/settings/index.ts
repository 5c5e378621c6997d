import { type Request, type Response, Router } from "express";
import { EmptySchema } from "../../../lib/fields.ts";
import type { z } from "zod";
import { ValidationError } from "../../../errors.ts";
import { flash } from "../../../lib/flash.ts";
import { formView } from "../../../middleware/form-view.ts";
import { requireAdmin } from "../../../middleware/require-auth.ts";
import { input, validate } from "../../../middleware/validate.ts";
import { testMessage } from "../../../mail/messages.ts";
import { describeSendError, sendMail } from "../../../mail/transport.ts";
import { presentTime } from "../../../presenters/time.ts";
import { recentOutbox, type SendQueuedResult, sendQueuedNow } from "../../../services/mail-status.ts";
import { type GeneralSettings, readGeneralSettings, saveGeneralSettings } from "../../../services/general-settings.ts";
import {
  clearSmtpSettings,
  EMAIL_NOT_CONFIGURED,
  isMailConfigured,
  readSmtpSettings,
  type SmtpSettingsView,
  saveSmtpSettings,
  smtpConnection,
} from "../../../services/mail-settings.ts";
import { actorOf, signedInActor } from "../../actor.ts";
import { fieldErrorsOf, typedValues } from "../../form-values.ts";
import type { RouteDeps } from "../../deps.ts";
import { settingsFormView } from "../settings-form-view.ts";
import { ldapSettingsRouter } from "./ldap/index.ts";
import { signingKeysRouter } from "./signing-keys.ts";
import { DEFAULT_SMTP_PORT, GeneralSettingsSchema, SECURITY_OPTIONS, SmtpSettingsSchema, TestEmailSchema } from "./schemas.ts";

/** Fields of the Alert Services form that are never sent back to the page. */
const SECRET_FIELDS = ["authPass"];

const SMTP_PATH = "/admin/settings/smtp";
const GENERAL_PATH = "/admin/settings/general";

function smtpValues(saved: SmtpSettingsView | undefined): Record<string, string> {
  if (!saved) return { host: "", port: String(DEFAULT_SMTP_PORT), security: "starttls", authUser: "", from: "", version: "0" };
  return {
    host: saved.host,
    port: String(saved.port),
    security: saved.security,
    authUser: saved.authUser,
    from: saved.from,
    version: String(saved.version),
  };
}

function withoutSecrets(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter(([key]) => !SECRET_FIELDS.includes(key)));
}

/** What the General form shows for saved settings; checkboxes are "on" or absent, as a browser sends them. */
function generalValues(value: GeneralSettings, version: number): Record<string, string> {
  const values: Record<string, string> = { version: String(version) };
  for (const [key, setting] of Object.entries(value)) {
    if (typeof setting === "boolean") {
      if (setting) values[key] = "on";
    } else values[key] = String(setting);
  }
  return values;
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** The flash after "Send queued messages now", in words. */
function describeQueuedResult(result: SendQueuedResult): { kind: "success" | "error"; text: string } {
  if (result.tried === 0) return { kind: "success", text: "No messages were waiting to be sent." };
  if (result.waiting === 0 && result.failed === 0 && result.sent === result.tried)
    return { kind: "success", text: `${plural(result.sent, "queued message", "queued messages")} sent.` };
  const parts = [`${result.sent} of ${plural(result.tried, "queued message", "queued messages")} sent`];
  if (result.waiting > 0) parts.push(`${result.waiting} still waiting (Gatehouse keeps retrying)`);
  if (result.failed > 0) parts.push(`${result.failed} failed for good`);
  const error = result.lastError ? ` The server said: ${result.lastError}` : "";
  return { kind: "error", text: `${parts.join("; ")}.${error} See the Outbox below.` };
}

type SmtpSection = "settings" | "test";

export function adminSettingsRouter({ config, db, keys, mailOutbox }: RouteDeps): Router {
  const router = Router();
  router.use(requireAdmin);

  router.get("/", (_req, res) => res.redirect(303, GENERAL_PATH));
  router.use("/ldap", ldapSettingsRouter({ db, keys }));
  router.use("/signing-keys", signingKeysRouter({ db, keys }));

  // Alert Services ---------------------------------------------------------------------------------------

  const renderSmtp = async (
    req: Request,
    res: Response,
    status: number,
    form: { section?: SmtpSection; values?: Record<string, string>; errors?: Record<string, string>; message?: string | null; stale?: boolean } = {},
  ) => {
    const [saved, outbox] = await Promise.all([readSmtpSettings(db), recentOutbox(db)]);
    const values = form.section === "settings" && form.values ? withoutSecrets(form.values) : smtpValues(saved);
    const testValues = form.section === "test" && form.values ? form.values : { testTo: req.user?.email ?? "" };
    res.status(status).render("admin/settings/smtp", {
      title: "Alert Services",
      saved: saved ?? null,
      values,
      errors: form.section === "settings" ? (form.errors ?? {}) : {},
      testValues,
      testErrors: form.section === "test" ? (form.errors ?? {}) : {},
      message: form.message ?? null,
      stale: form.stale && saved ? saved : null,
      securityOptions: SECURITY_OPTIONS,
      removeAuthPass: form.section === "settings" && form.values?.removeAuthPass !== undefined,
      outbox: outbox.map((m) => ({ ...m, created: presentTime(m.createdAt) })),
    });
  };

  router.get("/smtp", (req, res) => renderSmtp(req, res, 200));

  router.post(
    "/smtp",
    settingsFormView({
      current: async () => ({ version: (await readSmtpSettings(db))?.version ?? 0, stale: true }),
      kept: "Your input is kept; type Auth pass again if you changed it.",
      render: (req, res, status, form) => renderSmtp(req, res, status, { section: "settings", ...form }),
    }),
    validate({ body: SmtpSettingsSchema }),
    async (req, res) => {
      const { body } = input<z.infer<typeof SmtpSettingsSchema>>(res);
      await saveSmtpSettings(db, actorOf(req), keys, body.version, body.settings);
      flash(req, "success", "Alert Services saved. Use Send test email to check them.");
      res.redirect(303, SMTP_PATH);
    },
  );

  router.post(
    "/smtp/test",
    formView((req, res, error) =>
      renderSmtp(req, res, error.status, { section: "test", values: typedValues(req), errors: fieldErrorsOf(error), message: error.message }),
    ),
    validate({ body: TestEmailSchema }),
    async (req, res) => {
      const { body } = input<z.infer<typeof TestEmailSchema>>(res);
      // The saved settings, exactly as the outbox will use them: an unsaved form is not what gets tested.
      const connection = await smtpConnection(db, keys);
      if (!connection) throw new ValidationError({ testTo: EMAIL_NOT_CONFIGURED }, EMAIL_NOT_CONFIGURED);
      try {
        await sendMail(connection, testMessage(body.testTo));
        flash(req, "success", `Test email sent to ${body.testTo}. If it does not arrive, check the recipient's spam folder.`);
      } catch (caught) {
        flash(req, "error", `The test email to ${body.testTo} could not be sent: ${describeSendError(caught)}`);
      }
      res.redirect(303, `${SMTP_PATH}#test-email`);
    },
  );

  router.get("/smtp/clear", async (_req, res) => {
    const saved = await readSmtpSettings(db);
    if (!saved) {
      flash(_req, "success", "Email is not configured; there is nothing to clear.");
      return res.redirect(303, SMTP_PATH);
    }
    res.render("admin/settings/clear-smtp", { title: "Clear the mail server configuration?", saved });
  });

  router.post("/smtp/clear", validate({ body: EmptySchema }), async (req, res) => {
    await clearSmtpSettings(db, actorOf(req));
    flash(req, "success", "Mail server configuration cleared. Gatehouse sends no email until Alert Services are set up again.");
    res.redirect(303, SMTP_PATH);
  });

  router.post("/smtp/outbox/send", validate({ body: EmptySchema }), async (req, res) => {
    if (!(await isMailConfigured(db))) {
      flash(req, "error", EMAIL_NOT_CONFIGURED);
      return res.redirect(303, `${SMTP_PATH}#outbox`);
    }
    const { kind, text } = describeQueuedResult(await sendQueuedNow(db, mailOutbox));
    flash(req, kind, text);
    res.redirect(303, `${SMTP_PATH}#outbox`);
  });

  // General ----------------------------------------------------------------------------------------------

  const renderGeneral = async (
    res: Response,
    status: number,
    form: { values?: Record<string, string>; errors?: Record<string, string>; message?: string | null; stale?: GeneralSettings } = {},
  ) => {
    const saved = await readGeneralSettings(db, config.session);
    const savedValues = generalValues(saved.value, saved.version);
    // A browser sends every field (an unticked box by its absence); a number left out of the post keeps its saved value.
    const values = form.values
      ? { ...Object.fromEntries(Object.entries(savedValues).filter(([key]) => key !== "requireAdminTwoFactor")), ...form.values }
      : savedValues;
    res.status(status).render("admin/settings/general", {
      title: "General settings",
      values,
      errors: form.errors ?? {},
      message: form.message ?? null,
      stale: form.stale ?? null,
    });
  };

  router.get("/general", (_req, res) => renderGeneral(res, 200));

  router.post(
    "/general",
    settingsFormView({
      current: async () => {
        const current = await readGeneralSettings(db, config.session);
        return { version: current.version, stale: current.value };
      },
      kept: "Your choices are kept.",
      render: (_req, res, status, form) => renderGeneral(res, status, form),
    }),
    validate({ body: GeneralSettingsSchema }),
    async (req, res) => {
      const { body } = input<z.infer<typeof GeneralSettingsSchema>>(res);
      await saveGeneralSettings(db, signedInActor(req), req.user?.twoFactorMethod != null, body.version, body.value, config.session);
      flash(req, "success", "General settings saved.");
      res.redirect(303, GENERAL_PATH);
    },
  );

  return router;
}
