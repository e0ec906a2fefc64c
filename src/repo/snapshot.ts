import { createHash } from "node:crypto";
import { IntegrityError } from "../errors.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { openJson, sealJson } from "./sealed-json.ts";

export interface SnapshotStatsRecord {
  files: number;
  dirs: number;
  bytes: number;
  /** Bytes of new blob data this commit added (after compression and encryption). */
  addedBytes: number;
  addedChunks: number;
  /** Of addedChunks, how many were stored as deltas of an older version (absent before format 2). */
  addedDeltas?: number;
  addedPacks: number;
  /** Files read from disk (the rest came from the unchanged-file cache). */
  filesRead: number;
  durationMs: number;
}

/** The sealed record under snapshots/. The listing itself is stored as tree blobs. */
export interface SnapshotRecord {
  version: 1;
  time: string;
  host: string;
  reason: string;
  tags: string[];
  parent?: string;
  root: string;
  /** The root folder's permission bits (absent in snapshots made before it was recorded). */
  rootMode?: number;
  /** Tree blob ids of the serialized listing, in order. */
  tree: string[];
  /** Exclude patterns the commit applied (a full restore keeps those paths of the target). */
  excludes: string[];
  stats: SnapshotStatsRecord;
}

export function encodeSnapshot(keys: RepoKeys, record: SnapshotRecord): { id: string; bytes: Buffer } {
  const bytes = sealJson(keys.encryption, "snapshot", record);
  return { id: createHash("sha256").update(bytes).digest("hex"), bytes };
}

export function decodeSnapshot(keys: RepoKeys, bytes: Uint8Array, where: string): SnapshotRecord {
  const record = openJson<SnapshotRecord>(keys.encryption, "snapshot", bytes, where);
  if (record?.version !== 1 || !Array.isArray(record.tree) || typeof record.time !== "string") throw new IntegrityError(where, "malformed snapshot record");
  return record;
}
