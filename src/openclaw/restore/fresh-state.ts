// Does this state folder hold agent state of its own? Auto-restore on a new machine fires only
// when it does not. An empty-folder check would almost never fire (the user has just written
// openclaw.json with the three fields, and the gateway has already created its databases), so
// this looks at what a person would lose: sessions and transcripts, and workspace files beyond
// what OpenClaw writes on its own.
//
// Measured on OpenClaw 2026.9.6 (docs/openclaw.md, "Restore"): a fresh gateway creates
// state/openclaw.sqlite with rows of its own (cron jobs, device identity, leases) and no agent
// database; the first agent turn (or `openclaw sessions`) creates agents/main/agent/
// openclaw-agent.sqlite, and the first turn seeds workspace/ with AGENTS.md, BOOTSTRAP.md,
// IDENTITY.md, SOUL.md, USER.md and an empty git repository, recording the hashes of the seeded
// files in the global table workspace_generated_bootstrap_hashes.
//
// Runs in the engine child, never in the gateway: it opens live databases (through node:sqlite,
// read-only), and inside the gateway no clawback code may open a live database at all (DESIGN.md,
// "One process, one set of locks": a second connection in the gateway's process, closed, would
// drop the gateway's own POSIX locks).

import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import type { DatabaseSync } from "node:sqlite";
import { openLiveDatabase } from "../../lib.ts";

/** Agent-database tables whose rows are a person's sessions and conversations. */
const AGENT_HISTORY_TABLES: readonly string[] = ["session_nodes", "session_windows", "transcript_events"];

/** Files OpenClaw seeds into a new workspace (its docs/reference/templates). */
const BOOTSTRAP_FILES: readonly string[] = ["AGENTS.md", "BOOTSTRAP.md", "BOOT.md", "HEARTBEAT.md", "IDENTITY.md", "SOUL.md", "TOOLS.md", "USER.md"];

/** Workspace entries that are OpenClaw's bookkeeping, not content (its own skip list, plus git). */
const WORKSPACE_BOOKKEEPING = new Set([".git", ".openclaw", "openclaw-workspace-state.json", ".DS_Store"]);

export interface FreshStateVerdict {
  fresh: boolean;
  /** Why: the first evidence of own state found, or what was checked. One line for the log. */
  reason: string;
}

export interface FreshStateOptions {
  /**
   * Texts of OpenClaw's workspace templates by file name, as seeded (front matter removed). A
   * bootstrap file equal to its template, or to a hash OpenClaw recorded when it seeded it, is not
   * the user's.
   */
  templates?: ReadonlyMap<string, string>;
}

export async function detectFreshState(stateDir: string, opts: FreshStateOptions = {}): Promise<FreshStateVerdict> {
  const agentsDir = path.join(stateDir, "agents");
  for (const agent of await dirNames(agentsDir)) {
    const dbPath = path.join(agentsDir, agent, "agent", "openclaw-agent.sqlite");
    if (await isFile(dbPath)) {
      const rows = historyRows(dbPath);
      if (rows) return { fresh: false, reason: `agent ${agent} has ${rows.count} row(s) in ${rows.table}` };
    }
    // Older installs keep JSONL transcripts.
    const sessions = (await fs.readdir(path.join(agentsDir, agent, "sessions")).catch(() => [] as string[])).filter((n) => n.endsWith(".jsonl"));
    if (sessions.length) return { fresh: false, reason: `agent ${agent} has ${sessions.length} JSONL transcript(s)` };
  }

  const seeded = seededHashes(path.join(stateDir, "state", "openclaw.sqlite"));
  for (const name of await dirNames(stateDir)) {
    if (!/^workspace(?:-.+)?$/.test(name)) continue;
    const own = await ownWorkspaceFile(path.join(stateDir, name), seeded, opts.templates);
    if (own) return { fresh: false, reason: `${name}/${own}` + " is not a file a fresh install creates" };
  }
  return { fresh: true, reason: "no sessions or transcripts in any agent database, and no workspace files beyond those a fresh install seeds" };
}

function historyRows(dbPath: string): { table: string; count: number } | undefined {
  const db = openReadOnly(dbPath);
  try {
    const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => String(r.name)));
    for (const table of AGENT_HISTORY_TABLES) {
      if (!tables.has(table)) continue;
      const row = db.prepare(`SELECT count(*) AS n FROM "${table}"`).get();
      const count = Number(row?.n ?? 0);
      if (count > 0) return { table, count };
    }
    return undefined;
  } finally {
    db.close();
  }
}

/** sha256 hex of files OpenClaw seeded, by file name (empty when the table or database is missing). */
function seededHashes(globalDb: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  let db: DatabaseSync;
  try {
    db = openReadOnly(globalDb);
  } catch {
    return out;
  }
  try {
    const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'workspace_generated_bootstrap_hashes'").get();
    if (!has) return out;
    for (const r of db.prepare("SELECT filename, sha256 FROM workspace_generated_bootstrap_hashes").all()) {
      const name = String(r.filename);
      if (!out.has(name)) out.set(name, new Set());
      out.get(name)!.add(String(r.sha256));
    }
    return out;
  } finally {
    db.close();
  }
}

/** The first workspace path that is the user's own, or undefined. */
async function ownWorkspaceFile(dir: string, seeded: Map<string, Set<string>>, templates: ReadonlyMap<string, string> | undefined): Promise<string | undefined> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (WORKSPACE_BOOKKEEPING.has(e.name)) continue;
    if (!e.isFile() || !BOOTSTRAP_FILES.includes(e.name)) return e.isDirectory() ? `${e.name}/` : e.name;
    const text = await fs.readFile(path.join(dir, e.name), "utf8");
    const hash = createHash("sha256").update(text).digest("hex");
    if (seeded.get(e.name)?.has(hash)) continue;
    const template = templates?.get(e.name);
    if (template !== undefined && template === text) continue;
    // BOOTSTRAP.md is deleted by the first-run ritual and never recorded: only its template tells.
    if (e.name === "BOOTSTRAP.md" && template === undefined) continue;
    return e.name;
  }
  return undefined;
}

/**
 * Reads OpenClaw's workspace templates as it seeds them (front matter removed), from the
 * installed package's docs/reference/templates. Missing folder: an empty map.
 */
export async function loadWorkspaceTemplates(openclawPackageDir: string): Promise<Map<string, string>> {
  const dir = path.join(openclawPackageDir, "docs", "reference", "templates");
  const out = new Map<string, string>();
  for (const name of BOOTSTRAP_FILES) {
    const raw = await fs.readFile(path.join(dir, name), "utf8").catch(() => undefined);
    if (raw !== undefined) out.set(name, stripFrontMatter(raw));
  }
  return out;
}

function stripFrontMatter(text: string): string {
  const m = /^---\r?\n[\s\S]*?\r?\n---\r?\n(?:\r?\n)?/.exec(text);
  return m ? text.slice(m[0].length) : text;
}

function openReadOnly(file: string): DatabaseSync {
  return openLiveDatabase(file, pathToFileURL(file), { readOnly: true, timeout: 2_000 });
}

async function dirNames(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

async function isFile(p: string): Promise<boolean> {
  return (await fs.stat(p).catch(() => undefined))?.isFile() ?? false;
}
