import type { Backend } from "../storage/backend.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { chunkId } from "../crypto/keys.ts";
import { encodeBlob, type BlobType } from "../repo/blob.ts";
import { PackWriter } from "../repo/pack.ts";
import { packKey } from "../repo/layout.ts";
import type { ManifestPack } from "../repo/manifest.ts";
import type { IndexCache } from "../index/cache.ts";

export interface WriterStats {
  addedBytes: number;
  addedChunks: number;
  addedPacks: number;
}

/**
 * Deduplicates blobs against the index and this run, fills packs, and uploads each full pack
 * while the next one fills. At most `maxInFlight` packs are held in memory waiting for upload.
 */
export class BlobWriter {
  private pack = new PackWriter();
  private readonly written: ManifestPack[] = [];
  private readonly pendingIds = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  readonly stats: WriterStats = { addedBytes: 0, addedChunks: 0, addedPacks: 0 };
  private readonly backend: Backend;
  private readonly keys: RepoKeys;
  private readonly cache: IndexCache;
  private readonly packSize: number;
  private readonly maxInFlight: number;
  private readonly dedupeAgainstIndex: boolean;

  /** `dedupeAgainstIndex: false` is for repacking, where the blobs are indexed in packs about to go. */
  constructor(backend: Backend, keys: RepoKeys, cache: IndexCache, packSize: number, opts: { maxInFlight?: number; dedupeAgainstIndex?: boolean } = {}) {
    this.backend = backend;
    this.keys = keys;
    this.cache = cache;
    this.packSize = packSize;
    this.maxInFlight = opts.maxInFlight ?? 2;
    this.dedupeAgainstIndex = opts.dedupeAgainstIndex ?? true;
  }

  has(id: string): boolean {
    return this.pendingIds.has(id) || (this.dedupeAgainstIndex && this.cache.hasBlob(id));
  }

  /** Stores a blob unless the repository already has it; returns its id. */
  async add(type: BlobType, data: Uint8Array, id = chunkId(this.keys, data)): Promise<string> {
    if (this.failure) throw this.failure;
    if (this.has(id)) return id;
    const blob = encodeBlob(this.keys, type, data, id);
    this.pack.add(blob);
    this.pendingIds.add(id);
    this.stats.addedChunks++;
    this.stats.addedBytes += blob.sealed.byteLength;
    if (this.pack.byteLength >= this.packSize) await this.sealPack();
    return id;
  }

  private async sealPack(): Promise<void> {
    if (this.pack.count === 0) return;
    const finished = this.pack.finish(this.keys);
    this.pack = new PackWriter();
    while (this.inFlight.size >= this.maxInFlight) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    const upload = this.backend.put(packKey(finished.id), finished.bytes).then(
      () => {
        this.written.push({ id: finished.id, size: finished.bytes.byteLength, blobs: finished.entries });
        this.stats.addedPacks++;
        this.stats.addedBytes += finished.bytes.byteLength - finished.entries.reduce((n, e) => n + e.length, 0);
      },
      (err: unknown) => {
        this.failure ??= err;
      },
    );
    const tracked: Promise<void> = upload.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  /** Uploads what is left and returns every pack this writer stored. */
  async flush(): Promise<ManifestPack[]> {
    await this.sealPack();
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
    return this.written;
  }
}
