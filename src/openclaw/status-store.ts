// What the plugin remembers between runs, per machine: the last backup, the last error, when the
// last pre-compaction backup ran (its debounce outlives a restart). Kept in <state>/clawback/
// status.json, a small file of the plugin's own (never a database), left out of backups.
import { JsonFileStore } from "./json-store.ts";

interface BackupRecord {
  snapshot: string;
  time: string;
  reason: string;
  durationMs: number;
  addedBytes: number;
  files: number;
  bytes: number;
  /** Databases whose captured content failed SQLite's quick_check (stored as found). */
  failedSqliteCheck?: string[];
}

interface ErrorRecord {
  time: string;
  /** What was being done: a backup's reason, or "open", "retention". */
  during: string;
  message: string;
}

export interface PluginStatus {
  lastBackup?: BackupRecord;
  lastError?: ErrorRecord;
  lastPreCompactionMs?: number;
  lastRetention?: { time: string; forgotten: number; pruned?: { bytesFreed: number }; pruneSkipped?: string };
}

/** status.json: the backup side's record. */
export class StatusStore extends JsonFileStore<PluginStatus> {
  constructor(stateDir: string) {
    super(stateDir, "status.json");
  }
}
