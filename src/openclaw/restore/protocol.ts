// The restore side's requests to the engine child (added to engine/protocol.ts's EngineRequest)
// and their replies. Everything that reads the repository or opens the state folder's databases
// runs in the child (engine-ops.ts); the gateway only sends these.
import type { SecretsMode } from "../config.ts";
import type { ChangeKind, SnapshotSummary } from "../../lib.ts";
import type { FreshStateVerdict } from "./fresh-state.ts";
import type { StagedRestoreResult } from "./staged-restore.ts";

export interface RestoreJob {
  stateDir: string;
  /** Full snapshot id (resolved by the caller from the snapshot list, see select.ts). */
  snapshot: string;
  paths?: string[];
  /** The user's own exclude patterns; the child adds the backup defaults, as for a commit. */
  exclude: string[];
  secrets: SecretsMode;
  /** Why (tag of the safety snapshot): "chat", "cli", "auto-restore". */
  origin: string;
  noSafetySnapshot?: boolean;
}

export interface ShowReply {
  snapshot: SnapshotSummary;
  /** Files and bytes under each top-level folder of the snapshot. */
  top: { path: string; files: number; bytes: number }[];
  /** Paths of the snapshot's SQLite databases (restoring one means a gateway restart). */
  databases: string[];
}

export interface DiffEntry {
  path: string;
  kind: ChangeKind;
  /** Sizes before and after, when there is a file on that side. */
  before?: number;
  after?: number;
}

export type RestoreEngineRequest =
  | { op: "show"; ref: string }
  /** `to`: another snapshot, or the state folder as it is now. */
  | { op: "diff"; from: string; to: string | { dir: string; exclude: string[]; secrets: SecretsMode } }
  | { op: "restore"; job: RestoreJob }
  /** `openclawEntry`: the running OpenClaw's CLI entry (process.argv[1]), to find its workspace templates. */
  | { op: "fresh"; stateDir: string; openclawEntry?: string };

export interface RestoreReplyMap {
  show: ShowReply;
  diff: DiffEntry[];
  restore: StagedRestoreResult;
  fresh: FreshStateVerdict;
}
