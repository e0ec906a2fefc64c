// What the plugin remembers between runs, per machine: the last backup, the last error, when the
// last pre-compaction backup ran (its debounce outlives a restart). Kept in <state>/clawback/
// status.json, a small file of the plugin's own (never a database), left out of backups.
import * as fs from "node:fs/promises";
import * as path from "node:path";

interface BackupRecord {
  snapshot: string;
  time: string;
  reason: string;
  durationMs: number;
  addedBytes: number;
  files: number;
  bytes: number;
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

function statusDir(stateDir: string): string {
  return path.join(stateDir, "clawback");
}

export class StatusStore {
  private readonly file: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(stateDir: string) {
    this.file = path.join(statusDir(stateDir), "status.json");
  }

  async read(): Promise<PluginStatus> {
    try {
      return JSON.parse(await fs.readFile(this.file, "utf8")) as PluginStatus;
    } catch {
      return {};
    }
  }

  /** Applies `change` to the stored status (writes are serialized, each replaces the file whole). */
  update(change: (s: PluginStatus) => void): Promise<void> {
    this.writing = this.writing.then(async () => {
      const s = await this.read();
      change(s);
      await fs.mkdir(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await fs.writeFile(tmp, JSON.stringify(s, null, 2));
      await fs.rename(tmp, this.file);
    });
    return this.writing.catch(() => {});
  }
}
