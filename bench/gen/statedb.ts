// state/openclaw.sqlite: the gateway's shared state. Ownership lease, agents, cron jobs and runs,
// device identities and pairing, channel pairing, delivery queue, channel state, usage; and the
// secret tables: secret_store_entries, device_auth_tokens, mcp_oauth_stores.

import type { DatabaseSync } from "node:sqlite";
import type { Rng } from "../lib/rng.ts";
import { paragraph, sentence, words, FIRST_NAMES } from "./text.ts";

const STATE_SCHEMA = `
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT;
CREATE TABLE gateway_leases (
  name TEXT NOT NULL PRIMARY KEY, owner_id TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
  acquired_at INTEGER NOT NULL, heartbeat_at INTEGER NOT NULL, expires_at INTEGER NOT NULL
) STRICT;
CREATE TABLE agents (
  agent_id TEXT NOT NULL PRIMARY KEY, display_name TEXT NOT NULL, workspace TEXT NOT NULL,
  model TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE cron_jobs (
  job_id TEXT NOT NULL PRIMARY KEY, agent_id TEXT NOT NULL, name TEXT NOT NULL, enabled INTEGER NOT NULL,
  schedule_json TEXT NOT NULL, payload_json TEXT NOT NULL, delivery_json TEXT, state_json TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE cron_runs (
  run_id TEXT NOT NULL PRIMARY KEY, job_id TEXT NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER,
  status TEXT NOT NULL, summary TEXT, error TEXT, usage_json TEXT
) STRICT;
CREATE INDEX cron_runs_job ON cron_runs(job_id, started_at);
CREATE TABLE device_identities (
  device_id TEXT NOT NULL PRIMARY KEY, public_key TEXT NOT NULL, display_name TEXT, platform TEXT,
  created_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL
) STRICT;
CREATE TABLE device_pairing_paired (
  device_id TEXT NOT NULL PRIMARY KEY, role TEXT NOT NULL, scopes_json TEXT NOT NULL, paired_at INTEGER NOT NULL, approved_by TEXT
) STRICT;
CREATE TABLE device_pairing_requests (
  request_id TEXT NOT NULL PRIMARY KEY, device_id TEXT NOT NULL, code TEXT NOT NULL, status TEXT NOT NULL,
  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL
) STRICT;
CREATE TABLE channel_pairing (
  channel TEXT NOT NULL, account_id TEXT NOT NULL, sender_id TEXT NOT NULL, status TEXT NOT NULL, code TEXT,
  meta_json TEXT, created_at INTEGER NOT NULL, approved_at INTEGER,
  PRIMARY KEY (channel, account_id, sender_id)
) STRICT;
CREATE TABLE device_auth_tokens (
  token_id TEXT NOT NULL PRIMARY KEY, device_id TEXT NOT NULL, role TEXT NOT NULL, token TEXT NOT NULL,
  scopes_json TEXT NOT NULL, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER
) STRICT;
CREATE TABLE secret_store_entries (
  scope_kind TEXT NOT NULL, scope_id TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
  allowed_hosts TEXT, created_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL, deleted_at_ms INTEGER,
  PRIMARY KEY (scope_kind, scope_id, name)
) STRICT;
CREATE TABLE mcp_oauth_stores (
  server_id TEXT NOT NULL PRIMARY KEY, store_json TEXT NOT NULL, updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE delivery_queue (
  id INTEGER PRIMARY KEY, channel TEXT NOT NULL, target TEXT NOT NULL, payload_json TEXT NOT NULL,
  status TEXT NOT NULL, attempts INTEGER NOT NULL, created_at INTEGER NOT NULL, sent_at INTEGER
) STRICT;
CREATE INDEX delivery_queue_created ON delivery_queue(created_at);
CREATE TABLE channel_state (
  channel TEXT NOT NULL, account_id TEXT NOT NULL, key TEXT NOT NULL, value_json TEXT NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (channel, account_id, key)
) STRICT;
CREATE TABLE usage_daily (
  day TEXT NOT NULL, agent_id TEXT NOT NULL, model TEXT NOT NULL, input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, PRIMARY KEY (day, agent_id, model)
) STRICT;
`;

function run(db: DatabaseSync, sql: string, ...params: (string | number | null | Uint8Array)[]) {
  return db.prepare(sql).run(...params);
}

export function createStateSchema(db: DatabaseSync, now: number): void {
  db.exec(STATE_SCHEMA);
  for (let v = 1; v <= 12; v++) run(db, "INSERT INTO schema_migrations VALUES (?, ?)", v, now - (13 - v) * 86_400_000 * 5);
  db.exec("PRAGMA user_version = 12");
}

export function seedState(db: DatabaseSync, rng: Rng, agents: string[], now: number): void {
  run(db, "INSERT INTO gateway_leases VALUES ('gateway', ?, ?, 'claw-host', ?, ?, ?)", rng.uuid(), rng.range(1000, 60000), now - 86_400_000, now, now + 30_000);
  for (const id of agents) run(db, "INSERT INTO agents VALUES (?, ?, ?, ?, ?, ?)", id, id === "main" ? "Claw" : id[0]?.toUpperCase() + id.slice(1), id === "main" ? "~/.openclaw/workspace" : `~/.openclaw/workspace-${id}`, "anthropic/claude-opus-4-6", now - 90 * 86_400_000, now);
  for (let i = 0; i < 12; i++) {
    const agent = rng.pick(agents);
    run(db, "INSERT INTO cron_jobs VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)", rng.uuid(), agent, words(rng, rng.range(2, 4)),
      JSON.stringify({ kind: "cron", expr: `${rng.int(60)} ${rng.pick(["*", "7", "9", "18", "*/2", "*/6"])} * * ${rng.pick(["*", "1-5", "0"])}`, tz: "Europe/Lisbon" }),
      JSON.stringify({ kind: "agentTurn", message: sentence(rng), thinking: "low" }),
      JSON.stringify({ mode: "announce", channel: rng.pick(["telegram", "whatsapp"]), to: `+1555${rng.range(1000000, 9999999)}` }),
      JSON.stringify({ nextRunAtMs: now + rng.int(86_400_000), lastRunAtMs: now - rng.int(86_400_000), lastStatus: "ok", consecutiveErrors: 0 }),
      now - rng.int(60) * 86_400_000, now);
  }
  for (let i = 0; i < 5; i++) {
    const dev = rng.hex(64);
    run(db, "INSERT INTO device_identities VALUES (?, ?, ?, ?, ?, ?)", dev, rng.bytes(32).toString("base64url"), `${rng.pick(FIRST_NAMES)}'s ${rng.pick(["iPhone", "MacBook", "Pixel", "iPad"])}`, rng.pick(["ios", "macos", "android"]), now - rng.int(80) * 86_400_000, now - rng.int(3) * 86_400_000);
    run(db, "INSERT INTO device_pairing_paired VALUES (?, ?, ?, ?, ?)", dev, rng.pick(["operator", "node"]), JSON.stringify(["operator.read", "operator.write"]), now - rng.int(80) * 86_400_000, "cli");
    run(db, "INSERT INTO device_auth_tokens VALUES (?, ?, ?, ?, ?, ?, ?, NULL)", rng.uuid(), dev, "operator", rng.bytes(32).toString("base64url"), JSON.stringify(["operator.read", "operator.write"]), now - rng.int(20) * 86_400_000, now + 30 * 86_400_000);
  }
  for (const ch of ["telegram", "whatsapp", "discord"]) {
    for (let i = 0; i < 4; i++) run(db, "INSERT INTO channel_pairing VALUES (?, 'default', ?, ?, ?, ?, ?, ?)", ch, String(rng.range(1e6, 9e9)), rng.pick(["approved", "approved", "pending"]), rng.base62(8).toUpperCase(), JSON.stringify({ name: rng.pick(FIRST_NAMES) }), now - rng.int(60) * 86_400_000, now - rng.int(50) * 86_400_000);
  }
  const secrets = [
    ["team", "", "TELEGRAM_BOT_TOKEN", `${rng.range(1e9, 9e9)}:${rng.base62(35)}`],
    ["team", "", "BRAVE_API_KEY", `BSA${rng.base62(28)}`],
    ["team", "", "B2_APPLICATION_KEY", `K005${rng.base62(27)}`],
    ["agent", "main", "GITHUB_TOKEN", `ghp_${rng.base62(36)}`],
    ["agent", "main", "github-connection", JSON.stringify({ login: "user", token: `gho_${rng.base62(36)}` })],
  ] as const;
  for (const [kind, scope, name, value] of secrets) run(db, "INSERT INTO secret_store_entries VALUES (?, ?, ?, 'secret', ?, ?, ?, ?, NULL)", kind, scope, name, value, "[]", now - 40 * 86_400_000, now - rng.int(40) * 86_400_000);
  for (const server of ["linear", "notion", "google-calendar"]) run(db, "INSERT INTO mcp_oauth_stores VALUES (?, ?, ?)", server, mcpStore(rng, now), now);
  for (const ch of ["telegram", "whatsapp", "discord"]) run(db, "INSERT INTO channel_state VALUES (?, 'default', 'cursor', ?, ?)", ch, JSON.stringify({ offset: rng.range(1e6, 9e8), lastEventAt: now }), now);
}

function mcpStore(rng: Rng, now: number): string {
  return JSON.stringify({ clientInformation: { client_id: rng.uuid(), client_secret: rng.base62(40) }, tokens: { access_token: rng.base62(120), refresh_token: rng.base62(60), expires_at: now + 3_600_000, token_type: "Bearer" } });
}

/** Cron runs and deliveries over [from, to): the background traffic of a day. */
export function cronTraffic(db: DatabaseSync, rng: Rng, from: number, to: number, runsPerDay: number, deliveriesPerDay: number): void {
  const jobs = (db.prepare("SELECT job_id FROM cron_jobs WHERE enabled = 1 ORDER BY job_id").all() as { job_id: string }[]).map((j) => j.job_id);
  const days = (to - from) / 86_400_000;
  const insRun = db.prepare("INSERT INTO cron_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  for (let i = Math.round(runsPerDay * days); i > 0 && jobs.length > 0; i--) {
    const t = from + rng.int(to - from);
    const ok = rng.chance(0.95);
    insRun.run(rng.uuid(), rng.pick(jobs), t, t + rng.range(2000, 90_000), ok ? "ok" : "error", ok ? paragraph(rng, rng.range(1, 3)) : null, ok ? null : sentence(rng), JSON.stringify({ input: rng.range(1000, 40000), output: rng.range(50, 2000) }));
  }
  const insDel = db.prepare("INSERT INTO delivery_queue (channel, target, payload_json, status, attempts, created_at, sent_at) VALUES (?, ?, ?, 'sent', ?, ?, ?)");
  for (let i = Math.round(deliveriesPerDay * days); i > 0; i--) {
    const t = from + rng.int(to - from);
    insDel.run(rng.pick(["telegram", "whatsapp", "discord", "slack"]), String(rng.range(1e6, 9e9)), JSON.stringify({ text: paragraph(rng, rng.range(1, 4)), replyTo: rng.hex(12) }), rng.range(1, 2), t, t + rng.range(100, 5000));
  }
}

/** The day's small updates: lease heartbeat, job state, a token rotation, channel cursors, usage. */
export function dailyStateUpdates(db: DatabaseSync, rng: Rng, agents: string[], day: string, now: number): void {
  run(db, "UPDATE gateway_leases SET heartbeat_at = ?, expires_at = ?", now, now + 30_000);
  const jobs = db.prepare("SELECT job_id, state_json FROM cron_jobs ORDER BY job_id").all() as { job_id: string; state_json: string }[];
  for (const j of jobs) {
    const st = JSON.parse(j.state_json) as Record<string, unknown>;
    st.lastRunAtMs = now - rng.int(3_600_000);
    st.nextRunAtMs = now + rng.int(86_400_000);
    run(db, "UPDATE cron_jobs SET state_json = ?, updated_at = ? WHERE job_id = ?", JSON.stringify(st), now, j.job_id);
  }
  const tok = db.prepare("SELECT token_id FROM device_auth_tokens WHERE revoked_at IS NULL ORDER BY issued_at, token_id LIMIT 1").get() as { token_id: string } | undefined;
  if (tok) {
    const old = db.prepare("SELECT device_id, role, scopes_json FROM device_auth_tokens WHERE token_id = ?").get(tok.token_id) as { device_id: string; role: string; scopes_json: string };
    run(db, "UPDATE device_auth_tokens SET revoked_at = ? WHERE token_id = ?", now, tok.token_id);
    run(db, "INSERT INTO device_auth_tokens VALUES (?, ?, ?, ?, ?, ?, ?, NULL)", rng.uuid(), old.device_id, old.role, rng.bytes(32).toString("base64url"), old.scopes_json, now, now + 30 * 86_400_000);
  }
  if (rng.chance(0.3)) {
    const server = rng.pick(["linear", "notion", "google-calendar"]);
    run(db, "UPDATE mcp_oauth_stores SET store_json = ?, updated_at = ? WHERE server_id = ?", mcpStore(rng, now), now, server);
  }
  for (const ch of ["telegram", "whatsapp", "discord"]) run(db, "UPDATE channel_state SET value_json = ?, updated_at = ? WHERE channel = ?", JSON.stringify({ offset: rng.range(1e6, 9e8), lastEventAt: now }), now, ch);
  for (const a of agents) {
    for (const model of ["claude-opus-4-6", "claude-sonnet-4-6"]) run(db, "INSERT OR REPLACE INTO usage_daily VALUES (?, ?, ?, ?, ?, ?)", day, a, model, rng.range(1e4, 2e6), rng.range(1e3, 2e5), Math.round(rng.next() * 4000) / 100);
  }
  if (rng.chance(0.2)) run(db, "INSERT INTO device_pairing_requests VALUES (?, ?, ?, 'pending', ?, ?)", rng.uuid(), rng.hex(64), rng.base62(6).toUpperCase(), now, now + 3_600_000);
  // Old deliveries and runs are trimmed, as the gateway's retention does.
  run(db, "DELETE FROM delivery_queue WHERE created_at < ?", now - 21 * 86_400_000);
  run(db, "DELETE FROM cron_runs WHERE started_at < ?", now - 45 * 86_400_000);
}
