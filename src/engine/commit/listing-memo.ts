import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { ListingMemo } from "../../index/cache.ts";
import { databaseStatKey, sameStat } from "./stat-key.ts";
import type { WalkEntry } from "./walk.ts";

// A no-change commit spent most of its time after the walk rebuilding a listing it already had:
// looking up 9,500 stat-cache rows, serializing 2.5 MB of JSON, cutting and hashing it. When the
// walk finds exactly the names and stats of the last commit of the folder, and no blob has left
// the index since (the cache checks its generation), that commit's listing is reused as is.
// This trusts stats exactly as far as the stat cache does: a file whose stat is unchanged is
// taken as unchanged, and a database also needs its -wal unchanged.

/** Entries are written into a buffer of this size, hashed each time it fills (memory does not grow with the folder). */
const DIGEST_BLOCK = 64 * 1024;

/**
 * SHA-256 over what a listing is made from: each entry's name, mode, size, times and inode, the
 * excludes, and the id of the scrub applied (see CommitScrub), if any.
 */
export function walkDigest(entries: readonly WalkEntry[], excludes: readonly string[], scrubId?: string): string {
  // Each entry: its name, zeros up to the next multiple of 8 (at least one: names cannot contain
  // NUL, so one name cannot run into what follows), then mode, size, mtime, ctime and inode as
  // 64-bit numbers stored through an aligned view. Turning the BigInts into strings, or writing
  // them byte by byte, made this a tenth of a no-change commit.
  const hash = createHash("sha256").update(JSON.stringify(excludes)).update("\0");
  if (scrubId !== undefined) hash.update(`scrub:${JSON.stringify(scrubId)}\0`);
  let block = Buffer.alloc(DIGEST_BLOCK);
  let numbers = new BigUint64Array(block.buffer, block.byteOffset, block.byteLength / 8);
  let at = 0;
  for (const { relPath, stat: st } of entries) {
    const most = relPath.length * 3 + 8 + 5 * 8; // UTF-8 takes at most 3 bytes per UTF-16 unit
    if (at + most > block.byteLength) {
      hash.update(block.subarray(0, at));
      at = 0;
      if (most > block.byteLength) {
        block = Buffer.alloc(most + (8 - (most % 8)));
        numbers = new BigUint64Array(block.buffer, block.byteOffset, block.byteLength / 8);
      }
    }
    at += block.write(relPath, at, "utf8");
    const end = (at & ~7) + 8;
    block.fill(0, at, end);
    let word = end / 8;
    numbers[word++] = st.mode;
    numbers[word++] = st.size;
    numbers[word++] = st.mtimeNs;
    numbers[word++] = st.ctimeNs;
    numbers[word++] = st.ino;
    at = word * 8;
  }
  return hash.update(block.subarray(0, at)).digest("hex");
}

/**
 * The memo, when the folder walked to `walk` still has what it was made from. Its listing and
 * every chunk it names are still stored: the cache hands out a memo only while no blob has left
 * the index since it was written, as it vouches for stat-cache rows.
 */
export async function reusableListing(memo: ListingMemo | undefined, walk: string, root: string): Promise<ListingMemo | undefined> {
  if (!memo || memo.walk !== walk) return undefined;
  for (const [relPath, key] of memo.databases) {
    const absPath = path.join(root, relPath);
    const st = await fs.lstat(absPath, { bigint: true }).catch(() => undefined);
    if (!st || !sameStat(await databaseStatKey(absPath, st), key)) return undefined;
  }
  return memo;
}
