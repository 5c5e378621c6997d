/**
 * The categories of the Logs screen's Category filter: an action's category is what comes before its first dot
 * ("user.created" → user; "sign_out", with no dot, is its own). This list is the one place they are named;
 * an action whose category is not here (a feature added later) is found under "Other".
 */
export const LOG_CATEGORIES = [
  { value: "sign_in", label: "Sign-in" },
  { value: "sign_out", label: "Sign-out" },
  { value: "session", label: "Sessions" },
  { value: "user", label: "Users" },
  { value: "team", label: "Teams" },
  { value: "system", label: "Systems" },
  { value: "group", label: "System groups" },
  { value: "grant", label: "Access grants" },
  { value: "settings", label: "Settings" },
  { value: "password", label: "Passwords" },
  { value: "two_factor", label: "Two-factor authentication" },
  { value: "email", label: "Email" },
  { value: "profile", label: "Profile" },
  { value: "setup", label: "Setup" },
  { value: "api_token", label: "API tokens" },
  { value: "oidc_client", label: "Sign in with Gatehouse" },
  { value: "audit", label: "Log retention" },
  { value: "signing_keys", label: "Signing keys" },
  { value: "directory", label: "Directory (LDAP)" },
] as const;

export const OTHER_CATEGORY = { value: "other", label: "Other" } as const;

/** What the Category select offers, in order; "" (every category) is the form's own first option. */
export const CATEGORY_OPTIONS: readonly { value: string; label: string }[] = [...LOG_CATEGORIES, OTHER_CATEGORY];

export const KNOWN_CATEGORIES: readonly string[] = LOG_CATEGORIES.map((c) => c.value);

/** The category of an action, as the filter and the repository's SQL (split_part) see it. */
export function categoryOf(action: string): string {
  const dot = action.indexOf(".");
  const prefix = dot === -1 ? action : action.slice(0, dot);
  return KNOWN_CATEGORIES.includes(prefix) ? prefix : OTHER_CATEGORY.value;
}

export function categoryLabel(category: string): string {
  return CATEGORY_OPTIONS.find((c) => c.value === category)?.label ?? OTHER_CATEGORY.label;
}

/** Each action the application records, in words. An action not listed here is shown by its code, made readable. */
const ACTION_DESCRIPTIONS: Readonly<Record<string, string>> = {
  "sign_in.succeeded": "Signed in",
  "sign_in.failed": "Sign-in failed",
  "sign_in.password_accepted": "Password accepted; code step next",
  "sign_in.reset_accepted": "Reset code or temporary password accepted",
  "sign_in.second_factor_failed": "Wrong two-factor code at sign-in",
  "sign_in.directory_unavailable": "Sign-in failed: directory unavailable",
  "directory.server_down": "An LDAP server stopped answering: sign-ins skip it for 30 seconds at a time",
  "directory.server_up": "An LDAP server answers again",
  sign_out: "Signed out",
  "session.ended": "Session signed out",
  "session.ended_others": "Other sessions signed out",
  "session.ended_by_admin": "Sessions ended by an administrator",
  "user.created": "User created",
  "user.created_by_directory": "User created at first LDAP sign-in",
  "user.imported": "Users imported from a CSV file",
  "user.updated": "User changed",
  "user.deleted": "User deleted",
  "user.disabled": "User disabled",
  "user.enabled": "User enabled",
  "user.unlocked": "User unlocked",
  "user.linked_to_directory": "User linked to the directory",
  "user.renamed_by_directory": "User renamed by the directory",
  "user.email_removed_as_duplicate": "Duplicate email address removed",
  "user.username_lookalike_found": "Username found to look like another's (at upgrade)",
  "user.list_downloaded": "Users downloaded",
  "team.created": "Team created",
  "team.updated": "Team changed",
  "team.deleted": "Team deleted",
  "team.member_added": "Team member added",
  "team.member_removed": "Team member removed",
  "system.created": "System created",
  "system.updated": "System changed",
  "system.deleted": "System deleted",
  "group.created": "System group created",
  "group.updated": "System group changed",
  "group.deleted": "System group deleted",
  "group.system_added": "System added to a group",
  "group.system_removed": "System removed from a group",
  "grant.added": "Access granted",
  "grant.changed": "Access changed",
  "grant.removed": "Access removed",
  "grant.report_downloaded": "Access report downloaded",
  "settings.general_updated": "General settings changed",
  "settings.smtp_updated": "Alert Services changed",
  "settings.smtp_cleared": "Mail server configuration cleared",
  "settings.ldap_changed": "LDAP settings changed",
  "settings.ldap_server_added": "LDAP server added",
  "settings.ldap_server_changed": "LDAP server changed",
  "settings.ldap_server_removed": "LDAP server removed",
  "settings.ldap_servers_reordered": "LDAP servers reordered",
  "settings.ldap_default_team_added": "LDAP default team added",
  "settings.ldap_default_team_removed": "LDAP default team removed",
  "settings.ldap_group_mapped": "LDAP group mapped to a team",
  "settings.ldap_group_unmapped": "LDAP group mapping removed",
  "settings.logs_updated": "Log retention changed",
  "password.changed": "Password changed",
  "password.reset_requested": "Password reset requested",
  "password.reset_completed": "Password reset completed",
  "password.temporary_issued": "Temporary password issued",
  "two_factor.enabled": "Two-factor authentication turned on",
  "two_factor.disabled": "Two-factor authentication turned off",
  "two_factor.disabled_by_admin": "Two-factor authentication turned off by an administrator",
  "two_factor.code_replayed": "Reused authenticator code refused",
  "two_factor.recovery_code_used": "Recovery code used",
  "two_factor.recovery_codes_regenerated": "New recovery codes made",
  "email.change_requested": "Email change requested",
  "email.change_cancelled": "Email change cancelled",
  "email.verified": "Email address verified",
  "email.code_sent": "Confirmation code sent by an administrator",
  "profile.updated": "Profile changed",
  "setup.administrator_created": "First administrator created",
  "api_token.created": "API token created",
  "api_token.revoked": "API token revoked",
  "api_token.revoked_all": "All API tokens of a user revoked",
  "oidc_client.created": "Sign in with Gatehouse enabled for a system",
  "oidc_client.redirect_uris_changed": "Redirect URIs of a system's sign-in changed",
  "oidc_client.changed": "Addresses of a system's sign-in changed (redirect URIs, back-channel logout)",
  "oidc_client.secret_rotated": "Client secret of a system's sign-in rotated",
  "oidc_client.disabled": "Sign in with Gatehouse disabled for a system",
  "audit.pruned": "Old log events deleted",
  "audit.downloaded": "Log downloaded",
  "signing_keys.rotated": "Signing keys rotated",
  "signing_keys.unreadable_deleted": "Unreadable signing keys deleted",
};

/** "backup.restored" → "Backup restored", for actions with no words of their own. */
function readableCode(action: string): string {
  const words = action.replace(/[._]+/g, " ").trim();
  return words ? words.charAt(0).toUpperCase() + words.slice(1) : action;
}

export function describeAction(action: string): string {
  return ACTION_DESCRIPTIONS[action] ?? readableCode(action);
}
