import { createHash } from "node:crypto";
import type { FileStat } from "../../index/cache.ts";
import type { CommitScrub } from "../types.ts";

// A scrub's tag in stat-cache keys (see CommitScrub): apart from the scrubbing itself, which
// needs the SQLite capture.

const TAG_MARK = "~";

/** The short form of a scrub's id that a stat-cache row carries. */
export function scrubTag(scrub: CommitScrub): string {
  return createHash("sha256").update(scrub.id).digest("hex").slice(0, 16);
}

/**
 * The stat-cache key of a file stored scrubbed: its stat key with the scrub's tag after the ctime.
 * A row written under one scrub then matches no stat taken under another, or under none, so the
 * file is read (and scrubbed) again instead of its stored chunks being reused.
 */
export function withScrubTag(key: FileStat, tag: string | undefined): FileStat {
  return tag === undefined ? key : { ...key, ctimeNs: `${key.ctimeNs}${TAG_MARK}${tag}` };
}

/** The plain stat key of a row (its scrub tag, if any, removed). */
export function withoutScrubTag(key: FileStat): FileStat {
  const at = key.ctimeNs.indexOf(TAG_MARK);
  return at < 0 ? key : { ...key, ctimeNs: key.ctimeNs.slice(0, at) };
}
