import { type Config, SESSION_DEFAULTS } from "../config.ts";
import { assertCan as assertCanOnSettings } from "../policies/settings.ts";
import type { Db, Queryable } from "../db/index.ts";
import { ConflictError, ValidationError } from "../errors.ts";
import * as settings from "../repositories/settings.ts";
import type { Actor } from "../types/user.ts";
import { diffFields, recordAudit } from "./audit.ts";

/** Where the settings document is kept (the session store reads it with each session). */
export const GENERAL_KEY = "general";

const STALE_SETTINGS = "Someone else saved these settings after you opened them. Review the current values and save again.";

export interface GeneralSettings {
  requireAdminTwoFactor: boolean;
  /** Idle timeout in minutes; 0 turns automatic sign-out off (as in TrueCommand). */
  idleMinutes: number;
  /** Session lifetime in hours, counted from sign-in. */
  absoluteHours: number;
  /** From this many consecutive failed sign-ins, each further one adds a minute of wait (at most 15). */
  lockoutDelayFrom: number;
  /** At this many consecutive failed sign-ins the account is locked for an hour (never for good). */
  lockoutLockAt: number;
}

type NumberSetting = Exclude<keyof GeneralSettings, "requireAdminTwoFactor">;

/**
 * The range of each number, with the label the form shows it under (messages name the field by it).
 * 100 failed sign-ins is NIST's ceiling (SP 800-63B §5.2.2); 168 hours is a week.
 */
export const GENERAL_NUMBER_FIELDS: Readonly<Record<NumberSetting, { label: string; min: number; max: number }>> = {
  idleMinutes: { label: "Idle timeout (minutes)", min: 0, max: 1440 },
  absoluteHours: { label: "Session lifetime (hours)", min: 1, max: 168 },
  lockoutDelayFrom: { label: "Wait after failed sign-ins", min: 1, max: 99 },
  lockoutLockAt: { label: "Lock after failed sign-ins", min: 2, max: 100 },
};

const NUMBER_SETTINGS = Object.keys(GENERAL_NUMBER_FIELDS) as NumberSetting[];
const ALL_SETTINGS: (keyof GeneralSettings)[] = ["requireAdminTwoFactor", ...NUMBER_SETTINGS];

/** docs/domain.md, "Sessions and throttling": growing waits from 5 consecutive failures, a temporary lock at 20. */
export const DEFAULT_LOCKOUT = Object.freeze({ delayFrom: 5, lockAt: 20 });

export interface LockoutThresholds {
  delayFrom: number;
  lockAt: number;
}

/** What a setting never saved is: the session timeouts from the configuration, the rest as docs/domain.md ("Sessions and throttling") says. */
export function generalDefaults(session: Config["session"] = SESSION_DEFAULTS): GeneralSettings {
  return {
    requireAdminTwoFactor: false,
    idleMinutes: session.idleMinutes,
    absoluteHours: session.absoluteHours,
    lockoutDelayFrom: DEFAULT_LOCKOUT.delayFrom,
    lockoutLockAt: DEFAULT_LOCKOUT.lockAt,
  };
}

export const DEFAULT_GENERAL_SETTINGS: Readonly<GeneralSettings> = Object.freeze(generalDefaults());

function inRange(key: NumberSetting, value: unknown): value is number {
  const { min, max } = GENERAL_NUMBER_FIELDS[key];
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

/**
 * The stored document over the defaults. A value that is missing or not what this version would store (a row
 * written by hand, say) falls back to its default, so a timeout is never NaN and a lock never unreachable.
 */
function effective(stored: Partial<Record<keyof GeneralSettings, unknown>> | undefined, defaults: GeneralSettings): GeneralSettings {
  const value: GeneralSettings = { ...defaults };
  if (typeof stored?.requireAdminTwoFactor === "boolean") value.requireAdminTwoFactor = stored.requireAdminTwoFactor;
  for (const key of NUMBER_SETTINGS) {
    const candidate = stored?.[key];
    if (inRange(key, candidate)) value[key] = candidate;
  }
  if (value.lockoutLockAt <= value.lockoutDelayFrom) {
    value.lockoutDelayFrom = defaults.lockoutDelayFrom;
    value.lockoutLockAt = defaults.lockoutLockAt;
  }
  return value;
}

/**
 * The settings in force, read on every request that needs them (one small query) rather than cached in the
 * process, so a change made through another instance counts at once. `session`: the configuration's timeouts,
 * used for what was never saved.
 */
export async function readGeneralSettings(
  db: Queryable,
  session: Config["session"] = SESSION_DEFAULTS,
): Promise<{ value: GeneralSettings; version: number }> {
  return generalSettingsFrom(await settings.readSettings(db, GENERAL_KEY), session);
}

/** The settings in force given the stored document under GENERAL_KEY, read by the caller (undefined: never saved). */
export function generalSettingsFrom(
  stored: settings.StoredSettings<unknown> | undefined,
  session: Config["session"] = SESSION_DEFAULTS,
): { value: GeneralSettings; version: number } {
  const document = stored?.value as Partial<Record<keyof GeneralSettings, unknown>> | null | undefined;
  return { value: effective(document ?? undefined, generalDefaults(session)), version: stored?.version ?? 0 };
}

/** The sign-in throttle's thresholds now in force (services/sign-in.ts). */
export async function readLockoutThresholds(db: Queryable): Promise<LockoutThresholds> {
  const { value } = await readGeneralSettings(db);
  return { delayFrom: value.lockoutDelayFrom, lockAt: value.lockoutLockAt };
}

/** The rules no single field can check: ranges (for callers other than the form) and "lock after the waits begin". */
function checkCombination(value: GeneralSettings, changed: Partial<GeneralSettings>): void {
  const errors: Record<string, string> = {};
  for (const key of NUMBER_SETTINGS) {
    const { label, min, max } = GENERAL_NUMBER_FIELDS[key];
    if (!inRange(key, value[key])) errors[key] = `${label} must be a whole number from ${min} to ${max}.`;
  }
  if (Object.keys(errors).length === 0 && value.lockoutLockAt <= value.lockoutDelayFrom) {
    // Named against the field that was sent: the one the person can change.
    const field = changed.lockoutLockAt !== undefined || changed.lockoutDelayFrom === undefined ? "lockoutLockAt" : "lockoutDelayFrom";
    errors[field] =
      field === "lockoutLockAt"
        ? `Lock after failed sign-ins must be greater than Wait after failed sign-ins (${value.lockoutDelayFrom}).`
        : `Wait after failed sign-ins must be less than Lock after failed sign-ins (${value.lockoutLockAt}).`;
  }
  if (Object.keys(errors).length > 0) throw new ValidationError(errors);
}

/**
 * Saves the settings given over the ones in force (a setting left out keeps its value) if nobody saved since
 * `expectedVersion`, and audits the fields that changed.
 */
export async function saveGeneralSettings(
  db: Db,
  actor: Actor & { id: number },
  actorHasTwoFactor: boolean,
  expectedVersion: number,
  changes: Partial<GeneralSettings>,
  session: Config["session"] = SESSION_DEFAULTS,
): Promise<GeneralSettings> {
  assertCanOnSettings(actor, "change");
  if (changes.requireAdminTwoFactor && !actorHasTwoFactor)
    throw new ValidationError({
      requireAdminTwoFactor:
        "Turn on two-factor authentication for your own account (on your Profile) before requiring it of every administrator.",
    });
  return db.transaction(async (trx) => {
    const before = await readGeneralSettings(trx, session);
    const given = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)) as Partial<GeneralSettings>;
    const value: GeneralSettings = { ...before.value, ...given };
    checkCombination(value, given);
    const saved = await settings.writeSettings(trx, GENERAL_KEY, expectedVersion, value);
    if (!saved) throw new ConflictError(STALE_SETTINGS);
    await recordAudit(trx, actor, {
      action: "settings.general_updated",
      target: { type: "settings", id: "general", label: "General" },
      details: { changes: diffFields<GeneralSettings>(before.value, value, ALL_SETTINGS) },
    });
    return value;
  });
}
