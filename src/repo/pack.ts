import { createHash } from "node:crypto";
import { IntegrityError } from "../errors.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { openJson, sealJson } from "./sealed-json.ts";
import type { BlobType, EncodedBlob } from "./blob.ts";

/** Where one blob lives inside a pack. */
export interface PackEntry {
  id: string;
  type: BlobType;
  offset: number;
  length: number;
  rawLength: number;
}

export interface FinishedPack {
  id: string;
  bytes: Buffer;
  entries: PackEntry[];
}

const TRAILER = 4;

/**
 * Accumulates sealed blobs until the pack is full. Layout: blobs, then the sealed header (the
 * entries), then the header's length as a 4-byte little-endian integer. The pack id is the
 * SHA-256 of all of it, so a pack is verified by hashing it.
 */
export class PackWriter {
  private readonly parts: Buffer[] = [];
  private readonly entries: PackEntry[] = [];
  private size = 0;

  get byteLength(): number {
    return this.size;
  }

  get count(): number {
    return this.entries.length;
  }

  add(blob: EncodedBlob): void {
    this.entries.push({ id: blob.id, type: blob.type, offset: this.size, length: blob.sealed.byteLength, rawLength: blob.rawLength });
    this.parts.push(blob.sealed);
    this.size += blob.sealed.byteLength;
  }

  finish(keys: RepoKeys): FinishedPack {
    const header = sealJson(keys.encryption, "pack header", this.entries.map((e) => [e.id, e.type, e.offset, e.length, e.rawLength]));
    const trailer = Buffer.alloc(TRAILER);
    trailer.writeUInt32LE(header.byteLength);
    const bytes = Buffer.concat([...this.parts, header, trailer]);
    return { id: createHash("sha256").update(bytes).digest("hex"), bytes, entries: this.entries };
  }
}

type EntryTuple = [string, BlobType, number, number, number];

export function entriesFromTuples(tuples: EntryTuple[], where: string): PackEntry[] {
  if (!Array.isArray(tuples)) throw new IntegrityError(where, "malformed blob list");
  return tuples.map(([id, type, offset, length, rawLength]) => ({ id, type, offset, length, rawLength }));
}

export function entriesToTuples(entries: PackEntry[]): EntryTuple[] {
  return entries.map((e) => [e.id, e.type, e.offset, e.length, e.rawLength]);
}

/** Reads the header from a whole pack's bytes (the fallback when a manifest is lost). */
export function readPackHeader(keys: RepoKeys, packId: string, bytes: Uint8Array, where: string): PackEntry[] {
  if (createHash("sha256").update(bytes).digest("hex") !== packId) throw new IntegrityError(where, "pack bytes do not hash to the pack id");
  if (bytes.byteLength < TRAILER) throw new IntegrityError(where, "pack too short");
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.readUInt32LE(view.length - TRAILER);
  const start = view.length - TRAILER - headerLength;
  if (start < 0) throw new IntegrityError(where, "pack header length out of range");
  const tuples = openJson<EntryTuple[]>(keys.encryption, "pack header", view.subarray(start, view.length - TRAILER), where);
  return entriesFromTuples(tuples, where);
}
