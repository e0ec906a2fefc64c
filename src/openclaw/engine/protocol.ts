// The messages between the plugin (in the gateway, or in the openclaw CLI) and the engine child
// (child.ts). One request at a time; every request gets exactly one reply with the same id.
// Credentials travel only in the `open` request, over the IPC channel, never in argv or the log.
import type { RepoTarget, Retention, SecretsMode } from "../config.ts";
import type { RepoStats, SnapshotSummary, Warning } from "../../lib.ts";
import type { RestoreEngineRequest, RestoreReplyMap } from "../restore/protocol.ts";

interface CommitJob {
  dir: string;
  reason: string;
  /** The user's own exclude patterns (the defaults and secret files are added by the child). */
  exclude: string[];
  secrets: SecretsMode;
}

export interface PrunePlan {
  /** Prune only when at least this many bytes would be freed… */
  minBytes: number;
  /** …or at least this share of the stored bytes. */
  minFraction: number;
}

export type EngineRequest =
  | { op: "open"; target: RepoTarget; create: boolean }
  | { op: "commit"; job: CommitJob }
  | { op: "retain"; retention: Retention; prune: PrunePlan | null }
  | { op: "log" }
  | { op: "stats" }
  | { op: "abort" }
  | RestoreEngineRequest;

interface CommitReply {
  snapshot: SnapshotSummary;
  warnings: Warning[];
}

interface RetainReply {
  forgotten: string[];
  /** Set when a prune ran; `skipped` says why it did not when it was considered. */
  pruned?: { bytesFreed: number; packsDeleted: number; packsRepacked: number };
  pruneSkipped?: string;
}

interface OpenReply {
  repositoryId: string;
  created: boolean;
}

export interface ReplyMap extends RestoreReplyMap {
  open: OpenReply;
  commit: CommitReply;
  retain: RetainReply;
  log: SnapshotSummary[];
  stats: RepoStats;
  abort: null;
}

export interface EngineErrorInfo {
  name: string;
  message: string;
  exitCode: number;
}

export type EngineMessage =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: EngineErrorInfo }
  | { event: "ready"; pid: number };

export type Envelope = { id: number } & EngineRequest;
