import * as fs from "node:fs";
import { chunkHasher, type RepoKeys } from "../../crypto/keys.ts";
import { IntegrityError } from "../../errors.ts";

/** A restored file to read back: where it is, what the listing calls it, and what it must hold. */
export interface VerifyItem {
  file: string;
  path: string;
  size: number;
  /** The file's chunk ids in order (the listing's own array), and each one's plaintext length. */
  chunks: readonly string[];
  lengths: number[];
  /** Given to the file once it has checked out (its content is final then). */
  mode: number;
  /** Access and modification time, seconds (see utimes). */
  mtime: number;
}

/** Block size for reading restored files back. */
export const VERIFY_BLOCK = 1024 * 1024;

/**
 * Reads a restored file back, chunk by chunk as the listing cuts it, and checks every chunk id:
 * one read per MiB, each chunk's span hashed incrementally (a database restores as thousands of
 * 8 KiB chunks). IntegrityError naming the listing path on any difference. Then sets the file's
 * mode and time through the same descriptor (on the thread that reads back, not at the end).
 */
export function verifyRestoredFile(keys: RepoKeys, item: VerifyItem, block: Buffer): void {
  const fd = fs.openSync(item.file, "r");
  try {
    const { size } = fs.fstatSync(fd);
    if (size !== item.size) throw new IntegrityError(item.path, `restored file has ${size} bytes, the snapshot says ${item.size}`);
    const { chunks, lengths } = item;
    let next = 0;
    let remaining = lengths[0] ?? 0;
    let hmac = chunks.length ? chunkHasher(keys) : undefined;
    let chunkStart = 0;
    for (let position = 0; position < size; ) {
      const bytesRead = fs.readSync(fd, block, 0, Math.min(block.byteLength, size - position), position);
      if (bytesRead === 0) throw new IntegrityError(item.path, `restored file ends early at ${position}`);
      let at = 0;
      while (at < bytesRead) {
        if (!hmac) throw new IntegrityError(item.path, "restored file is longer than its chunks");
        const take = Math.min(remaining, bytesRead - at);
        hmac.update(block.subarray(at, at + take));
        at += take;
        remaining -= take;
        if (remaining === 0) {
          if (hmac.digest("hex") !== chunks[next]) throw new IntegrityError(item.path, `restored bytes at offset ${chunkStart} do not match the snapshot`);
          chunkStart += lengths[next]!;
          next++;
          hmac = next < chunks.length ? chunkHasher(keys) : undefined;
          remaining = lengths[next] ?? 0;
        }
      }
      position += bytesRead;
    }
    if (next !== chunks.length) throw new IntegrityError(item.path, "restored file is shorter than its chunks");
    fs.fchmodSync(fd, item.mode);
    fs.futimesSync(fd, item.mtime, item.mtime);
  } finally {
    fs.closeSync(fd);
  }
}
