// SQLite helpers for the capture tests and bench/sqlite-groups.ts: a writer in a second process
// (sqlite-writer-child.ts), the invariants its committed states satisfy, and a database shaped like
// OpenClaw's (transcript events with JSON text, memory rows with embedding blobs, indexes) with the
// edits the bench measures. Everything here uses node:sqlite (DESIGN.md invariant 8).

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath, pathToFileURL } from "node:url";
import { DatabaseSync } from "node:sqlite";
import { prng } from "./prng.ts";

const CHILD = fileURLToPath(new URL("./sqlite-writer-child.ts", import.meta.url));

export type WriterMode = "write" | "hold-wal" | "idle-wal" | "hold-rollback";

export interface Writer {
  child: ChildProcess;
  /** The counter value of the last transaction the writer reported committed. */
  readonly lastReported: number;
  /** Resolves once the counter has reached at least `n` (as reported by the writer). */
  reach(n: number): Promise<void>;
  /** Stops the writer (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts the writer process on `file` and waits until it has committed its first transactions.
 * `paceMs` (mode "write"): one transaction every paceMs, at a steady database size (see the child).
 */
export async function startWriter(file: string, mode: WriterMode = "write", opts: { paceMs?: number } = {}): Promise<Writer> {
  const child = spawn(process.execPath, [CHILD, file, mode, ...(opts.paceMs !== undefined ? [String(opts.paceMs)] : [])], { stdio: ["ignore", "pipe", "pipe"] });
  let last = 0;
  let stderr = "";
  let ready = false;
  const waiters: { n: number; resolve: () => void }[] = [];
  const exited = once(child, "exit");
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  let buffered = "";
  const readyPromise = new Promise<void>((resolve, reject) => {
    child.on("exit", (code) => {
      if (!ready) reject(new Error(`writer exited (${code}) before ready: ${stderr}`));
    });
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      buffered += d;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const m = /^(ready|n) (\d+)$/.exec(line);
        if (!m) continue;
        last = Number(m[2]);
        if (m[1] === "ready") {
          ready = true;
          resolve();
        }
        for (const w of waiters.splice(0)) {
          if (last >= w.n) w.resolve();
          else waiters.push(w);
        }
      }
    });
  });
  await readyPromise;
  return {
    child,
    get lastReported() {
      return last;
    },
    reach(n: number) {
      if (last >= n) return Promise.resolve();
      if (child.exitCode !== null) return Promise.reject(new Error(`writer exited: ${stderr}`));
      return new Promise<void>((resolve) => waiters.push({ n, resolve }));
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}

/**
 * Runs `sql` on `file` in a child process that then keeps its connection open, idle (so the -wal
 * and -shm stay beside the database, as a gateway leaves them), until `stop`.
 */
export async function holdOpen(file: string, sql: string): Promise<{ stop(): Promise<void> }> {
  const script = `const { DatabaseSync } = require("node:sqlite"); const db = new DatabaseSync(${JSON.stringify(file)}); db.exec(${JSON.stringify(sql)}); console.log("ready"); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const [exited] = await Promise.race([once(child.stdout!, "data").then(() => [false]), once(child, "exit").then(() => [true])]);
  if (exited) throw new Error(`the process holding ${file} open exited before it was ready`);
  return {
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

/** Runs one SQL statement on `file` in a process of its own, as another application would; its first row, or null. */
export function runSqlElsewhere(file: string, sql: string): unknown {
  const script = `const { DatabaseSync } = require("node:sqlite"); const db = new DatabaseSync(${JSON.stringify(file)}, { timeout: 0 }); let r; try { r = db.prepare(${JSON.stringify(sql)}).get(); } catch (e) { r = { error: e.message }; } console.log(JSON.stringify(r ?? null)); db.close();`;
  const out = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
  if (out.status !== 0) throw new Error(out.stderr);
  return JSON.parse(out.stdout) as unknown;
}

/** Opens a private database file without locks and without creating -wal/-shm beside it. */
export function openImmutable(file: string): DatabaseSync {
  const url = pathToFileURL(file);
  url.search = "mode=ro&immutable=1";
  return new DatabaseSync(url, { readOnly: true });
}

export interface WriterState {
  n: number;
  rows: number;
  deleted: number;
}

/**
 * Checks that `file` (a capture of the writer's database) passes integrity_check and is exactly a
 * state the writer committed: transactions 1..n each present in full or recorded as deleted, none
 * beyond n, row count and payload bytes equal to the counter row's, balances summing to 100 000.
 * Throws an Error describing the first violation.
 */
export function checkWriterInvariants(file: string): WriterState {
  const db = openImmutable(file);
  try {
    const integrity = db.prepare("PRAGMA integrity_check").all().map((r) => String(Object.values(r)[0]));
    if (integrity.join() !== "ok") throw new Error(`integrity_check: ${integrity.join("; ")}`);
    const c = db.prepare("SELECT n, total, bytes FROM counter WHERE id = 1").get() as { n: number; total: number; bytes: number };
    const agg = db.prepare("SELECT count(*) AS rows, coalesce(sum(length(payload)), 0) AS bytes, coalesce(max(tx), 0) AS maxTx, coalesce(max(touched), 0) AS maxTouched FROM rows").get() as {
      rows: number;
      bytes: number;
      maxTx: number;
      maxTouched: number;
    };
    if (agg.rows !== c.total) throw new Error(`rows ${agg.rows} != counter total ${c.total} (n=${c.n})`);
    if (agg.bytes !== c.bytes) throw new Error(`payload bytes ${agg.bytes} != counter bytes ${c.bytes} (n=${c.n})`);
    if (agg.maxTx > c.n || agg.maxTouched > c.n) throw new Error(`rows from a transaction after n=${c.n} (tx ${agg.maxTx}, touched ${agg.maxTouched})`);
    const present = new Map<number, number>();
    for (const r of db.prepare("SELECT tx, count(*) AS k FROM rows GROUP BY tx").all() as { tx: number; k: number }[]) present.set(r.tx, r.k);
    const deleted = new Set((db.prepare("SELECT tx FROM deleted").all() as { tx: number }[]).map((r) => r.tx));
    for (let tx = 1; tx <= c.n; tx++) {
      const k = present.get(tx);
      if (deleted.has(tx)) {
        if (k !== undefined) throw new Error(`tx ${tx} is recorded deleted but has ${k} rows`);
      } else if (k !== 1 + (tx % 7)) {
        throw new Error(`tx ${tx} has ${k ?? 0} rows, expected ${1 + (tx % 7)} (n=${c.n})`);
      }
    }
    for (const tx of deleted) if (tx > c.n - 5) throw new Error(`deletion of tx ${tx} recorded beyond n=${c.n}`);
    const acct = db.prepare("SELECT count(*) AS k, sum(balance) AS s FROM accounts").get() as { k: number; s: number };
    if (acct.k !== 100 || acct.s !== 100_000) throw new Error(`accounts ${acct.k}, balance sum ${acct.s}`);
    return { n: c.n, rows: agg.rows, deleted: deleted.size };
  } finally {
    db.close();
  }
}

// ---- An OpenClaw-shaped database -------------------------------------------------------------

const WORDS = (
  "the a to and of in is you that it for on with this be are as can not at your have or from will " +
  "agent session tool call result message user assistant model token memory file path workspace " +
  "error retry backup restore snapshot commit plugin gateway config channel cron compaction summary " +
  "function arguments content reasoning json schema output input stream chunk page index sqlite " +
  "Let me check that. I found the issue in the code; here is a fix. Running the tests now. Done."
).split(/\s+/);


function text(rand: () => number, approxBytes: number): string {
  const parts: string[] = [];
  let len = 0;
  while (len < approxBytes) {
    const w = WORDS[Math.floor(rand() * WORDS.length)]!;
    parts.push(w);
    len += w.length + 1;
  }
  return parts.join(" ");
}

/** Event payload sizes: mostly short messages, some long tool results (mean ≈ 1.1 KB). */
function eventSize(rand: () => number): number {
  const r = rand();
  if (r < 0.6) return 150 + Math.floor(rand() * 450);
  if (r < 0.9) return 600 + Math.floor(rand() * 1400);
  return 2000 + Math.floor(rand() * 4000);
}

const KINDS = ["user", "assistant", "tool_call", "tool_result"];

function eventJson(rand: () => number, session: string, seq: number): { kind: string; json: string } {
  const kind = KINDS[seq % KINDS.length]!;
  const body = text(rand, eventSize(rand));
  const json =
    kind === "tool_call"
      ? JSON.stringify({ type: kind, id: `call_${seq}`, name: "exec", arguments: { command: body.slice(0, 200) } })
      : JSON.stringify({ type: kind, role: kind === "user" ? "user" : "assistant", session, seq, content: [{ type: "text", text: body }], usage: { input: Math.floor(rand() * 9000), output: Math.floor(rand() * 900) } });
  return { kind, json };
}

/** Embedding blobs: 384 float32 values (1536 bytes), as a small local embedding model gives. */
export const EMBEDDING_DIMS = 384;

function embedding(rand: () => number): Uint8Array {
  const f = new Float32Array(EMBEDDING_DIMS);
  for (let i = 0; i < f.length; i++) f[i] = rand() * 2 - 1;
  return new Uint8Array(f.buffer);
}

const SCHEMA = `
  CREATE TABLE sessions (id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, title TEXT);
  CREATE TABLE transcript_events (id INTEGER PRIMARY KEY, session_id TEXT NOT NULL REFERENCES sessions(id), seq INTEGER NOT NULL, created_at INTEGER NOT NULL, kind TEXT NOT NULL, json TEXT NOT NULL);
  CREATE UNIQUE INDEX transcript_events_session_seq ON transcript_events (session_id, seq);
  CREATE INDEX transcript_events_created ON transcript_events (created_at);
  CREATE TABLE memory (id INTEGER PRIMARY KEY, session_id TEXT, text TEXT NOT NULL, embedding BLOB NOT NULL, updated_at INTEGER NOT NULL);
  CREATE INDEX memory_updated ON memory (updated_at);
`;

export interface BuildResult {
  events: number;
  memories: number;
  sessions: number;
}

/**
 * Writes an OpenClaw-shaped database of about `targetBytes` (file size) to `file` (WAL mode,
 * checkpointed): about 80 % transcript events (JSON text), 20 % memory rows (text + embedding
 * blob), with their indexes.
 */
export function buildOpenClawLikeDb(file: string, targetBytes: number, seed = 1): BuildResult {
  const rand = prng(seed);
  const db = new DatabaseSync(file);
  try {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(SCHEMA);
    const addSession = db.prepare("INSERT INTO sessions VALUES (?, 'main', ?, ?, ?)");
    const addEvent = db.prepare("INSERT INTO transcript_events (session_id, seq, created_at, kind, json) VALUES (?, ?, ?, ?, ?)");
    const addMemory = db.prepare("INSERT INTO memory (session_id, text, embedding, updated_at) VALUES (?, ?, ?, ?)");
    const pageCount = db.prepare("PRAGMA page_count");
    const pageSize = Number(db.prepare("PRAGMA page_size").get()?.page_size);
    let bytes = 0;
    let events = 0;
    let memories = 0;
    let sessions = 0;
    let t = 1_750_000_000_000;
    db.exec("BEGIN");
    while (bytes < targetBytes) {
      const session = `s${++sessions}`;
      addSession.run(session, t, t, text(rand, 40));
      const n = 20 + Math.floor(rand() * 200);
      for (let seq = 0; seq < n && bytes < targetBytes; seq++) {
        const e = eventJson(rand, session, seq);
        addEvent.run(session, seq, (t += 1000 + Math.floor(rand() * 5000)), e.kind, e.json);
        events++;
        if (events % 256 === 0) bytes = Number(pageCount.get()?.page_count) * pageSize;
        if (rand() < 0.07) {
          const note = text(rand, 200 + Math.floor(rand() * 400));
          addMemory.run(session, note, embedding(rand), t);
          memories++;
        }
      }
    }
    db.exec("COMMIT");
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    return { events, memories, sessions };
  } finally {
    db.close();
  }
}

export type Edit = "update-random" | "update-recent" | "append";

/**
 * Edits the database like a running gateway would, touching `fraction` of the rows:
 * - update-random: rewrites the JSON of that fraction of events, and re-embeds that fraction of
 *   memory rows (new embedding, new updated_at), chosen uniformly;
 * - update-recent: the same, chosen among the newest 10 % of rows;
 * - append: adds that fraction of new events (new sessions) and memory rows.
 */
export function editOpenClawLikeDb(file: string, edit: Edit, fraction: number, seed = 2): { events: number; memories: number } {
  const rand = prng(seed);
  const db = new DatabaseSync(file);
  try {
    const count = (table: string) => Number(db.prepare(`SELECT max(id) AS m FROM ${table}`).get()?.m ?? 0);
    const maxEvent = count("transcript_events");
    const maxMemory = count("memory");
    const nEvents = Math.max(1, Math.round(maxEvent * fraction));
    const nMemories = Math.max(1, Math.round(maxMemory * fraction));
    const pick = (max: number) => (edit === "update-recent" ? max - Math.floor(rand() * max * 0.1) : 1 + Math.floor(rand() * max));
    let t = Number(db.prepare("SELECT max(created_at) AS m FROM transcript_events").get()?.m ?? 0) + 60_000;
    db.exec("BEGIN");
    if (edit === "append") {
      const addSession = db.prepare("INSERT INTO sessions VALUES (?, 'main', ?, ?, ?)");
      const addEvent = db.prepare("INSERT INTO transcript_events (session_id, seq, created_at, kind, json) VALUES (?, ?, ?, ?, ?)");
      const addMemory = db.prepare("INSERT INTO memory (session_id, text, embedding, updated_at) VALUES (?, ?, ?, ?)");
      const session = `s-new-${seed}`;
      addSession.run(session, t, t, "appended");
      for (let seq = 0; seq < nEvents; seq++) {
        const e = eventJson(rand, session, seq);
        addEvent.run(session, seq, (t += 1000), e.kind, e.json);
      }
      for (let i = 0; i < nMemories; i++) addMemory.run(session, text(rand, 300), embedding(rand), (t += 10));
    } else {
      const getEvent = db.prepare("SELECT session_id, seq FROM transcript_events WHERE id = ?");
      const setEvent = db.prepare("UPDATE transcript_events SET json = ? WHERE id = ?");
      const setMemory = db.prepare("UPDATE memory SET embedding = ?, updated_at = ? WHERE id = ?");
      const seen = new Set<number>();
      while (seen.size < nEvents) {
        const id = pick(maxEvent);
        if (seen.has(id)) continue;
        seen.add(id);
        const row = getEvent.get(id) as { session_id: string; seq: number } | undefined;
        if (row) setEvent.run(eventJson(rand, row.session_id, row.seq).json, id);
      }
      seen.clear();
      while (seen.size < nMemories) {
        const id = pick(maxMemory);
        if (seen.has(id)) continue;
        seen.add(id);
        setMemory.run(embedding(rand), (t += 10), id);
      }
    }
    db.exec("COMMIT");
    return { events: nEvents, memories: nMemories };
  } finally {
    db.close();
  }
}
