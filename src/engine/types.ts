import type { SnapshotRecord, SnapshotStatsRecord } from "../repo/snapshot.ts";
import type { SourceScan } from "./commit/source-scan.ts";

// The engine's public shapes: what commit, checkout and the other commands take and return.
// The CLI and the OpenClaw plugin are written against these and nothing deeper.

export type EntryType = "file" | "dir" | "symlink";

/** One entry of a snapshot's file listing. Paths are relative, "/"-separated, never "." or "..". */
export interface FileEntry {
  path: string;
  type: EntryType;
  /** Permission bits (st_mode & 0o7777). */
  mode: number;
  /** Modification time in milliseconds since the epoch (fractional part kept). */
  mtimeMs: number;
  size: number;
  /** Chunk ids (hex) of a file's content, in order. */
  chunks?: string[];
  /** Set when the file was captured through SQLite's online backup API. */
  sqlite?: boolean;
  /** Symlink target, as stored in the link. */
  target?: string;
}

/** Counts a commit records in its snapshot (added* are bytes and objects new to the repository). */
export type SnapshotStats = SnapshotStatsRecord;

/** A snapshot as commands report it: its id and its record, without the listing's blob ids. */
export type SnapshotSummary = { id: string } & Pick<SnapshotRecord, "time" | "host" | "reason" | "tags" | "parent" | "root" | "stats">;

/** A problem that did not stop the operation (an unreadable file, a file that kept changing). */
export interface Warning {
  path: string;
  message: string;
}

export type Phase = "scan" | "commit" | "checkout" | "verify" | "check" | "prune";

export interface ProgressEvent {
  phase: Phase;
  files: number;
  totalFiles?: number;
  bytes: number;
  totalBytes?: number;
  /** Path being worked on, when there is one. */
  path?: string;
}

/** How the engine reports what it is doing; the CLI draws a progress line, the plugin logs. */
export interface ProgressSink {
  progress?(event: ProgressEvent): void;
  warn?(warning: Warning): void;
}

export interface CommitOptions {
  reason?: string;
  tags?: string[];
  /** Glob patterns relative to the source root ("*.log", "tmp/", "**\/cache/**"). */
  excludes?: string[];
  host?: string;
  progress?: ProgressSink;
  signal?: AbortSignal;
  /** The folder's walk, begun earlier (Repository.scan) with the same folder and excludes. */
  scan?: SourceScan;
  /** Takes out of what is stored what must not leave the machine (see CommitScrub). */
  scrub?: CommitScrub;
}

/**
 * Rewrites what a commit stores of some files so that what must not leave the machine (secrets)
 * never reaches the repository. The source files are never touched: a database is scrubbed in the
 * commit's private copy of it, a file in memory. Both functions must be deterministic (the same
 * input gives the same bytes), so that scrubbed content still deduplicates from one commit to the
 * next. A function that throws fails the commit: nothing is stored unscrubbed instead.
 */
export interface CommitScrub {
  /**
   * Names what the functions below do, version included ("openclaw-secrets/1:exclude:…"). It is
   * recorded with each scrubbed file's stat-cache row and in the memo of the folder's listing, so
   * a file stored under another scrub, or under none, is read and scrubbed again, never reused.
   * Change it whenever the functions' output would change.
   */
  id: string;
  /**
   * Edits, in place, the commit's private copy of a captured SQLite database (`relPath` is the
   * database's path in the folder), after the capture was verified and before it is stored. The
   * copy is opened by nothing else meanwhile; it must still be a sound database when this returns,
   * with every change in the main file (checkpointed: a -wal left beside it fails the commit), and
   * it is verified again (quick_check) before what was stored of it counts. Runs for every
   * database the commit captures: return without changes for those it does not know.
   */
  database?(copyPath: string, relPath: string): Promise<void> | void;
  /** Rewrites the content of selected regular files (not databases). Such files are read whole into memory: select small ones. */
  file?: {
    /** True for the paths `rewrite` applies to; decided by the path alone. */
    selects(relPath: string): boolean;
    /** The content to store instead of `content`; undefined stores it as is. */
    rewrite(relPath: string, content: Buffer): Uint8Array | undefined;
  };
}

export interface CommitResult {
  snapshot: SnapshotSummary;
  warnings: Warning[];
}

export interface CheckoutOptions {
  /** Restore only these paths (a file, or a folder and everything under it). */
  paths?: string[];
  /** Take a safety snapshot of a non-empty target first (default true). */
  safetySnapshot?: boolean;
  /** Keep these paths of the current target instead of replacing them (patterns as for excludes: see excludes.ts). */
  keep?: string[];
  /** Applied to the safety snapshot, as a commit's (see CommitScrub). */
  scrub?: CommitScrub;
  progress?: ProgressSink;
  signal?: AbortSignal;
}

export interface CheckoutResult {
  snapshot: string;
  safetySnapshot?: string;
  files: number;
  bytes: number;
}

export type ChangeKind = "added" | "removed" | "modified" | "type" | "meta";

export interface Change {
  path: string;
  kind: ChangeKind;
  before?: FileEntry;
  after?: FileEntry;
}

export interface RetentionPolicy {
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
}

export interface ForgetResult {
  removed: string[];
  kept: string[];
}

export interface PruneOptions {
  /** Say what would be freed, change nothing. */
  dryRun?: boolean;
  /** Stops prune between steps (the lock is released; what is left waits for the next prune). */
  signal?: AbortSignal;
}

export interface PruneResult {
  packsDeleted: number;
  packsRepacked: number;
  /** Leftovers of writes that never finished (a local repository's temporary files of killed commits). */
  partialWritesDeleted: number;
  bytesFreed: number;
}

export interface CheckOptions {
  readData?: boolean;
  /** "n/m" (the n-th of m slices) or "p%" of the packs, read and verified. */
  readDataSubset?: string;
  progress?: ProgressSink;
}

export interface CheckResult {
  ok: boolean;
  errors: string[];
  warnings: string[];
  packsRead: number;
}

export interface RepoStats {
  snapshots: number;
  /** Sum of file sizes over every snapshot (what a whole-copy backup would store). */
  logicalBytes: number;
  /** Bytes in the bucket: packs, manifests, snapshots, keys, config. */
  storedBytes: number;
  packs: number;
  blobs: number;
  /** logicalBytes / storedBytes. */
  dedupRatio: number;
}

export interface KeyInfo {
  id: string;
  created: string;
  host: string;
  current: boolean;
}
