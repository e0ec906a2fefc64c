// What the restore side remembers per machine, beside the backup side's status.json: the last
// restore (so `status` after the gateway's restart says how it went) and whether this machine
// was ever auto-restored (never twice: a snapshot of a fresh state would otherwise loop). A small
// JSON file of the plugin's own in <state>/clawback/, which backups leave out and restores keep.
import * as fs from "node:fs/promises";
import * as path from "node:path";

export interface RestoreRecord {
  /** When it was requested and when it ended. */
  requested: string;
  finished?: string;
  snapshot: string;
  /** How the snapshot was chosen, in words. */
  why: string;
  paths?: string[];
  origin: string;
  ok: boolean;
  error?: string;
  safetySnapshot?: string;
  databases?: string[];
  files?: number;
  removed?: number;
  restarted?: boolean;
}

export interface RestoreState {
  lastRestore?: RestoreRecord;
  autoRestored?: { time: string; snapshot: string };
}

export class RestoreStore {
  private readonly file: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(stateDir: string) {
    // Beside the backup side's status.json, in the plugin's own folder (left out of backups).
    this.file = path.join(stateDir, "clawback", "restore.json");
  }

  async read(): Promise<RestoreState> {
    try {
      return JSON.parse(await fs.readFile(this.file, "utf8")) as RestoreState;
    } catch {
      return {};
    }
  }

  update(change: (s: RestoreState) => void): Promise<void> {
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
