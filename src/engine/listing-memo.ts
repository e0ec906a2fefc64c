import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { ListingMemo } from "../index/cache.ts";
import { databaseStatKey, sameStat } from "./source-reader.ts";
import type { WalkEntry } from "./walk.ts";

// A no-change commit spent most of its time after the walk rebuilding a listing it already had:
// looking up 9,500 stat-cache rows, serializing 2.5 MB of JSON, cutting and hashing it. When the
// walk finds exactly the names and stats of the last commit of the folder, and no blob has left
// the index since (the cache checks its generation), that commit's listing is reused as is.
// This trusts stats exactly as far as the stat cache does: a file whose stat is unchanged is
// taken as unchanged, and a database also needs its -wal unchanged.

/** Bytes hashed per entry besides its name: a NUL, then mode, size, mtime, ctime and inode as 64-bit numbers. */
const ENTRY_FIXED_BYTES = 1 + 5 * 8;
/** Entries are written into a buffer of this size, hashed each time it fills (memory does not grow with the folder). */
const DIGEST_BLOCK = 64 * 1024;

/** SHA-256 over what a listing is made from: each entry's name, mode, size, times and inode, and the excludes. */
export function walkDigest(entries: readonly WalkEntry[], excludes: readonly string[]): string {
  // Numbers go in as bytes: turning 50,000 BigInts into strings took longer than the hashing.
  const hash = createHash("sha256").update(JSON.stringify(excludes)).update("\0");
  let block = Buffer.allocUnsafe(DIGEST_BLOCK);
  let at = 0;
  for (const { relPath, stat: st } of entries) {
    const need = Buffer.byteLength(relPath) + ENTRY_FIXED_BYTES;
    if (at + need > block.byteLength) {
      hash.update(block.subarray(0, at));
      at = 0;
      if (need > block.byteLength) block = Buffer.allocUnsafe(need);
    }
    at += block.write(relPath, at, "utf8");
    block[at++] = 0; // names cannot contain NUL, so one name cannot run into the next entry
    at = block.writeBigUInt64LE(st.mode, at);
    at = block.writeBigUInt64LE(st.size, at);
    at = block.writeBigUInt64LE(st.mtimeNs, at);
    at = block.writeBigUInt64LE(st.ctimeNs, at);
    at = block.writeBigUInt64LE(st.ino, at);
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
