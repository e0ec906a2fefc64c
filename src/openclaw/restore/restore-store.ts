// What the restore side remembers per machine, beside the backup side's status.json: the last
// restore (so `status` after the gateway's restart says how it went) and whether this machine
// was ever auto-restored (never twice: a snapshot of a fresh state would otherwise loop). A small
// JSON file of the plugin's own in <state>/clawback/, which backups leave out and restores keep.
import { JsonFileStore } from "../json-store.ts";

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

/** restore.json, beside the backup side's status.json. */
export class RestoreStore extends JsonFileStore<RestoreState> {
  constructor(stateDir: string) {
    super(stateDir, "restore.json");
  }
}
