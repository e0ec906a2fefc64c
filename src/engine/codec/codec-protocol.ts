// Messages between the codec pool and its worker threads, and the decode step both sides run.
import { decodeBlob, encodeBlobInto, type BlobType } from "../../repo/blob.ts";
import type { RepoKeys } from "../../crypto/keys.ts";
import { IntegrityError, PathError } from "../../errors.ts";
import type { SealedItem } from "./held-deltas.ts";
import type { Placement } from "./placed-writes.ts";
import type { VerifyItem } from "./verify-file.ts";
import type { GroupHashRequest } from "../sqlite/page-reader.ts";
import { afterBlobs } from "./young-gc.ts";

export interface BlobSlice {
  id: string;
  /** Offset of the sealed blob within the buffer sent. */
  offset: number;
  length: number;
  /** The plaintext's length, as the index records it. */
  rawLength: number;
}

/** One chunk of an encode batch: its bytes are input[offset, offset + length). */
export interface BatchItem {
  type: BlobType;
  id: string;
  offset: number;
  length: number;
  /** An older version offered as a delta base (see encodeBlobInto): its bytes are input[offset, offset + length). */
  base?: { id: string; offset: number; length: number };
}

export type CodecRequest =
  | { seq: number; op: "encode"; input: Uint8Array; items: BatchItem[]; spare?: Uint8Array }
  | { seq: number; op: "decode"; bytes: Uint8Array; blobs: BlobSlice[]; where: string; arena?: Uint8Array }
  | { seq: number; op: "verify"; items: VerifyItem[] }
  /** Decode a fetched range and write each plaintext to its places (`places[i]` for `blobs[i]`). */
  | { seq: number; op: "write"; bytes: Uint8Array; blobs: BlobSlice[]; places: Placement[][]; where: string }
  /** Decode deltas with their bases (decodeHeldDeltas) and write item `targets[i]` to `places[i]`. */
  | { seq: number; op: "deltas"; bytes: Uint8Array; items: SealedItem[]; targets: number[]; places: Placement[][] }
  /** Read a range of a captured database's page groups through the caller's descriptor and hash them (hashGroupRange). */
  | { seq: number; op: "hashGroups"; range: GroupHashRequest };

export interface CodecResponse {
  seq: number;
  /** encode: the sealed blobs back to back, in item order, and each one's length. */
  sealed?: Uint8Array;
  lengths?: number[];
  /** encode: the items stored as deltas of their base, by index. */
  deltas?: number[];
  /** encode: the request's input buffer, handed back for the next batch; write: its sealed bytes, likewise. */
  input?: Uint8Array;
  plain?: Uint8Array[];
  /** hashGroups: the groups' hashes, in order. */
  hashes?: Uint8Array;
  error?: WorkerFailure;
}

/** A failure on a worker thread, as it crosses to the caller's (error classes do not survive the crossing). */
export interface WorkerFailure {
  message: string;
  integrity?: { object: string; detail: string };
  path?: { path: string; detail: string };
}

export function toWorkerFailure(err: unknown): WorkerFailure {
  const message = (err as Error).message;
  if (err instanceof IntegrityError) return { message, integrity: { object: err.object, detail: message.slice(`integrity check failed for ${err.object}: `.length) } };
  if (err instanceof PathError) return { message, path: { path: err.path, detail: message.slice(`${err.path}: `.length) } };
  return { message };
}

/** The error a worker's failure stands for, of the class it was thrown as where that matters to callers. */
export function fromWorkerFailure(f: WorkerFailure): Error {
  if (f.integrity) return new IntegrityError(f.integrity.object, f.integrity.detail);
  if (f.path) return new PathError(f.path.path, f.path.detail);
  return new Error(f.message);
}

/**
 * Compresses and seals a batch of chunks back to back into `spare` when it is large enough, else
 * into a buffer of its own (grown as needed). An item with a base may become a delta of it
 * (`deltas` lists those).
 */
export function encodeBatch(k: RepoKeys, input: Uint8Array, items: readonly BatchItem[], spare?: Uint8Array): { sealed: Buffer; lengths: number[]; deltas: number[] } {
  // Room for every chunk stored raw plus the per-blob overhead; compressed ones need less.
  const bound = items.reduce((n, i) => n + i.length + 64, 0);
  let out = spare && spare.byteLength >= bound ? Buffer.from(spare.buffer, spare.byteOffset, spare.byteLength) : Buffer.allocUnsafeSlow(bound);
  const room = (n: number, at: number): Buffer => {
    if (at + n > out.byteLength) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(at + n, out.byteLength * 2));
      out.copy(bigger, 0, 0, at);
      out = bigger;
    }
    return out;
  };
  let at = 0;
  const deltas: number[] = [];
  const lengths = items.map((item, i) => {
    const base = item.base && { id: item.base.id, data: input.subarray(item.base.offset, item.base.offset + item.base.length) };
    const encoded = encodeBlobInto(k, item.type, input.subarray(item.offset, item.offset + item.length), item.id, (len) => room(len, at), at, base);
    if (encoded.base) deltas.push(i);
    at += encoded.length;
    return encoded.length;
  });
  afterBlobs(input.byteLength);
  return { sealed: out.subarray(0, at), lengths, deltas };
}

/**
 * Decodes every blob of a fetched pack range into one buffer (each plaintext a view of it): the
 * caller's `arena` when it is large enough (reused memory: a fresh 16 MiB buffer per range cost a
 * page fault per 4 KiB written, 1.5 s per 500 MB restored), else a new one of its own, which a
 * worker hands back by moving one ArrayBuffer. Shared with the inline (no worker) path.
 *
 * Each blob is authenticated, but its plaintext is not checked against its id here: the only
 * caller, a checkout, reads every restored file back and checks each chunk's id from the bytes on
 * disk before anything is swapped in (invariant 5), so checking here too hashed every byte
 * twice. That second HMAC was 0.4 s of the checkout's main thread on the bench state; without it
 * a checkout into /dev/shm took 2.56–2.78 s against 3.03–3.23 s (five alternating runs).
 */
export function decodeSlices(k: RepoKeys, bytes: Uint8Array, blobs: BlobSlice[], where: string, arena?: Buffer): { arena: Buffer; plain: Buffer[] } {
  // One spare byte after the last plaintext: decodeBlob refuses output that fills its target.
  const needed = arenaBytes(blobs);
  // allocUnsafeSlow: never a slice of node's shared pool, which must not be moved to another thread.
  const into = arena && arena.byteLength >= needed ? arena : Buffer.allocUnsafeSlow(needed);
  let at = 0;
  const plain = blobs.map((b) => {
    const data = decodeBlob(k, b.id, bytes.subarray(b.offset, b.offset + b.length), where, { into: into.subarray(at, at + b.rawLength + 1), checkId: false });
    if (data.byteLength !== b.rawLength) throw new IntegrityError(where, `blob ${b.id.slice(0, 16)}… is ${data.byteLength} bytes, the index says ${b.rawLength}`);
    at += b.rawLength;
    return data;
  });
  afterBlobs(at);
  return { arena: into, plain };
}

/** The arena decodeSlices needs for these blobs. */
export function arenaBytes(blobs: readonly BlobSlice[]): number {
  return blobs.reduce((n, b) => n + b.rawLength, 0) + 1;
}
