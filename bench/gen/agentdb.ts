// agents/<id>/agent/openclaw-agent.sqlite: session windows, transcript events, session nodes and
// conversations, memory files and chunks (embedding blobs + an FTS5 index), compactions, VFS
// scratch entries, and the auth profile store (secret).

import type { DatabaseSync } from "node:sqlite";
import type { Rng } from "../lib/rng.ts";
import { markdown, paragraph, sentence, word, FIRST_NAMES } from "./text.ts";
import { compactionEvent, sessionHeader, turn, type SessionCursor, type TranscriptEvent } from "./transcript.ts";

const EMBEDDING_DIMS = 768;
const EMBEDDING_MODEL = "embeddinggemma-300m";

const AGENT_SCHEMA = `
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT;
CREATE TABLE session_windows (
  session_id TEXT NOT NULL PRIMARY KEY,
  session_key TEXT NOT NULL,
  previous_session_id TEXT,
  reason TEXT CHECK (reason IS NULL OR reason IN ('initial', 'reset', 'rollover', 'fork', 'rewind', 'switch', 'recovery', 'compaction')),
  session_scope TEXT NOT NULL DEFAULT 'conversation' CHECK (session_scope IN ('conversation', 'shared-main', 'group', 'channel')),
  channel TEXT,
  chat_type TEXT,
  display_name TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  transcript_updated_at INTEGER,
  ended_at INTEGER,
  archived_path TEXT
) STRICT;
CREATE INDEX session_windows_key ON session_windows(session_key, created_at);
CREATE TABLE transcript_events (
  session_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  event_json TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (session_id, seq),
  FOREIGN KEY (session_id) REFERENCES session_windows(session_id) ON DELETE CASCADE
) STRICT;
CREATE TABLE session_nodes (
  session_key TEXT NOT NULL PRIMARY KEY,
  current_session_id TEXT NOT NULL,
  entry_json TEXT NOT NULL,
  label TEXT,
  display_name TEXT,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE conversations (
  conversation_id TEXT NOT NULL PRIMARY KEY,
  channel TEXT NOT NULL,
  kind TEXT NOT NULL,
  peer_id TEXT NOT NULL,
  delivery_target TEXT NOT NULL,
  label TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE session_conversations (
  session_id TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  role TEXT NOT NULL,
  last_seen_at INTEGER NOT NULL,
  PRIMARY KEY (session_id, conversation_id)
) STRICT;
CREATE TABLE session_compactions (
  id INTEGER PRIMARY KEY,
  session_id TEXT NOT NULL,
  next_session_id TEXT NOT NULL,
  archived_path TEXT NOT NULL,
  events INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  tokens_before INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE memory_files (
  path TEXT NOT NULL PRIMARY KEY,
  source TEXT NOT NULL DEFAULT 'memory',
  hash TEXT NOT NULL,
  mtime INTEGER NOT NULL,
  size INTEGER NOT NULL
) STRICT;
CREATE TABLE memory_chunks (
  id TEXT NOT NULL PRIMARY KEY,
  path TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT 'memory',
  start_line INTEGER NOT NULL,
  end_line INTEGER NOT NULL,
  hash TEXT NOT NULL,
  model TEXT NOT NULL,
  text TEXT NOT NULL,
  embedding BLOB NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX memory_chunks_path ON memory_chunks(path);
CREATE VIRTUAL TABLE memory_chunks_fts USING fts5(text, path UNINDEXED, content='memory_chunks', content_rowid='rowid');
CREATE TRIGGER memory_chunks_ai AFTER INSERT ON memory_chunks BEGIN
  INSERT INTO memory_chunks_fts(rowid, text, path) VALUES (new.rowid, new.text, new.path);
END;
CREATE TRIGGER memory_chunks_ad AFTER DELETE ON memory_chunks BEGIN
  INSERT INTO memory_chunks_fts(memory_chunks_fts, rowid, text, path) VALUES ('delete', old.rowid, old.text, old.path);
END;
CREATE TRIGGER memory_chunks_au AFTER UPDATE ON memory_chunks BEGIN
  INSERT INTO memory_chunks_fts(memory_chunks_fts, rowid, text, path) VALUES ('delete', old.rowid, old.text, old.path);
  INSERT INTO memory_chunks_fts(rowid, text, path) VALUES (new.rowid, new.text, new.path);
END;
CREATE TABLE vfs_entries (
  path TEXT NOT NULL PRIMARY KEY,
  session_id TEXT,
  content BLOB NOT NULL,
  mime TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE auth_profile_store (
  store_key TEXT NOT NULL PRIMARY KEY,
  store_json TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE kv (key TEXT NOT NULL PRIMARY KEY, value_json TEXT NOT NULL, updated_at INTEGER NOT NULL) STRICT;
`;

const CHANNELS = [
  { channel: "telegram", kind: "direct", scope: "conversation" },
  { channel: "whatsapp", kind: "direct", scope: "conversation" },
  { channel: "discord", kind: "channel", scope: "channel" },
  { channel: "slack", kind: "group", scope: "group" },
  { channel: "webchat", kind: "direct", scope: "shared-main" },
  { channel: "cron", kind: "direct", scope: "conversation" },
] as const;

export interface AgentCtx {
  db: DatabaseSync;
  agentId: string;
  cwd: string;
}

function run(db: DatabaseSync, sql: string, ...params: (string | number | null | Uint8Array)[]) {
  return db.prepare(sql).run(...params);
}

export function createAgentSchema(db: DatabaseSync, now: number): void {
  db.exec(AGENT_SCHEMA);
  for (let v = 1; v <= 7; v++) run(db, "INSERT INTO schema_migrations VALUES (?, ?)", v, now - (8 - v) * 86_400_000 * 9);
  db.exec("PRAGMA user_version = 7");
}

/** Start a new session window for `sessionKey` (a new key if null). Returns its cursor. */
export function startSession(ctx: AgentCtx, rng: Rng, now: number, sessionKey: string | null, reason: "initial" | "reset" | "compaction", previous: string | null): SessionCursor {
  const { db, agentId } = ctx;
  const sessionId = rng.uuid();
  let key = sessionKey;
  const ch = rng.pick(CHANNELS);
  if (!key) {
    const peer = ch.channel === "telegram" ? String(rng.range(10_000_000, 999_999_999)) : ch.channel === "whatsapp" ? `+${rng.range(10_000_000_000, 99_999_999_999)}` : `${ch.channel}:${rng.hex(10)}`;
    key = `agent:${agentId}:${ch.channel}:${ch.kind}:${peer}`;
    const conversationId = rng.uuid();
    const label = `${rng.pick(FIRST_NAMES)} (${ch.channel})`;
    run(db, "INSERT INTO conversations VALUES (?, ?, ?, ?, ?, ?, ?, ?)", conversationId, ch.channel, ch.kind, peer, `${ch.channel}:${peer}`, label, now, now);
    run(db, "INSERT INTO kv VALUES (?, ?, ?)", `conversation-of:${key}`, JSON.stringify({ conversationId }), now);
  }
  const conv = db.prepare("SELECT value_json FROM kv WHERE key = ?").get(`conversation-of:${key}`) as { value_json: string } | undefined;
  const conversationId = conv ? (JSON.parse(conv.value_json) as { conversationId: string }).conversationId : rng.uuid();
  const convRow = db.prepare("SELECT channel, kind, label FROM conversations WHERE conversation_id = ?").get(conversationId) as { channel: string; kind: string; label: string } | undefined;
  const channel = convRow?.channel ?? ch.channel;
  run(db, "INSERT INTO session_windows (session_id, session_key, previous_session_id, reason, session_scope, channel, chat_type, display_name, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    sessionId, key, previous, reason, CHANNELS.find((c) => c.channel === channel)?.scope ?? "conversation", channel, convRow?.kind ?? ch.kind, convRow?.label ?? null, now, now);
  run(db, "INSERT OR REPLACE INTO session_conversations VALUES (?, ?, 'primary', ?)", sessionId, conversationId, now);
  const entry = { sessionId, updatedAt: now, chatType: convRow?.kind ?? ch.kind, lastChannel: channel, lastTo: `${channel}:${rng.hex(8)}`, origin: { provider: channel, surface: channel, label: convRow?.label ?? null }, model: "claude-opus-4-6", thinkingLevel: rng.pick(["low", "medium", "high"]), totalTokens: 0, compactionCount: 0 };
  run(db, "INSERT INTO session_nodes VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(session_key) DO UPDATE SET current_session_id = excluded.current_session_id, entry_json = excluded.entry_json, updated_at = excluded.updated_at",
    key, sessionId, JSON.stringify(entry), convRow?.label ?? null, convRow?.label ?? null, now);
  const cur: SessionCursor = { sessionId, lastId: null, nextSeq: 0, now, cwd: ctx.cwd };
  insertEvents(ctx, cur, [sessionHeader(rng, cur)]);
  return cur;
}

function insertEvents(ctx: AgentCtx, cur: SessionCursor, events: TranscriptEvent[]): number {
  const ins = ctx.db.prepare("INSERT INTO transcript_events (session_id, seq, event_json, created_at) VALUES (?, ?, ?, ?)");
  let bytes = 0;
  for (const ev of events) {
    ins.run(cur.sessionId, cur.nextSeq++, ev.json, ev.createdAt);
    bytes += ev.json.length;
  }
  return bytes;
}

/** Append turns to a session until about `bytes` of event JSON were written, or `until` ms is reached. */
export function appendTurns(ctx: AgentCtx, rng: Rng, cur: SessionCursor, bytes: number, until = Infinity): number {
  let written = 0;
  while (written < bytes && cur.now < until) written += insertEvents(ctx, cur, turn(rng, cur));
  const tokens = Math.round(written / 4);
  run(ctx.db, "UPDATE session_windows SET updated_at = ?, transcript_updated_at = ? WHERE session_id = ?", cur.now, cur.now, cur.sessionId);
  const node = ctx.db.prepare("SELECT session_key, entry_json FROM session_nodes WHERE current_session_id = ?").get(cur.sessionId) as { session_key: string; entry_json: string } | undefined;
  if (node) {
    const entry = JSON.parse(node.entry_json) as Record<string, number | string>;
    entry.updatedAt = cur.now;
    entry.totalTokens = Number(entry.totalTokens ?? 0) + tokens;
    run(ctx.db, "UPDATE session_nodes SET entry_json = ?, updated_at = ? WHERE session_key = ?", JSON.stringify(entry), cur.now, node.session_key);
  }
  run(ctx.db, "UPDATE session_conversations SET last_seen_at = ? WHERE session_id = ?", cur.now, cur.sessionId);
  return written;
}

/** Reopen the cursor of an existing session (for a later day). */
export function resumeSession(ctx: AgentCtx, sessionId: string, now: number): SessionCursor {
  const last = ctx.db.prepare("SELECT seq, event_json FROM transcript_events WHERE session_id = ? ORDER BY seq DESC LIMIT 1").get(sessionId) as { seq: number; event_json: string } | undefined;
  const lastId = last ? ((JSON.parse(last.event_json) as { id?: string }).id ?? null) : null;
  return { sessionId, lastId, nextSeq: last ? Number(last.seq) + 1 : 0, now, cwd: ctx.cwd };
}

/**
 * Archive a session window: its events become a JSONL file (returned, for the caller to compress
 * into sessions/cold/), its rows leave `transcript_events`. With `continueKey`, a new window with a
 * compaction summary replaces it as the key's current session.
 */
export function archiveSession(ctx: AgentCtx, rng: Rng, sessionId: string, now: number, archivedPath: string, compact: boolean): { jsonl: string; events: number; next?: SessionCursor } {
  const { db } = ctx;
  const rows = db.prepare("SELECT event_json FROM transcript_events WHERE session_id = ? ORDER BY seq").all(sessionId) as { event_json: string }[];
  const jsonl = rows.map((r) => r.event_json).join("\n") + "\n";
  run(db, "DELETE FROM transcript_events WHERE session_id = ?", sessionId);
  run(db, "UPDATE session_windows SET ended_at = ?, archived_path = ?, updated_at = ? WHERE session_id = ?", now, archivedPath, now, sessionId);
  let next: SessionCursor | undefined;
  if (compact) {
    const w = db.prepare("SELECT session_key FROM session_windows WHERE session_id = ?").get(sessionId) as { session_key: string };
    next = startSession(ctx, rng, now, w.session_key, "compaction", sessionId);
    const tokensBefore = Math.round(jsonl.length / 4);
    insertEvents(ctx, next, [compactionEvent(rng, next, sessionId, tokensBefore)]);
    run(db, "INSERT INTO session_compactions (session_id, next_session_id, archived_path, events, bytes, tokens_before, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", sessionId, next.sessionId, archivedPath, rows.length, jsonl.length, tokensBefore, now);
  }
  return { jsonl, events: rows.length, ...(next ? { next } : {}) };
}

// ---- memory ----

function chunkText(rng: Rng): string {
  return rng.chance(0.7) ? markdown(rng, rng.size(900, 0.4, 200, 2400)) : paragraph(rng, rng.range(3, 9));
}

export function insertChunk(ctx: AgentCtx, rng: Rng, path: string, source: string, line: number, now: number): void {
  const text = chunkText(rng);
  const lines = text.split("\n").length;
  run(ctx.db, "INSERT INTO memory_chunks (id, path, source, start_line, end_line, hash, model, text, embedding, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    rng.hex(32), path, source, line, line + lines, rng.hex(64), EMBEDDING_MODEL, text, rng.embedding(EMBEDDING_DIMS), now);
}

/** Insert a memory file with its chunks. Returns the number of chunks. */
export function indexMemoryFile(ctx: AgentCtx, rng: Rng, path: string, source: string, chunks: number, now: number): number {
  let line = 1;
  for (let i = 0; i < chunks; i++) {
    insertChunk(ctx, rng, path, source, line, now);
    line += rng.range(8, 40);
  }
  run(ctx.db, "INSERT OR REPLACE INTO memory_files VALUES (?, ?, ?, ?, ?)", path, source, rng.hex(64), now, chunks * 1100);
  return chunks;
}

/** Re-embed `n` chunks (as after a memory file edit): new text, new vector. */
export function updateChunks(ctx: AgentCtx, rng: Rng, n: number, now: number): void {
  const total = (ctx.db.prepare("SELECT count(*) AS n FROM memory_chunks").get() as { n: number }).n;
  if (total === 0) return;
  const sel = ctx.db.prepare("SELECT rowid AS r, path FROM memory_chunks LIMIT 1 OFFSET ?");
  const upd = ctx.db.prepare("UPDATE memory_chunks SET text = ?, hash = ?, embedding = ?, updated_at = ? WHERE rowid = ?");
  const touchFile = ctx.db.prepare("UPDATE memory_files SET hash = ?, mtime = ? WHERE path = ?");
  // Edits cluster in a few files, as when a handful of notes are edited in a day.
  for (let i = 0; i < n; ) {
    const start = rng.int(total);
    const run = Math.min(n - i, rng.range(1, 6));
    for (let k = 0; k < run; k++) {
      const row = sel.get((start + k) % total) as { r: number; path: string } | undefined;
      if (!row) continue;
      upd.run(chunkText(rng), rng.hex(64), rng.embedding(EMBEDDING_DIMS), now, row.r);
      touchFile.run(rng.hex(64), now, row.path);
    }
    i += run;
  }
}

export function deleteChunks(ctx: AgentCtx, rng: Rng, n: number): void {
  const total = (ctx.db.prepare("SELECT count(*) AS n FROM memory_chunks").get() as { n: number }).n;
  const sel = ctx.db.prepare("SELECT rowid AS r FROM memory_chunks LIMIT 1 OFFSET ?");
  const del = ctx.db.prepare("DELETE FROM memory_chunks WHERE rowid = ?");
  for (let i = 0; i < n && total - i > 10; i++) {
    const row = sel.get(rng.int(total - i)) as { r: number } | undefined;
    if (row) del.run(row.r);
  }
}

// ---- small tables ----

export function authProfiles(rng: Rng, now: number): string {
  return JSON.stringify({
    version: 1,
    profiles: {
      "anthropic:default": { type: "api_key", provider: "anthropic", key: `sk-ant-api03-${rng.base62(86)}AA` },
      "openai:default": { type: "oauth", provider: "openai-codex", access: rng.base62(180), refresh: rng.base62(64), expires: now + 86_400_000 * 10, accountId: rng.uuid() },
    },
    lastGood: { anthropic: "anthropic:default" },
    usageStats: { "anthropic:default": { lastUsed: now, errorCount: 0 } },
  });
}

export function vfsEntry(ctx: AgentCtx, rng: Rng, sessionId: string | null, now: number): void {
  const text = rng.chance(0.5);
  const content = text ? Buffer.from(markdown(rng, rng.size(3000, 0.8, 200, 30_000))) : rng.bytes(rng.size(20_000, 0.8, 1000, 200_000));
  run(ctx.db, "INSERT OR REPLACE INTO vfs_entries VALUES (?, ?, ?, ?, ?)", `/scratch/${word(rng)}-${rng.hex(6)}.${text ? "md" : "png"}`, sessionId, content, text ? "text/markdown" : "image/png", now);
}

export function kvNote(ctx: AgentCtx, rng: Rng, now: number): void {
  run(ctx.db, "INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", `heartbeat:${ctx.agentId}`, JSON.stringify({ lastRunAt: now, note: sentence(rng) }), now);
}
