// The generator: `generateInit` writes an OpenClaw 2026.9-shaped state directory, `simulateDay`
// advances it by one day of use. Same seed and same sequence of calls → same bytes.

import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { zstdCompressSync } from "node:zlib";
import { Rng } from "../lib/rng.ts";
import { closeLeavingWal } from "../lib/sqlite-live.ts";
import {
  appendTurns,
  archiveSession,
  authProfiles,
  createAgentSchema,
  deleteChunks,
  indexMemoryFile,
  insertChunk,
  kvNote,
  resumeSession,
  startSession,
  updateChunks,
  vfsEntry,
  type AgentCtx,
} from "./agentdb.ts";
import { configJson, initExtensions, initMedia, initSmallFiles, maybeUpdatePlugin, mediaDay, preKey, tmpChurn, whatsappCreds } from "./files.ts";
import { AGENT_NAMES, DAILY, DAY_MS, META_FILE, SHARES, agentCount, agentWeights, dayStart, readMeta, writeAt, writeMeta, type GenMeta } from "./plan.ts";
import { createStateSchema, cronTraffic, dailyStateUpdates, seedState } from "./statedb.ts";
import { dateOnly } from "./text.ts";
import { sessionHeader, turn, type SessionCursor } from "./transcript.ts";
import { initWorkspace, listFiles, workspaceDay } from "./workspace.ts";

export { readMeta, type GenMeta } from "./plan.ts";

const HOUR = 3_600_000;
/** Bytes of SQLite file per byte of event JSON (row headers, the primary-key index, page slack). */
const TRANSCRIPT_OVERHEAD = 1.12;
/** Bytes of SQLite file per memory chunk (text, 768-dim float32 embedding, FTS5 index, indexes). */
const CHUNK_BYTES = 5600;

export interface InitOptions {
  sizeBytes?: number;
  seed?: string;
  log?: (msg: string) => void;
}

function statePath(root: string): string {
  return join(root, "state", "openclaw.sqlite");
}
function agentDbPath(root: string, agent: string): string {
  return join(root, "agents", agent, "agent", "openclaw-agent.sqlite");
}
function coldDir(root: string, agent: string): string {
  return join(root, "agents", agent, "sessions", "cold");
}
function cwdOf(agent: string): string {
  return agent === "main" ? "/home/claw/.openclaw/workspace" : `/home/claw/.openclaw/workspace-${agent}`;
}

function trafficRates(sizeBytes: number): { runs: number; deliveries: number } {
  const budget = sizeBytes * SHARES.stateDb;
  return { runs: Math.max(8, Math.round((budget * 0.3) / (45 * 900))), deliveries: Math.max(15, Math.round((budget * 0.7) / (21 * 700))) };
}

function openDb(path: string): DatabaseSync {
  mkdirSync(join(path, ".."), { recursive: true });
  const db = new DatabaseSync(path);
  db.exec("PRAGMA busy_timeout = 5000");
  return db;
}

function tx<T>(db: DatabaseSync, fn: () => T): T {
  db.exec("BEGIN");
  try {
    const r = fn();
    db.exec("COMMIT");
    return r;
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
}

function writeCold(root: string, agent: string, sessionId: string, jsonl: string, mtime: number): number {
  const data = zstdCompressSync(Buffer.from(jsonl));
  writeAt(join(coldDir(root, agent), `${sessionId}.jsonl.zst`), data, mtime);
  return data.length;
}

export async function generateInit(root: string, opts: InitOptions = {}): Promise<GenMeta> {
  const sizeBytes = opts.sizeBytes ?? 500 * 1024 * 1024;
  const seed = opts.seed ?? "clawback";
  const log = opts.log ?? (() => {});
  if (existsSync(root) && readdirSync(root).length > 0) throw new Error(`${root} exists and is not empty`);
  mkdirSync(root, { recursive: true });
  const rng = new Rng(seed, "init");
  const agents = AGENT_NAMES.slice(0, agentCount(sizeBytes));
  const weights = agentWeights(agents);
  const now = dayStart(0) + 22 * HOUR;

  // The workspace first: it spawns git, which is cheaper while this process is still small.
  initWorkspace(join(root, "workspace"), rng.fork("workspace"), sizeBytes * SHARES.workspaceText, sizeBytes * SHARES.attachments, now);

  // Shared state database.
  {
    const r = rng.fork("state");
    const db = openDb(statePath(root));
    db.exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF");
    const rates = trafficRates(sizeBytes);
    tx(db, () => {
      createStateSchema(db, now);
      seedState(db, r, agents, now);
      cronTraffic(db, r, now - 45 * DAY_MS, now - HOUR, rates.runs, 0);
      cronTraffic(db, r, now - 21 * DAY_MS, now - HOUR, 0, rates.deliveries);
    });
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL");
    tx(db, () => dailyStateUpdates(db, r, agents, dateOnly(now), now));
    closeLeavingWal(db, statePath(root), `${seed}/state/0`);
    log("state database written");
  }

  // Agent databases and cold archives.
  agents.forEach((agent, i) => {
    const r = rng.fork(`agent/${agent}`);
    const w = weights[i] ?? 0;
    const path = agentDbPath(root, agent);
    const db = openDb(path);
    db.exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF");
    const ctx: AgentCtx = { db, agentId: agent, cwd: cwdOf(agent) };
    const dbBudget = sizeBytes * SHARES.agentDbs * w;
    tx(db, () => {
      createAgentSchema(db, now);
      db.prepare("INSERT INTO auth_profile_store VALUES ('primary', ?, ?)").run(authProfiles(r, now), now);
      // Cold archives first (older history): session windows whose events live in sessions/cold/.
      let cold = 0;
      const coldBudget = sizeBytes * SHARES.cold * w;
      let t = now - 90 * DAY_MS;
      while (cold < coldBudget) {
        const cur = startSession(ctx, r, t, null, "initial", null);
        db.prepare("DELETE FROM transcript_events WHERE session_id = ?").run(cur.sessionId);
        const events = [sessionHeader(r, cur).json];
        const target = r.size(150_000, 0.9, 5_000, 3_000_000);
        let len = 0;
        while (len < target) for (const ev of turn(r, cur)) (events.push(ev.json), (len += ev.json.length));
        const archived = `sessions/cold/${cur.sessionId}.jsonl.zst`;
        db.prepare("UPDATE session_windows SET ended_at = ?, archived_path = ?, updated_at = ? WHERE session_id = ?").run(cur.now, archived, cur.now, cur.sessionId);
        cold += writeCold(root, agent, cur.sessionId, events.join("\n") + "\n", cur.now);
        t += r.int(DAY_MS);
      }
    });
    // Hot sessions over the last 30 days.
    const transcriptBudget = (dbBudget * 0.7) / TRANSCRIPT_OVERHEAD;
    let written = 0;
    const keys: string[] = [];
    let t = now - 30 * DAY_MS;
    const step = (30 * DAY_MS) / Math.max(1, transcriptBudget / 150_000);
    while (written < transcriptBudget) {
      tx(db, () => {
        const reuse = keys.length > 0 && r.chance(0.6);
        const cur = startSession(ctx, r, t, reuse ? r.pick(keys) : null, reuse ? "reset" : "initial", null);
        if (!reuse) keys.push((db.prepare("SELECT session_key FROM session_windows WHERE session_id = ?").get(cur.sessionId) as { session_key: string }).session_key);
        written += appendTurns(ctx, r, cur, r.size(150_000, 0.9, 3_000, 3_000_000), now - HOUR);
      });
      t = Math.min(now - 2 * HOUR, t + r.int(2 * step));
    }
    // Memory: files of chunks with embeddings.
    const chunks = Math.max(20, Math.round((dbBudget * 0.3) / CHUNK_BYTES));
    tx(db, () => {
      let made = 0;
      let k = 0;
      while (made < chunks) {
        const path = k === 0 ? "MEMORY.md" : r.chance(0.7) ? `memory/${dateOnly(now - (k % 90) * DAY_MS)}${k >= 90 ? `-${k}` : ""}.md` : `sessions/${r.uuid()}.jsonl`;
        made += indexMemoryFile(ctx, r, path, path.startsWith("sessions/") ? "sessions" : "memory", Math.min(chunks - made, r.range(3, 30)), now - r.int(60) * DAY_MS);
        k++;
      }
      for (let v = 0; v < 6; v++) vfsEntry(ctx, r, null, now - r.int(10) * DAY_MS);
    });
    // The last hour: a live gateway in WAL mode.
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL");
    tx(db, () => {
      const last = db.prepare("SELECT current_session_id AS id FROM session_nodes ORDER BY updated_at DESC, session_key LIMIT 1").get() as { id: string };
      appendTurns(ctx, r, resumeSession(ctx, last.id, now - HOUR + r.int(HOUR / 2)), 20_000);
      kvNote(ctx, r, now);
    });
    closeLeavingWal(db, path, `${seed}/${agent}/0`);
    log(`agent ${agent} written`);
  });

  // Media, plugins, small files.
  initMedia(root, rng.fork("media"), sizeBytes * SHARES.media, now);
  initExtensions(root, rng.fork("extensions"), sizeBytes * SHARES.extensions, now);
  initSmallFiles(root, rng.fork("small"), agents, now);
  const meta: GenMeta = { generator: "clawback-bench-gen", version: 1, seed, sizeBytes, agents, day: 0 };
  writeMeta(root, meta);
  log("media, plugins and small files written");
  return meta;
}

export interface DaySummary {
  day: number;
  transcriptBytes: number;
  archived: string[];
  workspaceChanged: string[];
  workspaceDeleted: string[];
  mediaAdded: number;
  mediaRemoved: number;
  pluginUpdated: string | null;
}

export async function simulateDay(root: string, opts: { day?: number } = {}): Promise<DaySummary> {
  const meta = readMeta(root);
  const day = opts.day ?? meta.day + 1;
  const rng = new Rng(meta.seed, `day/${day}`);
  const dayMs = dayStart(day);
  const S = meta.sizeBytes;
  const weights = agentWeights(meta.agents);
  const summary: DaySummary = { day, transcriptBytes: 0, archived: [], workspaceChanged: [], workspaceDeleted: [], mediaAdded: 0, mediaRemoved: 0, pluginUpdated: null };

  meta.agents.forEach((agent, i) => {
    const r = rng.fork(`agent/${agent}`);
    const path = agentDbPath(root, agent);
    const db = openDb(path);
    db.exec("PRAGMA synchronous = NORMAL");
    const ctx: AgentCtx = { db, agentId: agent, cwd: cwdOf(agent) };
    const budget = DAILY.transcript * S * (weights[i] ?? 0);
    const current = (db.prepare("SELECT current_session_id AS id FROM session_nodes ORDER BY updated_at DESC, session_key LIMIT 8").all() as { id: string }[]).map((x) => x.id);
    const k = Math.min(current.length, r.range(1, 4));
    const morning: SessionCursor[] = [];
    // Conversations through the day, spread over a few active sessions (one reset most days).
    for (let s = 0; s < k; s++) {
      const start = dayMs + (7 + s * 3) * HOUR + r.int(HOUR);
      let cur: SessionCursor;
      const id = current[s] ?? "";
      if (r.chance(0.25)) {
        const key = (db.prepare("SELECT session_key FROM session_windows WHERE session_id = ?").get(id) as { session_key: string }).session_key;
        cur = tx(db, () => startSession(ctx, r, start, key, "reset", id));
      } else cur = resumeSession(ctx, id, start);
      morning.push(cur);
      summary.transcriptBytes += tx(db, () => appendTurns(ctx, r, cur, (budget * 0.8) / k, dayMs + 22 * HOUR));
    }
    // Memory re-index: edited notes re-embedded, today's note indexed, a few chunks dropped.
    const chunks = (db.prepare("SELECT count(*) AS n FROM memory_chunks").get() as { n: number }).n;
    tx(db, () => {
      const t = dayMs + 13 * HOUR;
      updateChunks(ctx, r, Math.ceil(chunks * 0.01), t);
      const note = `memory/${dateOnly(dayMs)}.md`;
      const exists = db.prepare("SELECT 1 FROM memory_files WHERE path = ?").get(note);
      if (exists) for (let c = Math.ceil(chunks * 0.004) + 2; c > 0; c--) insertChunk(ctx, r, note, "memory", r.int(400), t);
      else indexMemoryFile(ctx, r, note, "memory", Math.ceil(chunks * 0.004) + 2, t);
      deleteChunks(ctx, r, Math.ceil(chunks * 0.002));
      vfsEntry(ctx, r, morning[0]?.sessionId ?? null, t);
      db.prepare("DELETE FROM vfs_entries WHERE updated_at < ?").run(dayMs - 7 * DAY_MS);
      const store = JSON.parse((db.prepare("SELECT store_json FROM auth_profile_store WHERE store_key = 'primary'").get() as { store_json: string }).store_json) as { usageStats: Record<string, { lastUsed: number; errorCount: number }> };
      store.usageStats["anthropic:default"] = { lastUsed: t, errorCount: 0 };
      const json = day % 3 === 0 ? authProfiles(r, t) : JSON.stringify(store);
      db.prepare("UPDATE auth_profile_store SET store_json = ?, updated_at = ? WHERE store_key = 'primary'").run(json, t);
    });
    // Compaction: one agent a day compacts its longest active session; its window goes cold.
    if (i === day % meta.agents.length) {
      const longest = db.prepare(`SELECT n.current_session_id AS id, count(*) AS c FROM session_nodes n JOIN transcript_events e ON e.session_id = n.current_session_id GROUP BY n.current_session_id ORDER BY c DESC, id LIMIT 1`).get() as { id: string } | undefined;
      if (longest) {
        const t = dayMs + 16 * HOUR;
        const res = tx(db, () => archiveSession(ctx, r, longest.id, t, `sessions/cold/${longest.id}.jsonl.zst`, true));
        writeCold(root, agent, longest.id, res.jsonl, t);
        summary.archived.push(`${agent}/${longest.id}`);
        if (res.next) summary.transcriptBytes += tx(db, () => appendTurns(ctx, r, res.next as SessionCursor, budget * 0.1, dayMs + 22 * HOUR));
      }
    }
    // Cold sweep: windows replaced more than 14 days ago leave the database.
    const stale = db.prepare(`SELECT w.session_id AS id FROM session_windows w WHERE w.archived_path IS NULL AND w.updated_at < ? AND NOT EXISTS (SELECT 1 FROM session_nodes n WHERE n.current_session_id = w.session_id) AND EXISTS (SELECT 1 FROM transcript_events e WHERE e.session_id = w.session_id) ORDER BY w.updated_at, w.session_id LIMIT 2`).all(dayMs - 14 * DAY_MS) as { id: string }[];
    for (const s of stale) {
      const t = dayMs + 4 * HOUR;
      const res = tx(db, () => archiveSession(ctx, r, s.id, t, `sessions/cold/${s.id}.jsonl.zst`, false));
      writeCold(root, agent, s.id, res.jsonl, t);
      summary.archived.push(`${agent}/${s.id}`);
    }
    // A passive checkpoint, as the gateway's auto-checkpoint would run, then the evening's turns:
    // the WAL ends up holding only part of the day.
    db.exec("PRAGMA wal_checkpoint(PASSIVE)");
    const evening = morning[0];
    if (evening) summary.transcriptBytes += tx(db, () => appendTurns(ctx, r, resumeSession(ctx, evening.sessionId, dayMs + 22 * HOUR + r.int(HOUR)), budget * 0.1));
    tx(db, () => kvNote(ctx, r, dayMs + 23 * HOUR));
    closeLeavingWal(db, path, `${meta.seed}/${agent}/${day}`);
  });

  {
    const r = rng.fork("state");
    const db = openDb(statePath(root));
    const rates = trafficRates(S);
    tx(db, () => cronTraffic(db, r, dayMs, dayMs + DAY_MS - HOUR, rates.runs, rates.deliveries));
    db.exec("PRAGMA wal_checkpoint(PASSIVE)");
    tx(db, () => dailyStateUpdates(db, r, meta.agents, dateOnly(dayMs), dayMs + 23 * HOUR));
    closeLeavingWal(db, statePath(root), `${meta.seed}/state/${day}`);
  }

  const ws = workspaceDay(join(root, "workspace"), rng.fork("workspace"), dayMs);
  summary.workspaceChanged = ws.changed;
  summary.workspaceDeleted = ws.deleted;
  const media = mediaDay(root, rng.fork("media"), DAILY.media * S, dayMs);
  summary.mediaAdded = media.added;
  summary.mediaRemoved = media.removed;
  summary.pluginUpdated = maybeUpdatePlugin(root, rng.fork("plugins"), day, dayMs + 10 * HOUR);

  const small = rng.fork("small");
  tmpChurn(root, small, dayMs + 20 * HOUR);
  const wa = join(root, "credentials", "whatsapp", "default");
  writeAt(join(wa, "creds.json"), whatsappCreds(small), dayMs + 21 * HOUR);
  const preKeys = listFiles(wa).filter((f) => f.startsWith("pre-key-"));
  for (const f of preKeys.slice(0, 3)) rmSync(join(wa, f));
  const nextKey = preKeys.map((f) => Number(f.slice(8, -5))).reduce((a, b) => Math.max(a, b), 0) + 1;
  for (let n = 0; n < 3; n++) writeAt(join(wa, `pre-key-${nextKey + n}.json`), preKey(small), dayMs + 21 * HOUR);
  if (day % 7 === 0) writeAt(join(root, "openclaw.json"), configJson(small, meta.agents, dayMs + 11 * HOUR, day / 7), dayMs + 11 * HOUR);

  meta.day = day;
  writeMeta(root, meta);
  return summary;
}

/** Files the generator itself keeps (not part of an OpenClaw state directory). */
