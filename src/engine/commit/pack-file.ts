import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { createHash, randomBytes, type Hash } from "node:crypto";
import { PathError, ScratchFullError } from "../../errors.ts";
import type { RepoKeys } from "../../crypto/keys.ts";
import type { BlobType, Encoded, EncodedBlob } from "../../repo/blob.ts";
import { packTail, type PackEntry } from "../../repo/pack.ts";
import type { LocalFile } from "../../storage/backend.ts";
import { makePrivateFolder, removeLeftovers } from "../sqlite/private-folder.ts";

/** Blobs at least this long are written from where they are (a codec worker's batch); shorter ones are gathered first. */
const WRITE_THROUGH = 64 * 1024;
/** Gathered bytes are written once there are this many. */
const GATHER = 1024 * 1024;
/** A gathering buffer's size: GATHER, and room for one more blob before it is written out. */
export const GATHER_BUFFER = 2 * GATHER;

/** A pack filled in a file and complete: its id (the SHA-256 of its bytes), its file and its blobs. */
export interface FinishedPackFile extends LocalFile {
  id: string;
  entries: PackEntry[];
}

/**
 * A pack filled in a temporary file instead of memory (restic does the same): the blobs as they
 * come, then the sealed header and its length as repo/pack.ts defines them; the pack id is
 * hashed as the bytes go out, so the file is never read back here. Only sealed blobs and the sealed
 * header are written: nothing in the file is plaintext.
 *
 * Short blobs (and the ones this thread seals itself, in place) are gathered into a buffer of
 * about 1 MiB first, so a pack costs a few dozen writes; a worker's sealed blobs of 64 KiB and more
 * go out from its batch. Writes are synchronous: a write into the page cache is a copy, shorter
 * than the round trip of handing it to the thread pool, and the caller's buffers are free again
 * when `add` returns.
 */
export class PackFile {
  readonly path: string;
  private fd: number | undefined;
  private gather: Buffer;
  private gathered = 0;
  private written = 0;
  private readonly hash = createHash("sha256");
  /** For a backend that sends an MD5 with the upload (see Backend.putFileMd5), hashed here too. */
  private readonly md5: Hash | undefined;
  private readonly entries: PackEntry[] = [];

  /**
   * Creates the file in `folder`; `gather` is the buffer short blobs are collected in (see
   * `buffer`); `md5`: hash the bytes with MD5 as well.
   */
  constructor(folder: string, gather: Buffer, md5 = false) {
    this.path = path.join(folder, `pack-${randomBytes(8).toString("hex")}`);
    this.gather = gather;
    this.md5 = md5 ? createHash("md5") : undefined;
    try {
      this.fd = fs.openSync(this.path, "wx", 0o600);
    } catch (err) {
      throw writeError(folder, err);
    }
  }

  get byteLength(): number {
    return this.written + this.gathered;
  }

  get count(): number {
    return this.entries.length;
  }

  /** The gathering buffer (grown, if a blob needed it): for the next pack once this one is finished. */
  get buffer(): Buffer {
    return this.gather;
  }

  add(blob: EncodedBlob): void {
    const sealed = blob.sealed;
    this.entries.push({ id: blob.id, type: blob.type, offset: this.byteLength, length: sealed.byteLength, rawLength: blob.rawLength, ...(blob.base ? { base: blob.base } : {}) });
    if (sealed.byteLength >= WRITE_THROUGH) {
      this.writeGathered();
      this.write(sealed);
      return;
    }
    this.reserve(sealed.byteLength);
    this.gather.set(sealed, this.gathered);
    this.gathered += sealed.byteLength;
    if (this.gathered >= GATHER) this.writeGathered();
  }

  /** Appends a blob that `encode` seals in place (see encodeBlobInto), in the gathering buffer. */
  addEncoded(id: string, type: BlobType, rawLength: number, encode: (room: (length: number) => Buffer, at: number) => Encoded): void {
    const at = this.gathered;
    const { length, base } = encode((n) => {
      this.reserve(n);
      return this.gather;
    }, at);
    this.entries.push({ id, type, offset: this.written + at, length, rawLength, ...(base ? { base } : {}) });
    this.gathered += length;
    if (this.gathered >= GATHER) this.writeGathered();
  }

  /** Writes the header and the trailer and closes the file; the pack is then ready to store. */
  finish(keys: RepoKeys): FinishedPackFile {
    const tail = packTail(keys, this.entries);
    this.writeGathered();
    this.write(tail);
    this.close();
    const id = this.hash.digest("hex");
    return { id, path: this.path, size: this.written, sha256: id, ...(this.md5 ? { md5: this.md5.digest("base64") } : {}), entries: this.entries };
  }

  /** Closes the file if it is still open and removes it; nothing is left whatever state it was in. */
  remove(): void {
    this.close();
    PackFile.removeFile(this.path);
  }

  /** Removes a finished pack's file (stored, or never to be); one already gone is not an error. */
  static removeFile(file: string): void {
    fs.rmSync(file, { force: true });
  }

  private close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    fs.closeSync(fd);
  }

  /** Room for `n` more gathered bytes. Never writes them out: `encode` was told where to seal. */
  private reserve(n: number): void {
    if (this.gathered + n <= this.gather.byteLength) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.gathered + n, this.gather.byteLength * 2));
    this.gather.copy(bigger, 0, 0, this.gathered);
    this.gather = bigger;
  }

  private writeGathered(): void {
    if (this.gathered === 0) return;
    this.write(this.gather.subarray(0, this.gathered));
    this.gathered = 0;
  }

  private write(bytes: Uint8Array): void {
    if (this.fd === undefined) throw new PathError(this.path, "pack file written after it was closed");
    this.hash.update(bytes);
    this.md5?.update(bytes);
    try {
      for (let done = 0; done < bytes.byteLength; ) done += fs.writeSync(this.fd, bytes, done, bytes.byteLength - done, this.written + done);
    } catch (err) {
      throw writeError(path.dirname(this.path), err);
    }
    this.written += bytes.byteLength;
  }
}

/** A failed write of a pack file, naming its folder (a full disk as ScratchFullError). */
function writeError(folder: string, err: unknown): PathError {
  const code = (err as NodeJS.ErrnoException)?.code;
  const detail = `writing a pack file there failed (${(err as Error).message})`;
  if (code === "ENOSPC" || code === "EDQUOT") return new ScratchFullError(folder, `${detail}: packs are filled in the index cache's folder (--cache-dir), which needs room for a few of them (16 MiB each)`);
  return new PathError(folder, detail);
}

const PREFIX = "clawback-packs-";

/**
 * The private folder a commit (or prune's repacking) fills its pack files in: beside the index
 * cache, which is this user's and on a disk (the system's temporary folder may be in RAM), made
 * with the process's identity in its name so that the next run removes what a killed one left.
 */
export class PackFolder {
  readonly path: string;

  private constructor(folder: string) {
    this.path = folder;
  }

  static async make(parent: string): Promise<PackFolder> {
    await fsp.mkdir(parent, { recursive: true, mode: 0o700 });
    await removeLeftovers([parent], PREFIX);
    return new PackFolder(await makePrivateFolder(parent, PREFIX));
  }

  async remove(): Promise<void> {
    await fsp.rm(this.path, { recursive: true, force: true });
  }
}
