import { IntegrityError } from "../errors.ts";
import { chunkId, equalHex, type RepoKeys } from "../crypto/keys.ts";
import { open, sealedLength, sealInto } from "../crypto/seal.ts";
import { zstdCompressFrame, zstdDecompressFrame, zstdDecompressInto } from "./zstd.ts";

/** What a blob holds: file content, or a piece of a serialized snapshot listing. */
export const BlobType = { data: 0, tree: 1 } as const;
export type BlobType = (typeof BlobType)[keyof typeof BlobType];

const CODEC_RAW = 0;
const CODEC_ZSTD = 1;

export interface EncodedBlob {
  id: string;
  type: BlobType;
  sealed: Buffer;
  rawLength: number;
}

const SAMPLE = 4096;

/** No blob decompresses to more: chunks are at most 16 MiB (the chunker's limit), page groups far less. */
const MAX_BLOB_BYTES = 64 * 1024 * 1024;

/**
 * zstd level 3 for every chunk. Level 1 used to be chosen for small chunks, whose cost was mostly
 * zstd's per-call set-up; with a kept context (zstd.ts) level 3 costs about the same on 8 KiB
 * database page groups (273 against 258 ms per 64 MB) and stores 1.2 % less.
 */
const LEVEL = 3;

/**
 * True when a 4 KiB sample from the middle of the chunk does not shrink at zstd's fastest level:
 * media, archives and encrypted files, which would only cost a full compression pass to learn it.
 */
function looksIncompressible(data: Uint8Array): boolean {
  if (data.byteLength < 4 * SAMPLE) return false;
  const start = (data.byteLength - SAMPLE) >> 1;
  const sample = data.subarray(start, start + SAMPLE);
  return zstdCompressFrame(sample, 1).byteLength > SAMPLE * 0.97;
}

/**
 * Blob plaintext before sealing: one byte (type << 4 | codec), then the payload. Compression is
 * kept only when it actually shrinks the chunk (already-compressed media stays raw).
 */
export function encodeBlob(keys: RepoKeys, type: BlobType, data: Uint8Array, id = chunkId(keys, data)): EncodedBlob {
  let sealed: Buffer | undefined;
  encodeBlobInto(keys, type, data, id, (length) => (sealed = Buffer.allocUnsafe(length)), 0);
  return { id, type, sealed: sealed!, rawLength: data.byteLength };
}

/**
 * encodeBlob, sealing straight into a caller's buffer: `room(n)` returns a buffer with n bytes
 * free from `at` (the same one, or a larger one holding what came before). Returns the bytes
 * written. Saves an allocation and a copy per blob where blobs are packed one after another.
 */
export function encodeBlobInto(keys: RepoKeys, type: BlobType, data: Uint8Array, id: string, room: (length: number) => Buffer, at: number): number {
  const packed = looksIncompressible(data) ? undefined : zstdCompressFrame(data, LEVEL);
  const useZstd = packed !== undefined && packed.byteLength < data.byteLength;
  const header = Uint8Array.of((type << 4) | (useZstd ? CODEC_ZSTD : CODEC_RAW));
  const payload = useZstd ? packed : data;
  const out = room(sealedLength(1 + payload.byteLength));
  return sealInto(keys.encryption, [header, payload], Buffer.from(id, "hex"), out, at);
}

/**
 * Opens, decompresses and re-derives the id; anything that does not match is an IntegrityError.
 * With `into` (at least one byte longer than the blob's plaintext), the plaintext is written there
 * and the result is a view of it: a fetched range decodes into one allocation, not one per blob.
 */
export function decodeBlob(keys: RepoKeys, id: string, sealed: Uint8Array, where: string, into?: Buffer): Buffer {
  const framed = open(keys.encryption, sealed, Buffer.from(id, "hex"));
  if (!framed || framed.byteLength < 1) throw new IntegrityError(where, `blob ${id.slice(0, 16)}… failed authentication`);
  const codec = framed[0]! & 0x0f;
  const payload = framed.subarray(1);
  if (codec !== CODEC_ZSTD) {
    if (into && payload.byteLength >= into.byteLength) throw new IntegrityError(where, `blob ${id.slice(0, 16)}… is larger than its index entry says`);
    return verified(keys, id, into ? into.subarray(0, payload.copy(into)) : payload, where);
  }
  // A kept zstd context could in principle be left mid-frame by an earlier bad input; a result
  // that does not verify is decoded once more with a fresh context before it counts as corrupt.
  const decoded = decompress(payload, false, into);
  if (decoded && equalHex(chunkId(keys, decoded), id)) return decoded;
  const again = decompress(payload, true, into);
  if (!again) throw new IntegrityError(where, `blob ${id.slice(0, 16)}… does not decompress`);
  return verified(keys, id, again, where);
}

function decompress(payload: Uint8Array, fresh: boolean, into: Buffer | undefined): Buffer | undefined {
  try {
    return into ? into.subarray(0, zstdDecompressInto(payload, into, fresh)) : zstdDecompressFrame(payload, MAX_BLOB_BYTES, fresh);
  } catch {
    return undefined;
  }
}

function verified(keys: RepoKeys, id: string, data: Buffer, where: string): Buffer {
  if (!equalHex(chunkId(keys, data), id)) throw new IntegrityError(where, `blob ${id.slice(0, 16)}… content does not match its id`);
  return data;
}
