import { randomBytes } from "node:crypto";
import { IntegrityError, UnsupportedFormatError } from "../errors.ts";
// From params.ts itself, not the layer's index: reading a config needs none of the chunker's other modules.
import { DEFAULT_CHUNKER_PARAMS, validateChunkerParams, type ChunkerParams } from "../chunker/params.ts";
import { ClawbackError } from "../errors.ts";

/**
 * Version 2 added delta blobs (blob.ts): a version 1 reader would take one for corrupt. Both are
 * read; deltas are written only into version 2 repositories, so a version 1 repository stays
 * readable by the clawback that made it.
 */
export const FORMAT_VERSION = 2;
export const READABLE_VERSIONS = [1, 2];

/** Whether blobs may be stored as deltas in a repository with this config. */
export const allowsDeltas = (cfg: RepoConfig) => cfg.version >= 2;

/** The plaintext `config` object: enough to know how to read the rest, nothing secret. */
export interface RepoConfig {
  version: number;
  id: string;
  created: string;
  chunker: ChunkerParams;
  /** SQLite databases are cut into groups of this many pages instead of FastCDC chunks. */
  sqliteGroupPages: number;
  /** Target size of a pack before it is sealed and uploaded. */
  packSize: number;
}

export function newConfig(overrides: Pick<RepoConfig, "sqliteGroupPages"> & Partial<Pick<RepoConfig, "chunker" | "packSize">>): RepoConfig {
  return {
    version: FORMAT_VERSION,
    id: randomBytes(32).toString("hex"),
    created: new Date().toISOString(),
    chunker: overrides.chunker ?? DEFAULT_CHUNKER_PARAMS,
    sqliteGroupPages: overrides.sqliteGroupPages,
    packSize: overrides.packSize ?? 16 * 1024 * 1024,
  };
}

/** Bounds of the sizes a config may set (far above any default). */
const MAX_PACK_SIZE = 1024 * 1024 * 1024;
const MAX_GROUP_PAGES = 65536;

export function parseConfig(bytes: Uint8Array): RepoConfig {
  let cfg: RepoConfig;
  try {
    cfg = JSON.parse(Buffer.from(bytes).toString("utf8")) as RepoConfig;
  } catch {
    throw new IntegrityError("config", "not valid JSON");
  }
  if (!READABLE_VERSIONS.includes(cfg?.version)) throw new UnsupportedFormatError(cfg?.version, FORMAT_VERSION);
  const c = cfg.chunker;
  // Sizes are bounded here: a commit allocates its pack buffer by packSize and its chunk window
  // by chunker.maxSize, so an absurd value must stop at the parser.
  const count = (n: unknown, low: number, high: number) => typeof n === "number" && Number.isSafeInteger(n) && n >= low && n <= high;
  if (typeof cfg.id !== "string" || !/^[0-9a-f]{64}$/.test(cfg.id) || !c || !(c.minSize > 0 && c.avgSize > c.minSize && c.maxSize > c.avgSize) || !count(cfg.sqliteGroupPages, 1, MAX_GROUP_PAGES) || !count(cfg.packSize, 1024, MAX_PACK_SIZE)) {
    throw new IntegrityError("config", "missing or invalid fields");
  }
  try {
    validateChunkerParams(c);
  } catch (err) {
    throw new IntegrityError("config", err instanceof ClawbackError ? err.message : "invalid chunker parameters");
  }
  return cfg;
}

export function encodeConfig(cfg: RepoConfig): Buffer {
  return Buffer.from(JSON.stringify(cfg, null, 1));
}
