import { IntegrityError, UnsafePathError } from "../errors.ts";
import { linkTargetProblem, listingPathProblem } from "./path-rule.ts";
import type { FileEntry } from "./types.ts";
import type { ChunkerParams } from "../chunker/index.ts";

// A snapshot's listing is newline-delimited JSON, one entry a line, sorted by path. It is then
// chunked, so an unchanged stretch of the listing deduplicates across snapshots.

/**
 * How a listing is cut: content-defined, like files, but into small pieces (about 4 KiB, 60 chunk
 * ids). A database's entry lists one id per page group, and a day's changes touch a few
 * percent of the groups scattered over the file: with the 64 KiB file chunks nearly every piece
 * of such an entry changed every day (1.7 MB a day on the bench state), with 4 KiB pieces about
 * half do. The pieces are read back with merged range requests, so their number costs no extra
 * requests.
 */
export const LISTING_CHUNKS: ChunkerParams = { minSize: 1024, avgSize: 4096, maxSize: 16384, normalization: 1 };

export function serializeListing(entries: readonly FileEntry[]): Buffer {
  return Buffer.from(entries.map((e) => JSON.stringify(e)).join("\n") + (entries.length ? "\n" : ""));
}

export function parseListing(bytes: Uint8Array, where: string): FileEntry[] {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  const entries: FileEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      entries.push(JSON.parse(line) as FileEntry);
    } catch {
      throw new IntegrityError(where, "snapshot listing is not valid");
    }
  }
  return entries;
}

/**
 * Invariant 10: a listing entry may only name a path inside the target, and a link may only
 * point inside it (the rule commit applies too: see path-rule.ts). Checked for the whole listing
 * before anything is written.
 */
export function assertSafeEntry(entry: FileEntry): void {
  const p = entry.path;
  const problem = listingPathProblem(p);
  if (problem) throw new UnsafePathError(String(p), problem);
  if (!["file", "dir", "symlink"].includes(entry.type)) throw new UnsafePathError(p, `unknown entry type ${String(entry.type)}`);
  if (entry.type === "symlink") {
    const linkProblem = linkTargetProblem(p, entry.target);
    if (linkProblem) throw new UnsafePathError(p, linkProblem);
  }
}

/** True when `p` is `prefix` or lies under it. */
export function isUnder(p: string, prefix: string): boolean {
  const clean = prefix.replace(/\/+$/, "");
  return clean === "" || p === clean || p.startsWith(`${clean}/`);
}
