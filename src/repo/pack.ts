import { createHash } from "node:crypto";
import { IntegrityError } from "../errors.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { openJson, sealJson } from "./sealed-json.ts";
import { MAX_BLOB_BYTES, type BlobType, type Encoded, type EncodedBlob } from "./blob.ts";

/** Where one blob lives inside a pack. */
export interface PackEntry {
  id: string;
  type: BlobType;
  offset: number;
  length: number;
  rawLength: number;
  /** A delta's base blob (see blob.ts): it must be kept, and read first, wherever this one is. */
  base?: string;
}

export interface FinishedPack {
  id: string;
  /** The pack's bytes: a view into `buffer`. */
  bytes: Buffer;
  entries: PackEntry[];
  /** The whole buffer the pack was written into, for the next PackWriter once `bytes` is stored. */
  buffer: Buffer;
}

const TRAILER = 4;

/**
 * Accumulates sealed blobs until the pack is full. Layout: blobs, then the sealed header (the
 * entries), then the header's length as a 4-byte little-endian integer. The pack id is the
 * SHA-256 of all of it, so a pack is verified by hashing it.
 *
 * Blobs are copied into one buffer as they come, and a writer can be given the buffer of a pack
 * already stored: filling warm memory instead of concatenating into a fresh 16 MiB allocation per
 * pack (whose page faults cost about a second per 500 MB committed).
 */
export class PackWriter {
  private buffer: Buffer;
  private readonly entries: PackEntry[] = [];
  private size = 0;

  constructor(buffer?: Buffer) {
    this.buffer = buffer ?? Buffer.allocUnsafe(1024 * 1024);
  }

  get byteLength(): number {
    return this.size;
  }

  get count(): number {
    return this.entries.length;
  }

  add(blob: EncodedBlob): void {
    this.entries.push({ id: blob.id, type: blob.type, offset: this.size, length: blob.sealed.byteLength, rawLength: blob.rawLength, ...(blob.base ? { base: blob.base } : {}) });
    this.append(blob.sealed);
  }

  /** Appends a blob that `encode` seals in place (see encodeBlobInto): no copy, no allocation. */
  addEncoded(id: string, type: BlobType, rawLength: number, encode: (room: (length: number) => Buffer, at: number) => Encoded): void {
    const { length, base } = encode((n) => {
      this.reserve(n);
      return this.buffer;
    }, this.size);
    this.entries.push({ id, type, offset: this.size, length, rawLength, ...(base ? { base } : {}) });
    this.size += length;
  }

  finish(keys: RepoKeys): FinishedPack {
    this.append(packTail(keys, this.entries));
    const bytes = this.buffer.subarray(0, this.size);
    return { id: createHash("sha256").update(bytes).digest("hex"), bytes, entries: this.entries, buffer: this.buffer };
  }

  private append(part: Uint8Array): void {
    this.reserve(part.byteLength);
    this.buffer.set(part, this.size);
    this.size += part.byteLength;
  }

  private reserve(n: number): void {
    if (this.size + n <= this.buffer.byteLength) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.size + n, this.buffer.byteLength * 2));
    this.buffer.copy(bigger, 0, 0, this.size);
    this.buffer = bigger;
  }
}

/** What ends a pack after its blobs: the sealed header listing `entries`, then its 4-byte length. */
export function packTail(keys: RepoKeys, entries: PackEntry[]): Buffer {
  const header = sealJson(keys.encryption, "pack header", entriesToTuples(entries));
  const tail = Buffer.allocUnsafe(header.byteLength + TRAILER);
  tail.set(header, 0);
  tail.writeUInt32LE(header.byteLength, header.byteLength);
  return tail;
}

/** A blob's entry in pack headers and manifests: id, type, offset, length, raw length[, base]. */
type EntryTuple = [string, BlobType, number, number, number] | [string, BlobType, number, number, number, string];

const HEX_ID = /^[0-9a-f]{64}$/;

/**
 * No sealed blob is longer: the largest plaintext, its codec byte and a delta's base id, the seal.
 * An entry claiming more is refused where it is parsed, before a reader sizes a buffer by it.
 */
const MAX_SEALED_BLOB_BYTES = MAX_BLOB_BYTES + 1024;

const isSize = (n: unknown, max: number): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0 && n <= max;

/**
 * Checks each entry of a pack header or manifest: a hex id, a known type, a length no blob exceeds,
 * and an offset and length that lie within `packBytes` (the bytes of the pack that hold blobs, or
 * the whole pack's size) when the caller knows it.
 */
export function entriesFromTuples(tuples: unknown, where: string, packBytes = Number.MAX_SAFE_INTEGER): PackEntry[] {
  if (!Array.isArray(tuples)) throw new IntegrityError(where, "malformed blob list");
  return tuples.map((tuple: unknown) => {
    if (!Array.isArray(tuple) || tuple.length < 5 || tuple.length > 6) throw new IntegrityError(where, "malformed blob entry");
    const [id, type, offset, length, rawLength, base] = tuple as unknown[];
    if (typeof id !== "string" || !HEX_ID.test(id)) throw new IntegrityError(where, "blob entry with an invalid id");
    const name = `blob ${id.slice(0, 16)}…`;
    if (type !== 0 && type !== 1) throw new IntegrityError(where, `${name} has an unknown type`);
    if (!isSize(offset, packBytes) || !isSize(length, MAX_SEALED_BLOB_BYTES) || !isSize(rawLength, MAX_BLOB_BYTES) || offset + length > packBytes) {
      throw new IntegrityError(where, `${name} has an offset or length out of range`);
    }
    if (base !== undefined && (typeof base !== "string" || !HEX_ID.test(base) || base === id)) throw new IntegrityError(where, `${name} names an invalid base`);
    return { id, type, offset, length, rawLength, ...(base !== undefined ? { base } : {}) };
  });
}

export function entriesToTuples(entries: PackEntry[]): EntryTuple[] {
  return entries.map((e) => (e.base ? [e.id, e.type, e.offset, e.length, e.rawLength, e.base] : [e.id, e.type, e.offset, e.length, e.rawLength]));
}

/** Reads the header from a whole pack's bytes (the fallback when a manifest is lost). */
export function readPackHeader(keys: RepoKeys, packId: string, bytes: Uint8Array, where: string): PackEntry[] {
  if (createHash("sha256").update(bytes).digest("hex") !== packId) throw new IntegrityError(where, "pack bytes do not hash to the pack id");
  if (bytes.byteLength < TRAILER) throw new IntegrityError(where, "pack too short");
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.readUInt32LE(view.length - TRAILER);
  const start = view.length - TRAILER - headerLength;
  if (start < 0) throw new IntegrityError(where, "pack header length out of range");
  return openPackHeader(keys, view.subarray(start, view.length - TRAILER), where, start);
}

/** The 4-byte trailer's length: what to read first when only a pack's end is fetched. */
export const PACK_TRAILER_BYTES = TRAILER;

/** Opens a pack's sealed header (authenticated); every blob it names must lie in the `blobArea` bytes before it. */
function openPackHeader(keys: RepoKeys, sealedHeader: Uint8Array, where: string, blobArea: number): PackEntry[] {
  return entriesFromTuples(openJson<EntryTuple[]>(keys.encryption, "pack header", sealedHeader, where), where, blobArea);
}

/**
 * The header length a pack's last 4 bytes state, checked against the pack's size; `where` names
 * the pack in the error.
 */
export function packHeaderLength(trailer: Uint8Array, packSize: number, where: string): number {
  if (trailer.byteLength !== TRAILER || packSize < TRAILER) throw new IntegrityError(where, "pack too short");
  const length = Buffer.from(trailer.buffer, trailer.byteOffset, TRAILER).readUInt32LE(0);
  if (length > packSize - TRAILER) throw new IntegrityError(where, "pack header length out of range");
  return length;
}

/**
 * Reads the header from the pack's sealed header bytes alone (fetched by range, without the blobs:
 * the fallback when no readable manifest lists the pack). The header is authenticated; the pack's
 * hash is not checked here, each blob is authenticated when it is read.
 */
export function packHeaderFromBytes(keys: RepoKeys, sealedHeader: Uint8Array, packSize: number, where: string): PackEntry[] {
  return openPackHeader(keys, sealedHeader, where, packSize - TRAILER - sealedHeader.byteLength);
}
