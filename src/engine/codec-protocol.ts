// Messages between the codec pool and its worker threads, and the decode step both sides run.
import { decodeBlob, type BlobType } from "../repo/blob.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { IntegrityError } from "../errors.ts";

export interface BlobSlice {
  id: string;
  /** Offset of the sealed blob within the buffer sent. */
  offset: number;
  length: number;
  /** The plaintext's length, as the index records it. */
  rawLength: number;
}

export type CodecRequest =
  | { seq: number; op: "encode"; type: BlobType; id: string; data: Uint8Array }
  | { seq: number; op: "decode"; bytes: Uint8Array; blobs: BlobSlice[]; where: string };

export interface CodecResponse {
  seq: number;
  sealed?: Uint8Array;
  plain?: Uint8Array[];
  error?: { message: string; integrity?: { object: string } };
}

/**
 * Decodes every blob of a fetched pack range into one buffer (each plaintext a view of it): the
 * caller's `arena` when it is large enough (reused memory: a fresh 16 MiB buffer per range cost a
 * page fault per 4 KiB written, 1.5 s per 500 MB restored), else a new one of its own, which a
 * worker hands back by moving one ArrayBuffer. Shared with the inline (no worker) path.
 */
export function decodeSlices(k: RepoKeys, bytes: Uint8Array, blobs: BlobSlice[], where: string, arena?: Buffer): { arena: Buffer; plain: Buffer[] } {
  // One spare byte after the last plaintext: decodeBlob refuses output that fills its target.
  const needed = arenaBytes(blobs);
  // allocUnsafeSlow: never a slice of node's shared pool, which must not be moved to another thread.
  const into = arena && arena.byteLength >= needed ? arena : Buffer.allocUnsafeSlow(needed);
  let at = 0;
  const plain = blobs.map((b) => {
    const data = decodeBlob(k, b.id, bytes.subarray(b.offset, b.offset + b.length), where, into.subarray(at, at + b.rawLength + 1));
    if (data.byteLength !== b.rawLength) throw new IntegrityError(where, `blob ${b.id.slice(0, 16)}… is ${data.byteLength} bytes, the index says ${b.rawLength}`);
    at += b.rawLength;
    return data;
  });
  return { arena: into, plain };
}

/** The arena decodeSlices needs for these blobs. */
export function arenaBytes(blobs: readonly BlobSlice[]): number {
  return blobs.reduce((n, b) => n + b.rawLength, 0) + 1;
}
