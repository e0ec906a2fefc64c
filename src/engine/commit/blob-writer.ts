import type { Backend } from "../../storage/backend.ts";
import type { RepoKeys } from "../../crypto/keys.ts";
import { chunkId } from "../../crypto/keys.ts";
import { encodeBlobInto, type BlobType, type DeltaBase } from "../../repo/blob.ts";
import { PackWriter, type FinishedPack } from "../../repo/pack.ts";
import { packKey } from "../../repo/layout.ts";
import type { ManifestPack } from "../../repo/manifest.ts";
import type { IndexCache } from "../../index/cache.ts";
import type { BlobCodec } from "../codec/codec-pool.ts";
import type { BatchItem } from "../codec/codec-protocol.ts";
import { afterBlobs } from "../codec/young-gc.ts";

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
  /** Packs in upload at once (at least 1); one more pack buffer is the one being filled. */
  maxUploads?: number;
  /** Batches (about 1 MiB of chunks each) handed to a codec worker and not yet back. */
  maxEncoding?: number;
  /** false for repacking, where the blobs are indexed in packs about to go. */
  dedupeAgainstIndex?: boolean;
  /** New chunk bytes encoded on this thread before the codec worker takes over (default INLINE_FIRST_BYTES). */
  inlineFirstBytes?: number;
}

/**
 * Deduplicates blobs against the index and this run, has them compressed and sealed (inline,
 * straight into the pack, or on a worker thread in batches), fills packs, and uploads each full
 * pack while the next one fills. Memory is bounded by maxUploads + 1 pack buffers plus
 * maxEncoding batches: a blob waits for a pack buffer, not the other way round.
 */
export class BlobWriter {
  /** The pack being filled; none while every pack buffer is in upload. */
  private pack: PackWriter | undefined;
  /** Pack buffers made so far: at most maxUploads + 1. */
  private packBuffers = 0;
  /** Buffers of packs already stored, refilled by the next packs. */
  private readonly spareBuffers: Buffer[] = [];
  private readonly written: ManifestPack[] = [];
  private readonly pendingIds = new Set<string>();
  private readonly encoding = new Set<Promise<void>>();
  private readonly uploadQueue: FinishedPack[] = [];
  private readonly uploading = new Set<Promise<void>>();
  /** The batch being filled for the codec worker, and buffers of batches done, for reuse. */
  private staged: { input: Buffer; items: BatchItem[]; used: number } | undefined;
  /**
   * Batches back from the codec worker whose blobs wait for room in a pack, oldest first:
   * `next` is the first blob not appended yet, `at` where it starts in `sealed`.
   */
  private readonly landed: { items: BatchItem[]; isDelta: Set<number>; sealed: Buffer; lengths: number[]; next: number; at: number }[] = [];
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
  private readonly inlineFirstBytes: number;

  constructor(backend: Backend, keys: RepoKeys, cache: IndexCache, codec: BlobCodec, packSize: number, opts: BlobWriterOptions = {}) {
    this.backend = backend;
    this.keys = keys;
    this.cache = cache;
    this.codec = codec;
    this.packSize = packSize;
    this.maxUploads = Math.max(1, opts.maxUploads ?? 2);
    this.maxEncoding = opts.maxEncoding ?? 4;
    this.dedupeAgainstIndex = opts.dedupeAgainstIndex ?? true;
    this.inlineFirstBytes = opts.inlineFirstBytes ?? INLINE_FIRST_BYTES;
  }

  has(id: string): boolean {
    return this.pendingIds.has(id) || (this.dedupeAgainstIndex && this.cache.hasBlob(id));
  }

  /**
   * Stores a blob unless the repository already has it; returns its id. The data (and a base's)
   * is only read before this returns (encoded, or copied into a batch), so it may be a view of a
   * reused buffer. With a `base`, it may be stored as a delta against it (see encodeBlobInto);
   * whether it was is counted in stats.addedDeltas once it is encoded (see encoded()).
   */
  async add(type: BlobType, data: Uint8Array, id = chunkId(this.keys, data), base?: DeltaBase): Promise<string> {
    this.throwIfFailed();
    if (this.has(id)) return id;
    this.pendingIds.add(id);
    this.stats.addedChunks++;
    const forWorker = this.codec.encodeBatch !== undefined && this.inlineBytes >= this.inlineFirstBytes;
    if (forWorker && this.batchesOut() >= this.maxEncoding && !this.workersBehind()) {
      // Every slot is taken (batches in work, or back and waiting for a pack buffer) and the
      // workers are about to finish one: wait for a batch to come back or an upload to end.
      await this.waitForProgress();
    }
    // While the workers are really behind, this thread encodes the blob itself rather than wait.
    if (forWorker && this.batchesOut() < this.maxEncoding) this.stage(type, id, data, base);
    else {
      const pack = await this.packWithRoom();
      this.inlineBytes += data.byteLength;
      const before = pack.byteLength;
      pack.addEncoded(id, type, data.byteLength, (room, at) => {
        const encoded = encodeBlobInto(this.keys, type, data, id, room, at, base);
        if (encoded.base) this.stats.addedDeltas++;
        return encoded;
      });
      this.stats.addedBytes += pack.byteLength - before;
      afterBlobs(data.byteLength);
      if (pack.byteLength >= this.packSize) this.sealPack();
    }
    return id;
  }

  /** Batches sent to the workers and not appended yet: in work, or back and waiting for a pack. */
  private batchesOut(): number {
    return this.encoding.size + this.landed.length;
  }

  /** Waits until a batch comes back or an upload ends (and so frees a pack buffer). */
  private async waitForProgress(): Promise<void> {
    // A failed upload keeps its buffer: without this, what waits for one would wait for ever.
    this.throwIfFailed();
    // Never empty here: landed batches wait only while every pack buffer is queued or in upload,
    // and a queued pack starts uploading as soon as fewer than maxUploads (at least 1) are.
    await Promise.race([...this.encoding, ...this.uploading]);
    this.throwIfFailed();
  }

  /** The pack being filled, waiting for an upload to end when every buffer is taken. */
  private async packWithRoom(): Promise<PackWriter> {
    for (;;) {
      const pack = this.currentPack();
      if (pack) return pack;
      await this.waitForProgress();
    }
  }

  /** The pack being filled, in a spare buffer or a new one; none while all maxUploads + 1 are taken. */
  private currentPack(): PackWriter | undefined {
    if (this.pack) return this.pack;
    let buffer = this.spareBuffers.pop();
    if (!buffer && this.packBuffers < this.maxUploads + 1) {
      this.packBuffers++;
      // Room for a full pack, the blob that overflows it and the header, so the buffer rarely grows.
      buffer = Buffer.allocUnsafe(this.packSize + (this.packSize >> 3) + 512 * 1024);
    }
    return buffer && (this.pack = new PackWriter(buffer));
  }

  /**
   * True when every worker has a batch queued behind the one it is on. Counted by the workers
   * (encodeBacklog): the promises of finished batches only settle when this thread's event loop
   * runs, which a commit reading from the page cache rarely lets it do.
   */
  private workersBehind(): boolean {
    return (this.codec.encodeBacklog?.() ?? 0) > this.codec.threads;
  }

  /** Copies a blob (and its delta base after it) into the batch being filled for the codec worker. */
  private stage(type: BlobType, id: string, data: Uint8Array, base?: DeltaBase): void {
    const bytes = data.byteLength + (base?.data.byteLength ?? 0);
    if (this.staged && this.staged.used + bytes > this.staged.input.byteLength) this.dispatch();
    if (!this.staged) {
      const input = bytes <= BATCH_BYTES ? (this.spareInputs.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES)) : Buffer.allocUnsafeSlow(bytes);
      this.staged = { input, items: [], used: 0 };
    }
    const batch = this.staged;
    const item: BatchItem = { type, id, offset: batch.used, length: data.byteLength };
    batch.input.set(data, batch.used);
    batch.used += data.byteLength;
    if (base) {
      item.base = { id: base.id, offset: batch.used, length: base.data.byteLength };
      batch.input.set(base.data, batch.used);
      batch.used += base.data.byteLength;
    }
    batch.items.push(item);
    if (batch.used >= BATCH_BYTES) this.dispatch();
  }

  /**
   * Resolves once every blob added so far is encoded (what is staged is sent now), so that
   * stats.addedDeltas counts them. Never rejects: a failure is thrown by the writer's next call.
   */
  encoded(): Promise<void> {
    this.dispatch();
    return Promise.all([...this.encoding]).then(() => undefined);
  }

  /** Sends the staged batch to the codec worker; its blobs join the pack when it comes back. */
  private dispatch(): void {
    const batch = this.staged;
    this.staged = undefined;
    if (!batch || batch.items.length === 0) return;
    const job: Promise<void> = this.codec.encodeBatch!(batch.input, batch.items, this.spareOutputs.pop()).then(
      ({ sealed, lengths, deltas, input }) => {
        if (input.byteLength === BATCH_BYTES) this.spareInputs.push(input);
        this.stats.addedDeltas += deltas.length;
        const isDelta = new Set(deltas);
        this.landed.push({ items: batch.items, isDelta, sealed, lengths, next: 0, at: 0 });
        this.appendLanded();
      },
      (err: unknown) => this.fail(err),
    );
    const tracked: Promise<void> = job.finally(() => this.encoding.delete(tracked));
    this.encoding.add(tracked);
  }

  /** Appends the blobs of batches that came back, as far as there is a pack buffer for them. */
  private appendLanded(): void {
    while (this.landed.length > 0) {
      const batch = this.landed[0]!;
      while (batch.next < batch.items.length) {
        const pack = this.currentPack();
        if (!pack) return; // the rest when an upload ends
        const item = batch.items[batch.next]!;
        const length = batch.lengths[batch.next]!;
        const base = batch.isDelta.has(batch.next) ? item.base?.id : undefined;
        pack.add({ id: item.id, type: item.type, rawLength: item.length, sealed: batch.sealed.subarray(batch.at, batch.at + length), ...(base ? { base } : {}) });
        this.stats.addedBytes += length;
        batch.at += length;
        batch.next++;
        if (pack.byteLength >= this.packSize) this.sealPack();
      }
      this.landed.shift();
      if (this.spareOutputs.length < this.maxEncoding) this.spareOutputs.push(Buffer.from(batch.sealed.buffer, 0, batch.sealed.buffer.byteLength));
    }
  }

  private sealPack(): void {
    const pack = this.pack;
    if (!pack || pack.count === 0) return;
    this.pack = undefined; // the next one is made when a blob needs it
    this.uploadQueue.push(pack.finish(this.keys));
    this.pump();
  }

  private pump(): void {
    while (this.uploading.size < this.maxUploads && this.uploadQueue.length > 0) {
      const pack = this.uploadQueue.shift()!;
      const upload = this.backend.put(packKey(pack.id), pack.bytes).then(
        () => {
          this.written.push({ id: pack.id, size: pack.bytes.byteLength, blobs: pack.entries });
          this.stats.addedPacks++;
          this.stats.addedBytes += pack.bytes.byteLength - pack.entries.reduce((n, e) => n + e.length, 0);
          this.spareBuffers.push(pack.buffer);
        },
        (err: unknown) => this.fail(err),
      );
      const tracked: Promise<void> = upload.finally(() => {
        this.uploading.delete(tracked);
        this.pump();
        this.appendLanded();
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
    while (this.batchesOut() > 0) await this.waitForProgress();
    this.throwIfFailed();
    this.sealPack();
    while (this.uploading.size > 0 || this.uploadQueue.length > 0) await Promise.all(this.uploading);
    this.throwIfFailed();
    return this.written;
  }
}
