import type { Backend } from "../../storage/backend.ts";
import type { RepoKeys } from "../../crypto/keys.ts";
import { chunkId } from "../../crypto/keys.ts";
import { encodeBlobInto, type BlobType, type DeltaBase } from "../../repo/blob.ts";
import { packKey } from "../../repo/layout.ts";
import { putFile } from "../../storage/put-file.ts";
import { GATHER_BUFFER, PackFile, type FinishedPackFile, type PackFolder } from "./pack-file.ts";
import type { ManifestPack } from "../../repo/manifest.ts";
import type { IndexCache } from "../../index/cache.ts";
import type { BlobCodec } from "../codec/codec-pool.ts";
import type { BatchItem } from "../codec/codec-protocol.ts";
import { afterBlobs } from "../codec/young-gc.ts";

/** Chunk bytes sent to a codec worker per message. */
const BATCH_BYTES = 1024 * 1024;
/**
 * Batches handed to the codec worker and not appended yet (each holds about 1 MiB in and out), by
 * what they hold. Whole blobs: two keep a worker busy (one in work, one queued), and the first
 * commit of the 500 MB bench state peaked about 5 MB lower than with four (6 pairs), in the same
 * time. Once blobs come with delta bases (a daily commit's changed database groups), four: deltas
 * take the worker longer, with two it fell behind more often and this thread, the daily commit's
 * bottleneck, encoded them itself (slower in 4 of 5 pairs at 1.5 GB).
 */
const MAX_ENCODING = 2;
const MAX_ENCODING_WITH_BASES = 4;
/** New chunk bytes encoded inline before the worker takes over: a small commit never starts it. */
const INLINE_FIRST_BYTES = 4 * 1024 * 1024;
/**
 * Longest stretch of adding blobs between two turns of this thread's event loop. Pack writes,
 * batches back from the worker and the next database's copy (capture-ahead.ts) move on only when
 * it turns, and a commit reading small files whole (synchronously) and sealing them turned it
 * every 57 ms on average, with a tenth of its gaps over 115 ms (loaded machine): the commit then
 * waited for pack buffers whose writes had not been let run.
 */
const TURN_EVERY_MS = 2;

export interface WriterStats {
  addedBytes: number;
  addedChunks: number;
  addedDeltas: number;
  addedPacks: number;
}

export interface BlobWriterOptions {
  /** Packs in upload at once (at least 1); one more pack file is the one being filled. */
  maxUploads?: number;
  /** false for repacking, where the blobs are indexed in packs about to go. */
  dedupeAgainstIndex?: boolean;
  /** New chunk bytes encoded on this thread before the codec worker takes over (default INLINE_FIRST_BYTES). */
  inlineFirstBytes?: number;
}

/**
 * Deduplicates blobs against the index and this run, has them compressed and sealed (inline,
 * straight into the pack, or on a worker thread in batches), fills packs, and uploads each full
 * pack while the next one fills. Packs are filled in files in `folder` (see PackFile) and stored
 * from there, so memory is bounded by one gathering buffer plus a few batches (MAX_ENCODING); disk by
 * maxUploads + 1 pack files: a blob waits for a pack file, not the other way round. The caller
 * calls `discard()` when it gives up on the writer (a failure anywhere), then removes the folder.
 */
export class BlobWriter {
  /** The pack being filled; none while maxUploads + 1 packs are filling, queued or in upload. */
  private pack: PackFile | undefined;
  /** Packs filling, queued or in upload: at most maxUploads + 1. */
  private packsOpen = 0;
  /** The buffer the filling pack gathers short blobs in, while no pack is filling. */
  private gather: Buffer | undefined;
  private discarded = false;
  private readonly written: ManifestPack[] = [];
  private readonly pendingIds = new Set<string>();
  private readonly encoding = new Set<Promise<void>>();
  private readonly uploadQueue: FinishedPackFile[] = [];
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
  /** Bytes of the files announced by expect(). */
  private expectedBytes = 0;
  /** When this thread's event loop last turned inside add (see TURN_EVERY_MS). */
  private lastTurn = performance.now();
  private failure: unknown;
  readonly stats: WriterStats = { addedBytes: 0, addedChunks: 0, addedDeltas: 0, addedPacks: 0 };
  private readonly backend: Backend;
  private readonly keys: RepoKeys;
  private readonly cache: IndexCache;
  private readonly codec: BlobCodec;
  private readonly packSize: number;
  private readonly maxUploads: number;
  /** Set by the first blob offered with a delta base (see MAX_ENCODING). */
  private withBases = false;
  private readonly dedupeAgainstIndex: boolean;
  private readonly folder: PackFolder;
  private readonly inlineFirstBytes: number;

  constructor(backend: Backend, keys: RepoKeys, cache: IndexCache, codec: BlobCodec, packSize: number, folder: PackFolder, opts: BlobWriterOptions = {}) {
    this.backend = backend;
    this.folder = folder;
    this.keys = keys;
    this.cache = cache;
    this.codec = codec;
    this.packSize = packSize;
    this.maxUploads = Math.max(1, opts.maxUploads ?? 2);
    this.dedupeAgainstIndex = opts.dedupeAgainstIndex ?? true;
    this.inlineFirstBytes = opts.inlineFirstBytes ?? INLINE_FIRST_BYTES;
  }

  /**
   * Told before a file of `bytes` is read for this writer: once files past the inline share are
   * on their way, the codec's worker is started, so that it is ready when their first batch is
   * (a daily commit of the 1.5 GB bench state otherwise stopped for the worker's start, about
   * 0.15 s, after its first 4 MiB).
   */
  expect(bytes: number): void {
    this.expectedBytes += bytes;
    if (this.expectedBytes >= this.inlineFirstBytes) this.codec.warm?.();
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
    return this.store(type, data, id, base, true);
  }

  /**
   * add() for a blob the caller found absent with has() just before: the index is not asked again
   * (a daily commit asked it twice for each changed page group). Blobs this writer took meanwhile
   * are still recognised; one another process indexed meanwhile is stored again, which costs
   * bytes, never correctness.
   */
  async addAbsent(type: BlobType, data: Uint8Array, id: string, base?: DeltaBase): Promise<string> {
    return this.store(type, data, id, base, false);
  }

  private async store(type: BlobType, data: Uint8Array, id: string, base: DeltaBase | undefined, askIndex: boolean): Promise<string> {
    if (performance.now() - this.lastTurn > TURN_EVERY_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      this.lastTurn = performance.now();
    }
    this.throwIfFailed();
    if (askIndex ? this.has(id) : this.pendingIds.has(id)) return id;
    this.pendingIds.add(id);
    this.stats.addedChunks++;
    const forWorker = this.codec.encodeBatch !== undefined && this.inlineBytes >= this.inlineFirstBytes;
    if (base) this.withBases = true;
    if (forWorker && this.batchesOut() >= this.maxEncoding() && !this.workersBehind()) {
      // Every slot is taken (batches in work, or back and waiting for a pack buffer) and the
      // workers are about to finish one: wait for a batch to come back or an upload to end.
      await this.waitForProgress();
    }
    // While the workers are really behind, this thread encodes the blob itself rather than wait.
    if (forWorker && this.batchesOut() < this.maxEncoding()) this.stage(type, id, data, base);
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

  /** Batches that may be in flight now (see MAX_ENCODING). */
  private maxEncoding(): number {
    return this.withBases ? MAX_ENCODING_WITH_BASES : MAX_ENCODING;
  }

  /** Batches sent to the workers and not appended yet: in work, or back and waiting for a pack. */
  private batchesOut(): number {
    return this.encoding.size + this.landed.length;
  }

  /** Waits until a batch comes back or an upload ends (and so frees a pack file). */
  private async waitForProgress(): Promise<void> {
    // After a failure no pack may be filling: without this, what waits for one would wait for ever.
    this.throwIfFailed();
    // Never empty here: landed batches wait only while every pack file is queued or in upload,
    // and a queued pack starts uploading as soon as fewer than maxUploads (at least 1) are.
    await Promise.race([...this.encoding, ...this.uploading]);
    this.throwIfFailed();
  }

  /** The pack being filled, waiting for an upload to end when every pack file is taken. */
  private async packWithRoom(): Promise<PackFile> {
    for (;;) {
      const pack = this.currentPack();
      if (pack) return pack;
      await this.waitForProgress();
    }
  }

  /** The pack being filled, or a new one; none while all maxUploads + 1 are taken. */
  private currentPack(): PackFile | undefined {
    if (this.pack) return this.pack;
    if (this.discarded || this.failure || this.packsOpen >= this.maxUploads + 1) return undefined;
    const pack = new PackFile(this.folder.path, this.gather ?? Buffer.allocUnsafe(GATHER_BUFFER), this.backend.putFileMd5 === true);
    this.gather = undefined;
    this.packsOpen++;
    return (this.pack = pack);
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
        this.appendLandedOrFail();
      },
      (err: unknown) => this.fail(err),
    );
    const tracked: Promise<void> = job.finally(() => this.encoding.delete(tracked));
    this.encoding.add(tracked);
  }

  /** appendLanded from a callback: a pack file that cannot be written fails the writer. */
  private appendLandedOrFail(): void {
    try {
      this.appendLanded();
    } catch (err) {
      this.fail(err);
    }
  }

  /** Appends the blobs of batches that came back, as far as there is a pack file for them. */
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
      if (this.spareOutputs.length < this.maxEncoding()) this.spareOutputs.push(Buffer.from(batch.sealed.buffer, 0, batch.sealed.buffer.byteLength));
    }
  }

  private sealPack(): void {
    const pack = this.pack;
    if (!pack || pack.count === 0) return;
    this.pack = undefined; // the next one is made when a blob needs it
    this.gather = pack.buffer;
    let finished: FinishedPackFile;
    try {
      finished = pack.finish(this.keys);
    } catch (err) {
      this.packsOpen--;
      pack.remove();
      throw err;
    }
    this.uploadQueue.push(finished);
    this.pump();
  }

  private pump(): void {
    while (this.uploading.size < this.maxUploads && this.uploadQueue.length > 0) {
      const pack = this.uploadQueue.shift()!;
      const upload = putFile(this.backend, packKey(pack.id), pack).then(
        () => {
          this.written.push({ id: pack.id, size: pack.size, blobs: pack.entries });
          this.stats.addedPacks++;
          this.stats.addedBytes += pack.size - pack.entries.reduce((n, e) => n + e.length, 0);
        },
        (err: unknown) => this.fail(err),
      );
      const tracked: Promise<void> = upload.finally(() => {
        this.dropPack(pack.path);
        this.uploading.delete(tracked);
        this.pump();
        this.appendLandedOrFail();
      });
      this.uploading.add(tracked);
    }
  }

  /** Removes a pack file that is stored (or will never be) and frees its place. */
  private dropPack(file: string): void {
    this.packsOpen--;
    PackFile.removeFile(file);
  }

  /**
   * Gives up on the writer after a failure: no pack is filled any more, and the files of the one
   * filling and of those waiting for an upload are removed. Files in upload are removed when their
   * upload ends (the caller removes the folder, and with it anything left).
   */
  discard(): void {
    this.discarded = true;
    const pack = this.pack;
    this.pack = undefined;
    if (pack) {
      this.packsOpen--;
      pack.remove();
    }
    for (const queued of this.uploadQueue.splice(0)) this.dropPack(queued.path);
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
