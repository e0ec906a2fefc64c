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

/** Gathered bytes are written once there are this many. */
const GATHER = 1024 * 1024;
/** A gathering buffer's size: GATHER, and room for one more blob before it is written out. */
export const GATHER_BUFFER = 2 * GATHER;
/** Writes in flight on the thread pool per pack; past that, the next one is made on this thread. */
const WRITES_IN_FLIGHT = 2;

/** A pack filled in a file and complete: its id (the SHA-256 of its bytes), its file and its blobs. */
export interface FinishedPackFile extends LocalFile {
  id: string;
  entries: PackEntry[];
  /** Settles once every byte is in the file and the file is closed; rejects if a write failed. */
  written: Promise<void>;
}

/**
 * A pack filled in a temporary file instead of memory (restic does the same): the blobs as they
 * come, then the sealed header and its length as repo/pack.ts defines them; the pack id (and, for
 * a backend that sends one, the MD5) is hashed as the bytes go out, so the file is never read back
 * here. Only sealed blobs and the sealed header are written: nothing in the file is plaintext.
 *
 * Blobs are gathered into buffers of about 1 MiB (from `pool`, shared by a writer's packs), each
 * written by the thread pool while the next fills, as the local backend's writes were: a write
 * into the page cache can block when the system has much dirty data to flush, and this thread is
 * the one a commit waits for. With WRITES_IN_FLIGHT writes pending, the next is made here, so the
 * buffers stay bounded however slow the disk.
 */
export class PackFile {
  readonly path: string;
  private fd: number | undefined;
  private gather: Buffer;
  private gathered = 0;
  private written = 0;
  private readonly pool: Buffer[];
  private readonly writes = new Set<Promise<void>>();
  private writeFailure: unknown;
  private readonly hash = createHash("sha256");
  /** For a backend that sends an MD5 with the upload (see Backend.putFileMd5), hashed here too. */
  private readonly md5: Hash | undefined;
  private readonly entries: PackEntry[] = [];

  /**
   * Creates the file in `folder`. `pool`: spare gathering buffers, taken from and given back to;
   * `md5`: hash the bytes with MD5 as well.
   */
  constructor(folder: string, pool: Buffer[], md5 = false) {
    this.path = path.join(folder, `pack-${randomBytes(8).toString("hex")}`);
    this.pool = pool;
    this.md5 = md5 ? createHash("md5") : undefined;
    try {
      this.fd = fs.openSync(this.path, "wx", 0o600);
    } catch (err) {
      throw writeError(folder, err);
    }
    this.gather = pool.pop() ?? Buffer.allocUnsafe(GATHER_BUFFER);
  }

  get byteLength(): number {
    return this.written + this.gathered;
  }

  get count(): number {
    return this.entries.length;
  }

  add(blob: EncodedBlob): void {
    const sealed = blob.sealed;
    this.throwIfFailed();
    this.entries.push({ id: blob.id, type: blob.type, offset: this.byteLength, length: sealed.byteLength, rawLength: blob.rawLength, ...(blob.base ? { base: blob.base } : {}) });
    this.reserve(sealed.byteLength);
    this.gather.set(sealed, this.gathered);
    this.gathered += sealed.byteLength;
    if (this.gathered >= GATHER) this.writeGathered();
  }

  /** Appends a blob that `encode` seals in place (see encodeBlobInto), in the gathering buffer. */
  addEncoded(id: string, type: BlobType, rawLength: number, encode: (room: (length: number) => Buffer, at: number) => Encoded): void {
    this.throwIfFailed();
    const at = this.gathered;
    const { length, base } = encode((n) => {
      this.reserve(n);
      return this.gather;
    }, at);
    this.entries.push({ id, type, offset: this.written + at, length, rawLength, ...(base ? { base } : {}) });
    this.gathered += length;
    if (this.gathered >= GATHER) this.writeGathered();
  }

  /**
   * Appends the header and the trailer; the pack is then ready to store once `written` settles
   * (the file is closed then, its gathering buffers back in the pool).
   */
  finish(keys: RepoKeys): FinishedPackFile {
    this.throwIfFailed();
    const tail = packTail(keys, this.entries);
    this.reserve(tail.byteLength);
    this.gather.set(tail, this.gathered);
    this.gathered += tail.byteLength;
    this.writeGathered();
    this.pool.push(this.gather);
    const id = this.hash.digest("hex");
    const written = this.settled().then(() => {
      this.close();
      this.throwIfFailed();
    });
    return { id, path: this.path, size: this.written, sha256: id, ...(this.md5 ? { md5: this.md5.digest("base64") } : {}), entries: this.entries, written };
  }

  /**
   * Removes the file, once the writes in flight are over (a descriptor closed under a pending
   * write could be reused by another file before the write runs): nothing is left, whatever
   * state it was in.
   */
  async remove(): Promise<void> {
    await this.settled();
    this.close();
    PackFile.removeFile(this.path);
  }

  /** Removes a finished pack's file (stored, or never to be); one already gone is not an error. */
  static removeFile(file: string): void {
    fs.rmSync(file, { force: true });
  }

  private async settled(): Promise<void> {
    while (this.writes.size > 0) await Promise.allSettled([...this.writes]);
  }

  private close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    fs.closeSync(fd);
  }

  private throwIfFailed(): void {
    if (this.writeFailure !== undefined) throw this.writeFailure;
  }

  /** Room for `n` more gathered bytes. Never writes them out: `encode` was told where to seal. */
  private reserve(n: number): void {
    if (this.gathered + n <= this.gather.byteLength) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.gathered + n, this.gather.byteLength * 2));
    this.gather.copy(bigger, 0, 0, this.gathered);
    this.gather = bigger;
  }

  /** Hashes the gathered bytes and has them written, on the thread pool while there is room. */
  private writeGathered(): void {
    if (this.gathered === 0) return;
    const fd = this.fd;
    if (fd === undefined) throw new PathError(this.path, "pack file written after it was closed");
    const bytes = this.gather.subarray(0, this.gathered);
    const position = this.written;
    this.hash.update(bytes);
    this.md5?.update(bytes);
    this.written += bytes.byteLength;
    this.gathered = 0;
    if (this.writes.size >= WRITES_IN_FLIGHT) {
      // The disk is behind: this write waits here, in the buffer it was gathered in.
      try {
        for (let done = 0; done < bytes.byteLength; ) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done, position + done);
      } catch (err) {
        throw writeError(path.dirname(this.path), err);
      }
      return;
    }
    const buffer = this.gather;
    this.gather = this.pool.pop() ?? Buffer.allocUnsafe(GATHER_BUFFER);
    const write: Promise<void> = writeAll(fd, bytes, position).then(
      () => {
        this.pool.push(buffer);
      },
      (err: unknown) => {
        this.writeFailure ??= writeError(path.dirname(this.path), err);
      },
    );
    const tracked = write.finally(() => this.writes.delete(tracked));
    this.writes.add(tracked);
  }
}

/** Writes all of `bytes` at `position` through the thread pool. */
async function writeAll(fd: number, bytes: Buffer, position: number): Promise<void> {
  for (let done = 0; done < bytes.byteLength; ) {
    done += await new Promise<number>((resolve, reject) => fs.write(fd, bytes, done, bytes.byteLength - done, position + done, (err, n) => (err ? reject(err) : resolve(n))));
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
