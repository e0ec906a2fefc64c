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

/**
 * The listing's bytes in blocks of about `blockBytes`, written an entry at a time: the listing of a
 * 1.5 GB state is about 7 MB, and building it as one string (lines, their join, then its bytes)
 * added about 20 MB to a commit's peak at its very end.
 */
export function* listingBlocks(entries: readonly FileEntry[], blockBytes = 256 * 1024): Generator<Buffer> {
  let block = Buffer.allocUnsafe(blockBytes);
  let used = 0;
  for (const e of entries) {
    const line = `${JSON.stringify(e)}\n`;
    const length = Buffer.byteLength(line);
    if (used + length > block.byteLength) {
      if (used > 0) yield block.subarray(0, used);
      block = Buffer.allocUnsafe(Math.max(blockBytes, length));
      used = 0;
    }
    used += block.write(line, used);
  }
  if (used > 0) yield block.subarray(0, used);
}

export function parseListing(bytes: Uint8Array, where: string): FileEntry[] {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  const entries: FileEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      throw new IntegrityError(where, "snapshot listing is not valid");
    }
    const problem = entryProblem(entry);
    if (problem) throw new IntegrityError(where, `snapshot listing has a malformed entry (${problem})`);
    entries.push(entry as FileEntry);
  }
  return entries;
}

const HEX_ID = /^[0-9a-f]{64}$/;
const isCount = (n: unknown, max = Number.MAX_SAFE_INTEGER) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0 && n <= max;

/** What is wrong with one parsed line as a FileEntry (its path is judged by assertSafeEntry). */
function entryProblem(e: unknown): string | undefined {
  if (typeof e !== "object" || e === null || Array.isArray(e)) return "not an object";
  const f = e as Partial<Record<keyof FileEntry, unknown>>;
  if (typeof f.path !== "string") return "path";
  if (f.type !== "file" && f.type !== "dir" && f.type !== "symlink") return `type of ${JSON.stringify(f.path)}`;
  if (!isCount(f.mode, 0o7777) || typeof f.mtimeMs !== "number" || !Number.isFinite(f.mtimeMs) || !isCount(f.size)) return `mode, time or size of ${JSON.stringify(f.path)}`;
  if (f.chunks !== undefined && !(Array.isArray(f.chunks) && f.chunks.every((c) => typeof c === "string" && HEX_ID.test(c)))) return `chunk ids of ${JSON.stringify(f.path)}`;
  if (f.type === "file" && f.chunks === undefined) return `chunk ids of ${JSON.stringify(f.path)}`;
  if (f.sqlite !== undefined && typeof f.sqlite !== "boolean") return `sqlite flag of ${JSON.stringify(f.path)}`;
  if (f.type === "symlink" && typeof f.target !== "string") return `link target of ${JSON.stringify(f.path)}`;
  return undefined;
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

/**
 * Invariant 10 across entries: no entry lies under a link of the same listing. A commit never
 * descends into a link, so such an entry can only be forged, and writing it would follow the link
 * (a chain of links that each stay inside the target by name can point out of it on disk).
 */
export function assertNoPathThroughLinks(entries: readonly FileEntry[]): void {
  const links = new Set(entries.filter((e) => e.type === "symlink").map((e) => e.path));
  if (links.size === 0) return;
  for (const e of entries) {
    for (let at = e.path.indexOf("/"); at > 0; at = e.path.indexOf("/", at + 1)) {
      if (links.has(e.path.slice(0, at))) throw new UnsafePathError(e.path, `lies under the link ${JSON.stringify(e.path.slice(0, at))}`);
    }
  }
}

/** True when `p` is `prefix` or lies under it. */
export function isUnder(p: string, prefix: string): boolean {
  const clean = prefix.replace(/\/+$/, "");
  return clean === "" || p === clean || p.startsWith(`${clean}/`);
}
