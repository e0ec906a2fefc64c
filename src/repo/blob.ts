import { IntegrityError } from "../errors.ts";
import { chunkId, equalHex, type RepoKeys } from "../crypto/keys.ts";
import { open, sealedLength, sealInto } from "../crypto/seal.ts";
import { canBeDictionary, zstdCompressAgainst, zstdCompressFrame, zstdDecompressAgainst, zstdDecompressFrame, zstdDecompressInto } from "./zstd.ts";

/** What a blob holds: file content, or a piece of a serialized snapshot listing. */
export const BlobType = { data: 0, tree: 1 } as const;
export type BlobType = (typeof BlobType)[keyof typeof BlobType];

const CODEC_RAW = 0;
const CODEC_ZSTD = 1;
/** zstd against a base blob's plaintext (format version 2); the base's id follows the codec byte. */
const CODEC_ZSTD_DELTA = 2;
const BASE_ID_BYTES = 32;

export interface EncodedBlob {
  id: string;
  type: BlobType;
  sealed: Buffer;
  rawLength: number;
  /** Set when the blob is stored as a delta: the id of the blob whose plaintext decodes it. */
  base?: string;
}

/**
 * A delta is kept while it is under 1/DELTA_REFRESH of the chunk compressed alone; past that the
 * chunk is stored whole and becomes the base of its next versions. Deltas are taken against the
 * oldest full version, so a page group that keeps changing drifts further from it every day;
 * restarting the drift at half the chunk's size stored 20 % less database bytes over 20 generated
 * days than restarting only when the delta stops being smaller (111 against 139 MB,
 * `node bench/deltas.ts policies`).
 */
const DELTA_REFRESH = 2;

/**
 * A delta under 1/(DELTA_REFRESH × TINY_DELTA) of its chunk (992 bytes of a 32 KiB page group) is
 * stored without compressing the chunk alone to compare: only a chunk of nearly nothing but zeros
 * would be smaller alone, by under a kilobyte. Most of a daily commit's changed groups are such
 * deltas, and the comparison was a third of its compression time.
 */
const TINY_DELTA = 16;

/** A blob's plaintext offered as the base of a delta. */
export interface DeltaBase {
  id: string;
  data: Uint8Array;
}

/** Resolves a delta's base id to its plaintext (undefined when the caller does not have it). */
type BaseLookup = (id: string) => Uint8Array | undefined;

/** How encodeBlobInto stored a blob: its sealed length, and its base when it became a delta. */
export interface Encoded {
  length: number;
  base?: string;
}

const SAMPLE = 4096;

/** No blob decompresses to more: chunks are at most 16 MiB (the chunker's limit), page groups far less. */
export const MAX_BLOB_BYTES = 64 * 1024 * 1024;

/**
 * zstd level for a chunk stored whole. On the 524 MB bench state cut as a commit cuts it (32 KiB
 * page groups, 1 MiB pieces of other files), through kept contexts (zstd.ts): level 1 gives
 * 343.7 MB in 0.83 s, level 2 338.6 MB in 1.07 s, level 3 337.9 MB in 1.38 s. Level 2 stores
 * 0.2 % more than 3 for a fifth less compression time, which is the largest part of a first
 * commit's CPU time.
 */
const LEVEL = 2;

/**
 * zstd level for a delta against its base: deltas are a few megabytes a day, so their size counts
 * for more than their time, and they are what the daily storage target measures.
 */
const DELTA_LEVEL = 3;

/**
 * Bits per byte under which a sample is known to compress without asking zstd: its literals alone,
 * Huffman-coded, come to within a few percent of the order-0 entropy (plus a table of at most a
 * thirty-second of a 4 KiB sample), under 0.94 of the sample, below the 0.97 the zstd test looks
 * for. On the 500 MB bench state no sample under 7.0 bits failed the zstd test (the media chunks
 * that fail it measure 7.82 bits and up), and 86 % of the databases' page groups are under it.
 */
const SURELY_COMPRESSIBLE_BITS = 7;

/** A sample that zstd leaves at more than this share of its size is taken as incompressible. */
export const INCOMPRESSIBLE_RATIO = 0.97;

/** n·log2(n) for the counts a sample can hold, so the entropy costs one pass over the sample. */
const N_LOG_N = Float64Array.from({ length: SAMPLE + 1 }, (_, n) => (n === 0 ? 0 : n * Math.log2(n)));
const histogram = new Uint32Array(256);

/** The order-0 entropy of `sample` (at most SAMPLE bytes) in bits per byte. */
export function byteEntropy(sample: Uint8Array): number {
  histogram.fill(0);
  for (let i = 0; i < sample.length; i++) histogram[sample[i]!]!++;
  let sum = 0;
  for (let b = 0; b < 256; b++) sum += N_LOG_N[histogram[b]!]!;
  return sample.length === 0 ? 0 : Math.log2(sample.length) - sum / sample.length;
}

/**
 * True when a 4 KiB sample from the middle of the chunk does not shrink at zstd's fastest level:
 * media, archives and encrypted files, which would only cost a full compression pass to learn it.
 * A sample whose byte entropy says it compresses is not put to zstd: a frame of its own cost a
 * fifth of a 32 KiB page group's compression (the entropy costs 4 % of it), and page groups are
 * most of a first commit's chunks.
 */
export function looksIncompressible(data: Uint8Array): boolean {
  if (data.byteLength < 4 * SAMPLE) return false;
  const start = (data.byteLength - SAMPLE) >> 1;
  const sample = data.subarray(start, start + SAMPLE);
  if (byteEntropy(sample) < SURELY_COMPRESSIBLE_BITS) return false;
  return zstdCompressFrame(sample, 1).byteLength > SAMPLE * INCOMPRESSIBLE_RATIO;
}

/**
 * Blob plaintext before sealing: one byte (type << 4 | codec), then the payload. Compression is
 * kept only when it actually shrinks the chunk (already-compressed media stays raw).
 */
export function encodeBlob(keys: RepoKeys, type: BlobType, data: Uint8Array, id = chunkId(keys, data), base?: DeltaBase): EncodedBlob {
  let sealed: Buffer | undefined;
  const done = encodeBlobInto(keys, type, data, id, (length) => (sealed = Buffer.allocUnsafe(length)), 0, base);
  return { id, type, sealed: sealed!, rawLength: data.byteLength, ...(done.base ? { base: done.base } : {}) };
}

/**
 * encodeBlob, sealing straight into a caller's buffer: `room(n)` returns a buffer with n bytes
 * free from `at` (the same one, or a larger one holding what came before). Saves an allocation and
 * a copy per blob where blobs are packed one after another.
 *
 * With a `base` (an older version of the same database page group), the blob is stored as a
 * delta against it while that is under half its size alone (DELTA_REFRESH): a 32 KiB group where
 * a few rows changed compresses to a few hundred bytes against its old version, against ~10 KiB
 * on its own. A base must itself be a full blob; the caller picks it (see DeltaSink).
 */
export function encodeBlobInto(keys: RepoKeys, type: BlobType, data: Uint8Array, id: string, room: (length: number) => Buffer, at: number, base?: DeltaBase): Encoded {
  const delta = base && canBeDictionary(base.data) ? zstdCompressAgainst(data, base.data, DELTA_LEVEL) : undefined;
  const tiny = delta !== undefined && (delta.byteLength + BASE_ID_BYTES) * DELTA_REFRESH * TINY_DELTA <= data.byteLength;
  const alone = tiny || looksIncompressible(data) ? undefined : zstdCompressFrame(data, LEVEL);
  const aloneLength = alone && alone.byteLength < data.byteLength ? alone.byteLength : data.byteLength;
  const id32 = Buffer.from(id, "hex");
  if (delta && base && (delta.byteLength + BASE_ID_BYTES) * DELTA_REFRESH < aloneLength) {
    const header = Uint8Array.of((type << 4) | CODEC_ZSTD_DELTA);
    const out = room(sealedLength(1 + BASE_ID_BYTES + delta.byteLength));
    return { length: sealInto(keys.encryption, [header, Buffer.from(base.id, "hex"), delta], id32, out, at), base: base.id };
  }
  const useZstd = alone !== undefined && alone.byteLength < data.byteLength;
  const header = Uint8Array.of((type << 4) | (useZstd ? CODEC_ZSTD : CODEC_RAW));
  const payload = useZstd ? alone : data;
  const out = room(sealedLength(1 + payload.byteLength));
  return { length: sealInto(keys.encryption, [header, payload], id32, out, at) };
}

export interface DecodeOptions {
  /**
   * At least one byte longer than the blob's plaintext: the plaintext is written there and the
   * result is a view of it, so a fetched range decodes into one allocation, not one per blob.
   */
  into?: Buffer;
  /** The plaintexts of delta bases. */
  baseOf?: BaseLookup;
  /**
   * false: the plaintext's id is not re-derived, for a caller that checks every plaintext against
   * its id later anyway (a checkout reads restored files back). The blob is still authenticated
   * (AES-GCM, with the id as associated data).
   */
  checkId?: boolean;
}

/** Opens, decompresses and re-derives the id; anything that does not match is an IntegrityError. */
export function decodeBlob(keys: RepoKeys, id: string, sealed: Uint8Array, where: string, { into, baseOf, checkId = true }: DecodeOptions = {}): Buffer {
  const framed = open(keys.encryption, sealed, Buffer.from(id, "hex"));
  if (!framed || framed.byteLength < 1) throw new IntegrityError(where, `blob ${id.slice(0, 16)}… failed authentication`);
  const codec = framed[0]! & 0x0f;
  const payload = framed.subarray(1);
  const checked = (plain: Buffer) => (checkId ? verified(keys, id, plain, where) : plain);
  if (codec === CODEC_ZSTD_DELTA) return decodeDelta(id, payload, where, checked, into, baseOf);
  if (codec !== CODEC_ZSTD) {
    if (into && payload.byteLength >= into.byteLength) throw new IntegrityError(where, `blob ${id.slice(0, 16)}… is larger than its index entry says`);
    return checked(into ? into.subarray(0, payload.copy(into)) : payload);
  }
  // A kept zstd context could in principle be left mid-frame by an earlier bad input; a result
  // that does not verify is decoded once more with a fresh context before it counts as corrupt.
  // (Without checkId a caller's own check later reports such a result instead.)
  const decoded = decompress(payload, false, into);
  if (decoded && (!checkId || equalHex(chunkId(keys, decoded), id))) return decoded;
  const again = decompress(payload, true, into);
  if (!again) throw new IntegrityError(where, `blob ${id.slice(0, 16)}… does not decompress`);
  return checked(again);
}

/** A delta blob: its base's plaintext is the dictionary; `checked` checks the result against the id (or not). */
function decodeDelta(id: string, payload: Buffer, where: string, checked: (plain: Buffer) => Buffer, into: Buffer | undefined, baseOf: BaseLookup | undefined): Buffer {
  if (payload.byteLength < BASE_ID_BYTES) throw new IntegrityError(where, `blob ${id.slice(0, 16)}… is a truncated delta`);
  const baseId = payload.subarray(0, BASE_ID_BYTES).toString("hex");
  const base = baseOf?.(baseId);
  if (!base) throw new IntegrityError(where, `blob ${id.slice(0, 16)}… is a delta of blob ${baseId.slice(0, 16)}…, which its index entry does not name as its base`);
  let plain: Buffer;
  try {
    plain = zstdDecompressAgainst(payload.subarray(BASE_ID_BYTES), base, into ? into.byteLength - 1 : MAX_BLOB_BYTES);
  } catch {
    throw new IntegrityError(where, `blob ${id.slice(0, 16)}… does not decompress against its base`);
  }
  const data = checked(plain);
  return into ? into.subarray(0, data.copy(into)) : data;
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
