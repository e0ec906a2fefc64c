// Where OpenClaw keeps per-machine secrets inside its databases: the tables and rows that its own
// `openclaw backup git create --exclude-secrets` leaves out. Copied from OpenClaw 2026.9.6
// (src/state/secret-state-tables.ts: STATE_SECRET_TABLE_NAMES, STATE_SECRET_CONFIG_STATE_KEY_PREFIXES,
// AGENT_SECRET_TABLE_NAMES), which does not export them through its plugin SDK;
// test/openclaw/secrets/secret-state.test.ts compares this list with the installed OpenClaw's, so
// an upgrade that adds a table is noticed.

/** Secret tables of the global database, state/openclaw.sqlite. */
export const GLOBAL_SECRET_TABLES: readonly string[] = [
  "apns_registrations",
  "audit_identity_keys",
  "channel_ingress_events",
  "channel_pairing_requests",
  "clawhub_promotion_claims",
  "config_revision_keys",
  "device_auth_tokens",
  "device_bootstrap_tokens",
  "device_identities",
  "device_pairing_join_codes",
  "device_pairing_paired",
  "gateway_origin_device_tokens",
  "mcp_oauth_pending_authorizations",
  "mcp_oauth_stores",
  "native_hook_relay_bridges",
  "secret_store_entries",
  "web_push_subscriptions",
  "worker_environment_credentials",
];

/** The global database's table of machine state, some of whose rows (by key prefix) are secret. */
export const MACHINE_STATE_TABLE = "config_machine_state";
const MACHINE_STATE_KEY_COLUMN = "state_key";
export const SECRET_MACHINE_STATE_KEY_PREFIXES: readonly string[] = ["authProfiles.", "nodeHost.", "webPush.vapidKeys"];

/** Secret tables of each agent's database, agents/<id>/agent/openclaw-agent.sqlite. */
export const AGENT_SECRET_TABLES: readonly string[] = ["auth_profile_state", "auth_profile_store", "session_suggestions"];

export type DatabaseKind = "global" | "agent";

/** Which of OpenClaw's databases the file at `relPath` (relative to the state folder) is, if any. */
export function databaseKind(relPath: string): DatabaseKind | undefined {
  if (relPath === "state/openclaw.sqlite") return "global";
  if (/^agents\/[^/]+\/agent\/openclaw-agent\.sqlite$/.test(relPath)) return "agent";
  return undefined;
}

export function secretTables(kind: DatabaseKind): readonly string[] {
  return kind === "global" ? GLOBAL_SECRET_TABLES : AGENT_SECRET_TABLES;
}

/** SQL condition on `state_key` matching the secret rows of config_machine_state (LIKE is case-insensitive: substr is not). */
export function secretMachineStateCondition(): string {
  return SECRET_MACHINE_STATE_KEY_PREFIXES.map((p) => `substr(${MACHINE_STATE_KEY_COLUMN}, 1, ${p.length}) = '${p.replaceAll("'", "''")}'`).join(" OR ");
}

/** The value of this version of the lists, part of the commit scrub's id. */
export const SECRET_STATE_VERSION = "openclaw-2026.9.6";
