// The floor: what any backup must store at least, per day. For databases, the 4 KiB pages that
// changed (compared page by page between consistent copies), compressed together; for other files,
// the new files compressed, and for changed files the compressed delta against their previous
// version (`zstd --patch-from`, when the zstd CLI is present; else the whole file compressed).

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { constants, zstdCompressSync } from "node:zlib";
import { which } from "./tools.ts";

const ZSTD_LEVEL = 3;
const zstdCli = which("zstd");
const sizeCache = new Map<string, number>();

function zstdSize(buf: Uint8Array): number {
  if (buf.length === 0) return 0;
  return zstdCompressSync(buf, { params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } }).length;
}

/** Compressed size of a file, cached by content hash. */
export function compressedFileSize(path: string): { hash: string; size: number; zsize: number } {
  const data = readFileSync(path);
  const hash = createHash("sha256").update(data).digest("hex");
  let z = sizeCache.get(hash);
  if (z === undefined) {
    z = zstdSize(data);
    sizeCache.set(hash, z);
  }
  return { hash, size: data.length, zsize: z };
}

function pageSizeOf(db: Buffer): number {
  const p = db.length >= 18 ? db.readUInt16BE(16) : 4096;
  return p === 1 ? 65536 : p || 4096;
}

/** Pages of `next` that differ from `prev` (or are new), concatenated and compressed. */
export function changedPagesSize(prevPath: string | null, nextPath: string): { pages: number; changed: number; bytes: number } {
  const next = readFileSync(nextPath);
  const prev = prevPath ? readFileSync(prevPath) : Buffer.alloc(0);
  const ps = pageSizeOf(next);
  const total = Math.ceil(next.length / ps);
  const parts: Buffer[] = [];
  for (let i = 0; i < total; i++) {
    const a = next.subarray(i * ps, (i + 1) * ps);
    const b = prev.subarray(i * ps, (i + 1) * ps);
    if (!a.equals(b)) parts.push(a);
  }
  return { pages: total, changed: parts.length, bytes: zstdSize(Buffer.concat(parts)) };
}

/** Compressed size of `next` as a delta against `prev`. */
export function deltaSize(prevPath: string, nextPath: string): number {
  if (!zstdCli) return compressedFileSize(nextPath).zsize;
  const r = spawnSync(zstdCli, [`-${ZSTD_LEVEL}`, "-q", "-c", `--patch-from=${prevPath}`, nextPath], { maxBuffer: 1 << 30 });
  if (r.status !== 0 || !r.stdout) return compressedFileSize(nextPath).zsize;
  return Math.min(r.stdout.length, compressedFileSize(nextPath).zsize);
}
