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
  /** Of the databases read, how many through their WAL in place rather than a backup-API copy (absent before it was counted). */
  databasesReadInPlace?: number;
  durationMs: number;
}

/**
 * What a snapshot's databases are known to be worth: each one's stored content either passed
 * SQLite's quick_check (in this commit or an earlier one that stored the same content), failed it,
 * or was not checked (checks run at most once a day per database). Absent in records written
 * before it existed: unknown.
 */
export interface SqliteCheckRecord {
  /** Databases in the snapshot. */
  databases: number;
  /** Of them, how many hold content that passed quick_check. */
  passed: number;
  /** Paths of the databases whose content failed quick_check. */
  failed: string[];
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
  sqliteCheck?: SqliteCheckRecord;
}

export function encodeSnapshot(keys: RepoKeys, record: SnapshotRecord): { id: string; bytes: Buffer } {
  const bytes = sealJson(keys.encryption, "snapshot", record);
  return { id: createHash("sha256").update(bytes).digest("hex"), bytes };
}

const HEX_ID = /^[0-9a-f]{64}$/;
const isStrings = (a: unknown): a is string[] => Array.isArray(a) && a.every((s) => typeof s === "string");

export function decodeSnapshot(keys: RepoKeys, bytes: Uint8Array, where: string): SnapshotRecord {
  const record = openJson<SnapshotRecord>(keys.encryption, "snapshot", bytes, where);
  // Every field a reader uses is checked here, so that a record written by this key but damaged
  // in a way the seal cannot see (a bug, an old version) is reported by name, not met as a crash.
  const ok =
    record?.version === 1 &&
    typeof record.time === "string" &&
    typeof record.host === "string" &&
    typeof record.reason === "string" &&
    typeof record.root === "string" &&
    isStrings(record.tags) &&
    (record.excludes === undefined || isStrings(record.excludes)) &&
    Array.isArray(record.tree) &&
    record.tree.every((id) => typeof id === "string" && HEX_ID.test(id)) &&
    (record.parent === undefined || (typeof record.parent === "string" && HEX_ID.test(record.parent))) &&
    typeof record.stats === "object" &&
    record.stats !== null &&
    Object.values(record.stats).every((v) => typeof v === "number");
  if (!ok) throw new IntegrityError(where, "malformed snapshot record");
  return { ...record, excludes: record.excludes ?? [] };
}
