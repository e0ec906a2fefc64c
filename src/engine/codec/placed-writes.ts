import * as fs from "node:fs";
import { PathError } from "../../errors.ts";

/** Where one blob's bytes go in a checkout: a file and an offset in it (a blob may serve many places). */
export interface Placement {
  file: string;
  position: number;
  /** Set when the blob is the file's last piece (it ends where the file ends). */
  end?: true;
}

/** Smallest zero piece left as a hole: one file system block. */
const HOLE_MIN = 4096;
const ZEROS = new Uint8Array(64 * 1024);
const ONE_ZERO = new Uint8Array(1);

/** True when every byte is 0 (memcmp against zeros, stopping at the first byte that is not). */
function allZero(data: Uint8Array): boolean {
  if (data[0] !== 0 || data[data.byteLength - 1] !== 0) return false;
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let at = 0; at < data.byteLength; at += ZEROS.byteLength) {
    const n = Math.min(ZEROS.byteLength, data.byteLength - at);
    if (!view.subarray(at, at + n).equals(ZEROS.subarray(0, n))) return false;
  }
  return true;
}

/**
 * Opened without truncation: the pieces of one file may be written by two threads (the main
 * thread and the codec worker each write whole ranges), into a fresh staging folder, so whichever
 * comes first creates the file and neither may cut what the other wrote.
 */
const WRITE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT;

/** Writes each plaintext to each of its places: every file opened once, adjacent pieces in one writev. */
export function writePlaced(places: readonly (readonly Placement[])[], plains: readonly Uint8Array[]): void {
  const byFile = new Map<string, { data: Uint8Array; position: number }[]>();
  places.forEach((blobPlaces, i) => {
    const plain = plains[i]!;
    // A piece of zeros is not written: the file keeps a hole there (a sparse file restores
    // sparse). Only the file's last byte is written when the piece ends the file, so it has its size.
    const hole = plain.byteLength >= HOLE_MIN && allZero(plain);
    for (const place of blobPlaces) {
      const pieces = byFile.get(place.file) ?? [];
      if (!hole) pieces.push({ data: plain, position: place.position });
      // (a file is created by its last piece at the latest, before it is read back)
      else if (place.end) pieces.push({ data: ONE_ZERO, position: place.position + plain.byteLength - 1 });
      if (pieces.length > 0) byFile.set(place.file, pieces);
    }
  });
  for (const [file, pieces] of byFile) {
    try {
      const fd = fs.openSync(file, WRITE_FLAGS, 0o600);
      try {
        pieces.sort((a, b) => a.position - b.position);
        for (let i = 0; i < pieces.length; ) {
          let end = pieces[i]!.position + pieces[i]!.data.byteLength;
          let j = i + 1;
          while (j < pieces.length && pieces[j]!.position === end && j - i < 1024) end += pieces[j++]!.data.byteLength;
          writeAll(fd, pieces.slice(i, j).map((p) => p.data), pieces[i]!.position);
          i = j;
        }
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      // writev's own errors name no file (ENOSPC: "no space left on device, write").
      throw new PathError(file, `cannot write the restored file: ${(err as Error).message}`);
    }
  }
}

/** writev until every byte is out (a short write continues where it stopped). */
function writeAll(fd: number, buffers: Uint8Array[], position: number): void {
  let pending = buffers;
  let at = position;
  while (pending.length > 0) {
    let n = fs.writevSync(fd, pending, at);
    at += n;
    while (pending.length > 0 && n >= pending[0]!.byteLength) n -= pending.shift()!.byteLength;
    if (n > 0) pending[0] = pending[0]!.subarray(n);
  }
}
