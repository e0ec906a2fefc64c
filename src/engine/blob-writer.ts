import type { Backend } from "../storage/backend.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { chunkId } from "../crypto/keys.ts";
import type { BlobType, EncodedBlob } from "../repo/blob.ts";
import { PackWriter, type FinishedPack } from "../repo/pack.ts";
import { packKey } from "../repo/layout.ts";
import type { ManifestPack } from "../repo/manifest.ts";
import type { IndexCache } from "../index/cache.ts";
import type { BlobCodec } from "./codec-pool.ts";

export interface WriterStats {
  addedBytes: number;
  addedChunks: number;
  addedPacks: number;
}

export interface BlobWriterOptions {
  /** Packs sealed and waiting for, or in, upload (each up to packSize bytes in memory). */
  maxUploads?: number;
  /** Chunks handed to the codec and not yet back. */
  maxEncoding?: number;
  /** false for repacking, where the blobs are indexed in packs about to go. */
  dedupeAgainstIndex?: boolean;
}

/**
 * Deduplicates blobs against the index and this run, has them compressed and sealed (on worker
 * threads), fills packs, and uploads each full pack while the next one fills. Memory is bounded
 * by maxUploads packs plus maxEncoding chunks.
 */
export class BlobWriter {
  private pack: PackWriter;
  /** Buffers of packs already stored, refilled by the next packs. */
  private readonly spareBuffers: Buffer[] = [];
  private readonly written: ManifestPack[] = [];
  private readonly pendingIds = new Set<string>();
  private readonly encoding = new Set<Promise<void>>();
  private readonly uploadQueue: FinishedPack[] = [];
  private readonly uploading = new Set<Promise<void>>();
  private failure: unknown;
  readonly stats: WriterStats = { addedBytes: 0, addedChunks: 0, addedPacks: 0 };
  private readonly backend: Backend;
  private readonly keys: RepoKeys;
  private readonly cache: IndexCache;
  private readonly codec: BlobCodec;
  private readonly packSize: number;
  private readonly maxUploads: number;
  private readonly maxEncoding: number;
  private readonly dedupeAgainstIndex: boolean;

  constructor(backend: Backend, keys: RepoKeys, cache: IndexCache, codec: BlobCodec, packSize: number, opts: BlobWriterOptions = {}) {
    this.backend = backend;
    this.keys = keys;
    this.cache = cache;
    this.codec = codec;
    this.packSize = packSize;
    this.pack = this.newPack();
    this.maxUploads = opts.maxUploads ?? 2;
    this.maxEncoding = opts.maxEncoding ?? 8;
    this.dedupeAgainstIndex = opts.dedupeAgainstIndex ?? true;
  }

  has(id: string): boolean {
    return this.pendingIds.has(id) || (this.dedupeAgainstIndex && this.cache.hasBlob(id));
  }

  /**
   * Stores a blob unless the repository already has it; returns its id. The data is handed over:
   * the caller must not touch it afterwards (it may be transferred to a worker).
   */
  async add(type: BlobType, data: Uint8Array, id = chunkId(this.keys, data)): Promise<string> {
    this.throwIfFailed();
    if (this.has(id)) return id;
    this.pendingIds.add(id);
    this.stats.addedChunks++;
    const job: Promise<void> = this.codec.encode(type, data, id).then(
      (blob) => this.append(blob),
      (err: unknown) => this.fail(err),
    );
    const tracked: Promise<void> = job.finally(() => this.encoding.delete(tracked));
    this.encoding.add(tracked);
    while (this.encoding.size >= this.maxEncoding || this.uploadQueue.length + this.uploading.size > this.maxUploads) {
      await Promise.race([...this.encoding, ...this.uploading]);
      this.throwIfFailed();
    }
    return id;
  }

  private append(blob: EncodedBlob): void {
    this.pack.add(blob);
    this.stats.addedBytes += blob.sealed.byteLength;
    if (this.pack.byteLength >= this.packSize) this.sealPack();
  }

  private sealPack(): void {
    if (this.pack.count === 0) return;
    this.uploadQueue.push(this.pack.finish(this.keys));
    this.pack = this.newPack();
    this.pump();
  }

  private newPack(): PackWriter {
    // Room for a full pack, the blob that overflows it and the header, so the buffer rarely grows.
    return new PackWriter(this.spareBuffers.pop() ?? Buffer.allocUnsafe(this.packSize + (this.packSize >> 3) + 512 * 1024));
  }

  private pump(): void {
    while (this.uploading.size < this.maxUploads && this.uploadQueue.length > 0) {
      const pack = this.uploadQueue.shift()!;
      const upload = this.backend.put(packKey(pack.id), pack.bytes).then(
        () => {
          this.written.push({ id: pack.id, size: pack.bytes.byteLength, blobs: pack.entries });
          this.stats.addedPacks++;
          this.stats.addedBytes += pack.bytes.byteLength - pack.entries.reduce((n, e) => n + e.length, 0);
          if (this.spareBuffers.length < this.maxUploads) this.spareBuffers.push(pack.buffer);
        },
        (err: unknown) => this.fail(err),
      );
      const tracked: Promise<void> = upload.finally(() => {
        this.uploading.delete(tracked);
        this.pump();
      });
      this.uploading.add(tracked);
    }
  }

  private fail(err: unknown): void {
    this.failure ??= err;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** Waits for every blob to be encoded and every pack uploaded; returns the packs written. */
  async flush(): Promise<ManifestPack[]> {
    while (this.encoding.size > 0) await Promise.all(this.encoding);
    this.throwIfFailed();
    this.sealPack();
    while (this.uploading.size > 0 || this.uploadQueue.length > 0) await Promise.all(this.uploading);
    this.throwIfFailed();
    return this.written;
  }
}
