import type { Backend } from "../storage/backend.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { chunkId } from "../crypto/keys.ts";
import { encodeBlobInto, type BlobType, type DeltaBase, type EncodedBlob } from "../repo/blob.ts";
import { PackWriter, type FinishedPack } from "../repo/pack.ts";
import { packKey } from "../repo/layout.ts";
import type { ManifestPack } from "../repo/manifest.ts";
import type { IndexCache } from "../index/cache.ts";
import type { BlobCodec } from "./codec-pool.ts";
import type { BatchItem } from "./codec-protocol.ts";
import { afterBlobs } from "./young-gc.ts";

/** Chunk bytes sent to a codec worker per message. */
const BATCH_BYTES = 1024 * 1024;
/** New chunk bytes encoded inline before the worker takes over: a small commit never starts it. */
const INLINE_FIRST_BYTES = 4 * 1024 * 1024;

export interface WriterStats {
  addedBytes: number;
  addedChunks: number;
  addedDeltas: number;
  addedPacks: number;
}

export interface BlobWriterOptions {
  /** Packs sealed and waiting for, or in, upload (each up to packSize bytes in memory). */
  maxUploads?: number;
  /** Batches (about 1 MiB of chunks each) handed to a codec worker and not yet back. */
  maxEncoding?: number;
  /** false for repacking, where the blobs are indexed in packs about to go. */
  dedupeAgainstIndex?: boolean;
}

/**
 * Deduplicates blobs against the index and this run, has them compressed and sealed (inline,
 * straight into the pack, or on a worker thread in batches), fills packs, and uploads each full
 * pack while the next one fills. Memory is bounded by maxUploads packs plus maxEncoding batches.
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
  /** The batch being filled for the codec worker, and buffers of batches done, for reuse. */
  private staged: { input: Buffer; items: BatchItem[]; used: number } | undefined;
  private readonly spareInputs: Buffer[] = [];
  private readonly spareOutputs: Buffer[] = [];
  private inlineBytes = 0;
  private failure: unknown;
  readonly stats: WriterStats = { addedBytes: 0, addedChunks: 0, addedDeltas: 0, addedPacks: 0 };
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
    this.maxEncoding = opts.maxEncoding ?? 4;
    this.dedupeAgainstIndex = opts.dedupeAgainstIndex ?? true;
  }

  has(id: string): boolean {
    return this.pendingIds.has(id) || (this.dedupeAgainstIndex && this.cache.hasBlob(id));
  }

  /**
   * Stores a blob unless the repository already has it; returns its id. The data is only read
   * before this returns (encoded, or copied into a batch), so it may be a view of a reused buffer.
   * With a `base`, it may be stored as a delta against it (see encodeBlobInto; encoded on this
   * thread: deltas are the few changed page groups of a commit).
   */
  async add(type: BlobType, data: Uint8Array, id = chunkId(this.keys, data), base?: DeltaBase): Promise<string> {
    this.throwIfFailed();
    if (this.has(id)) return id;
    this.pendingIds.add(id);
    this.stats.addedChunks++;
    const forWorker = !base && this.codec.encodeBatch !== undefined && this.inlineBytes >= INLINE_FIRST_BYTES;
    if (forWorker && this.encoding.size >= this.maxEncoding && !this.workersBehind()) {
      // Every slot is taken, but the workers are about to finish one: wait for it, as before.
      await Promise.race(this.encoding);
      this.throwIfFailed();
    }
    // While the workers are really behind, this thread encodes the blob itself rather than wait.
    if (forWorker && this.encoding.size < this.maxEncoding) this.stage(type, id, data);
    else {
      this.inlineBytes += data.byteLength;
      const before = this.pack.byteLength;
      this.pack.addEncoded(id, type, data.byteLength, (room, at) => {
        const encoded = encodeBlobInto(this.keys, type, data, id, room, at, base);
        if (encoded.base) this.stats.addedDeltas++;
        return encoded;
      });
      this.stats.addedBytes += this.pack.byteLength - before;
      afterBlobs(data.byteLength);
      if (this.pack.byteLength >= this.packSize) this.sealPack();
    }
    while (this.uploadQueue.length + this.uploading.size > this.maxUploads) {
      await Promise.race(this.uploading);
      this.throwIfFailed();
    }
    return id;
  }

  /**
   * True when every worker has a batch queued behind the one it is on. Counted by the workers
   * (encodeBacklog): the promises of finished batches only settle when this thread's event loop
   * runs, which a commit reading from the page cache rarely lets it do.
   */
  private workersBehind(): boolean {
    return (this.codec.encodeBacklog?.() ?? 0) > this.codec.threads;
  }

  private stage(type: BlobType, id: string, data: Uint8Array): void {
    if (this.staged && this.staged.used + data.byteLength > this.staged.input.byteLength) this.dispatch();
    if (!this.staged) {
      const input = data.byteLength <= BATCH_BYTES ? (this.spareInputs.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES)) : Buffer.allocUnsafeSlow(data.byteLength);
      this.staged = { input, items: [], used: 0 };
    }
    const batch = this.staged;
    batch.input.set(data, batch.used);
    batch.items.push({ type, id, offset: batch.used, length: data.byteLength });
    batch.used += data.byteLength;
    if (batch.used >= BATCH_BYTES) this.dispatch();
  }

  /** Sends the staged batch to the codec worker; its blobs join the pack when it comes back. */
  private dispatch(): void {
    const batch = this.staged;
    this.staged = undefined;
    if (!batch || batch.items.length === 0) return;
    const job: Promise<void> = this.codec.encodeBatch!(batch.input, batch.items, this.spareOutputs.pop()).then(
      ({ sealed, lengths, input }) => {
        if (input.byteLength === BATCH_BYTES) this.spareInputs.push(input);
        let at = 0;
        batch.items.forEach((item, i) => {
          const length = lengths[i]!;
          this.append({ id: item.id, type: item.type, rawLength: item.length, sealed: sealed.subarray(at, at + length) });
          at += length;
        });
        if (this.spareOutputs.length < this.maxEncoding) this.spareOutputs.push(Buffer.from(sealed.buffer, 0, sealed.buffer.byteLength));
      },
      (err: unknown) => this.fail(err),
    );
    const tracked: Promise<void> = job.finally(() => this.encoding.delete(tracked));
    this.encoding.add(tracked);
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
    this.dispatch();
    while (this.encoding.size > 0) await Promise.all(this.encoding);
    this.throwIfFailed();
    this.sealPack();
    while (this.uploading.size > 0 || this.uploadQueue.length > 0) await Promise.all(this.uploading);
    this.throwIfFailed();
    return this.written;
  }
}
