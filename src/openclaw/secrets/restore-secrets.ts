import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { pathToFileURL } from "node:url";
import { openLiveDatabase } from "../../lib.ts";
import { restoreConfigSecrets } from "./config-secrets.ts";
import { checkpoint, quoteIdentifier } from "./scrub-database.ts";
import { MACHINE_STATE_TABLE, secretMachineStateCondition, secretTables, type DatabaseKind } from "./secret-state.ts";

export interface RestoreSecretsOptions {
  /** The state folder as it is on this machine now (its secrets are kept). */
  currentStateDir: string;
  /** A restored state folder that is not live yet (a checkout's target before it is swapped in). */
  restoredStateDir: string;
  /** Config paths taken whole from the current openclaw.json (default: MACHINE_CONFIG_PATHS). */
  keepConfigPaths?: readonly string[][];
}

/**
 * Settings of openclaw.json that belong to the machine, not to the agent: this plugin's own entry
 * (the restored gateway keeps backing up to the same place) and where the machine writes its logs
 * (another machine's log path may not exist here; logs/ is never backed up either).
 */
const MACHINE_CONFIG_PATHS: readonly string[][] = [["plugins", "entries", "clawback"], ["logging"]];

export interface RestoreSecretsResult {
  /** Config files given the machine's secret values (relative paths). */
  configs: string[];
  /** Secret files and folders copied from the current state (relative paths). */
  files: string[];
  /** Secret rows put back, per database (relative path → rows). */
  rows: Record<string, number>;
}

/** openclaw.json's name and its copies' (see commit-options.ts). */
const CONFIG_FILE = /^openclaw\.json(?:\.bak(?:\.\d+)?|\.last-good)?$/;
/** Secret files matched by name at any depth, and at the root only (see SECRET_FILE_EXCLUDES). */
const SECRET_NAMES = new Set([".env", "secrets.json", "auth-profiles.json", "config-journal-fingerprint.key"]);
const SECRET_ROOT_FOLDERS = new Set(["credentials"]);
/** Regenerable folders (see REGENERABLE_EXCLUDES): not searched for secret files. */
const SKIPPED_ROOT_FOLDERS = new Set(["tmp", "cache", "plugin-skills", "media", "logs", "extensions", "npm"]);

/**
 * Keeps this machine's secrets in a restored OpenClaw state folder (invariant 9), before it goes
 * live: the secret values of openclaw.json and its copies (the snapshot holds placeholders, or
 * another machine's), the secret files (credentials/, .env, secrets.json, auth-profiles.json, the
 * config fingerprint key; a whole-folder checkout keeps these by itself when it restores over the
 * state folder, a checkout into a new folder does not), and the secret rows of each database
 * that exists in both. What this machine does not have is left as the snapshot has it, except a
 * config placeholder, which is removed (it must never serve as a gateway token).
 */
export async function restoreSecrets(opts: RestoreSecretsOptions): Promise<RestoreSecretsResult> {
  const current = path.resolve(opts.currentStateDir);
  const restored = path.resolve(opts.restoredStateDir);
  const result: RestoreSecretsResult = { configs: [], files: [], rows: {} };
  await restoreConfigs(current, restored, opts.keepConfigPaths ?? MACHINE_CONFIG_PATHS, result);
  await restoreSecretFiles(current, restored, "", result);
  for (const [rel, kind] of await openclawDatabases(restored)) {
    const from = path.join(current, rel);
    if (!(await exists(from))) continue;
    result.rows[rel] = restoreSecretRows(from, path.join(restored, rel), kind);
  }
  return result;
}

async function restoreConfigs(current: string, restored: string, keep: readonly string[][], result: RestoreSecretsResult): Promise<void> {
  const currentText = await fs.readFile(path.join(current, "openclaw.json"), "utf8").catch(() => undefined);
  for (const name of (await fs.readdir(restored)).filter((n) => CONFIG_FILE.test(n)).sort()) {
    const file = path.join(restored, name);
    const text = await fs.readFile(file, "utf8");
    const merged = restoreConfigSecrets(text, currentText, keep);
    if (merged === undefined || merged === text) continue;
    await writeReplacing(file, merged);
    result.configs.push(name);
  }
}

async function restoreSecretFiles(current: string, restored: string, rel: string, result: RestoreSecretsResult): Promise<void> {
  const entries = await fs.readdir(path.join(current, rel), { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const child = rel ? `${rel}/${entry.name}` : entry.name;
    const secret = rel === "" ? SECRET_ROOT_FOLDERS.has(entry.name) || SECRET_NAMES.has(entry.name) : SECRET_NAMES.has(entry.name);
    if (secret && (entry.isFile() || entry.isDirectory())) {
      const to = path.join(restored, child);
      await fs.rm(to, { recursive: true, force: true });
      await fs.mkdir(path.dirname(to), { recursive: true });
      await fs.cp(path.join(current, child), to, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
      result.files.push(child);
    } else if (entry.isDirectory() && !(rel === "" && SKIPPED_ROOT_FOLDERS.has(entry.name))) {
      await restoreSecretFiles(current, restored, child, result);
    }
  }
}

/** The OpenClaw databases of a state folder: state/openclaw.sqlite and each agents/<id>/agent/openclaw-agent.sqlite. */
async function openclawDatabases(stateDir: string): Promise<[string, DatabaseKind][]> {
  const found: [string, DatabaseKind][] = [];
  if (await exists(path.join(stateDir, "state", "openclaw.sqlite"))) found.push(["state/openclaw.sqlite", "global"]);
  for (const agent of await fs.readdir(path.join(stateDir, "agents")).catch(() => [])) {
    const rel = `agents/${agent}/agent/openclaw-agent.sqlite`;
    if (await exists(path.join(stateDir, rel))) found.push([rel, "agent"]);
  }
  return found;
}

/**
 * Replaces the secret rows of the restored database with the current one's, column by column
 * where both schemas have the column. The current database may be live (the gateway's): it is
 * only read, through node:sqlite, in a transaction of its own. A row whose foreign key finds no
 * parent in the restored database (a session the older state does not have) is left out.
 */
function restoreSecretRows(currentFile: string, restoredFile: string, kind: DatabaseKind): number {
  const source = openCurrent(currentFile);
  const target = new DatabaseSync(restoredFile, { enableForeignKeyConstraints: false });
  let rows = 0;
  try {
    const tables = (db: DatabaseSync) => new Set(db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all().map((r) => String(r.name)));
    const inSource = tables(source);
    const inTarget = tables(target);
    const copies: { table: string; where?: string }[] = secretTables(kind).map((table) => ({ table }));
    if (kind === "global") copies.push({ table: MACHINE_STATE_TABLE, where: secretMachineStateCondition() });
    source.exec("BEGIN");
    target.exec("BEGIN IMMEDIATE");
    try {
      for (const { table, where } of copies) {
        if (!inTarget.has(table)) continue;
        const q = quoteIdentifier(table);
        target.exec(`DELETE FROM ${q}${where ? ` WHERE ${where}` : ""}`);
        if (!inSource.has(table)) continue;
        const targetColumns = new Set(columns(target, table));
        const shared = columns(source, table).filter((c) => targetColumns.has(c));
        if (shared.length === 0) continue;
        const list = shared.map(quoteIdentifier).join(", ");
        const read = source.prepare(`SELECT ${list} FROM ${q}${where ? ` WHERE ${where}` : ""}`);
        read.setReadBigInts(true);
        const insert = target.prepare(`INSERT INTO ${q} (${list}) VALUES (${shared.map(() => "?").join(", ")})`);
        for (const row of read.all()) {
          insert.run(...shared.map((c) => row[c] as null | number | bigint | string | Uint8Array));
          rows++;
        }
        for (const orphan of target.prepare(`PRAGMA foreign_key_check(${q})`).all()) {
          target.prepare(`DELETE FROM ${q} WHERE rowid = ?`).run(orphan.rowid as number | bigint);
          rows--;
        }
      }
      target.exec("COMMIT");
    } catch (err) {
      target.exec("ROLLBACK");
      throw err;
    } finally {
      source.exec("COMMIT");
    }
    checkpoint(target, restoredFile);
  } finally {
    target.close();
    source.close();
  }
  return rows;
}

/**
 * Opens the machine's database for reading. Read-only first (the gateway's own -shm is shared);
 * a WAL database that no process has open and whose -shm is gone cannot always be opened
 * read-only: then read-write with query_only, which makes its -wal/-shm and removes them on close.
 */
function openCurrent(file: string): DatabaseSync {
  const url = pathToFileURL(file);
  url.search = "mode=ro";
  const readOnly = openLiveDatabase(file, url, { readOnly: true, timeout: 5000 });
  try {
    readOnly.prepare("SELECT count(*) FROM sqlite_schema").get();
    return readOnly;
  } catch {
    readOnly.close();
  }
  url.search = "mode=rw";
  const db = openLiveDatabase(file, url, { timeout: 5000 });
  db.exec("PRAGMA query_only = ON");
  return db;
}

function columns(db: DatabaseSync, table: string): string[] {
  return db.prepare(`PRAGMA table_info(${quoteIdentifier(table)})`).all().map((r) => String(r.name));
}

/** Writes `text` over `file` by a rename, keeping the file's permissions. */
async function writeReplacing(file: string, text: string): Promise<void> {
  const mode = (await fs.stat(file)).mode & 0o7777;
  const tmp = `${file}.clawback-${process.pid}.tmp`;
  await fs.writeFile(tmp, text, { mode });
  await fs.rename(tmp, file);
}

async function exists(p: string): Promise<boolean> {
  return (await fs.lstat(p).catch(() => undefined)) !== undefined;
}
