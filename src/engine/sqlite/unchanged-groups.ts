// Recognising a database page group that did not change since the file's last stored version,
// without computing its HMAC id: a seeded 128-bit hash from a small WebAssembly kernel
// (wasm/assembly/grouphash.ts) is compared with the hash the same group had last time, and on a
// match the group's previous id is taken. docs/sqlite.md says why a collision cannot silently
// store wrong data in practice, and what it would cost if it did.

import { createHmac } from "node:crypto";
import { GROUP_HASH_BYTES, GroupHasher } from "../../chunker/group-hash.ts";
import type { RepoKeys } from "../../crypto/keys.ts";
import { groupHashRequests, readAndHash, readPages, type GroupHashRequest, type PageSource } from "./page-reader.ts";

/** Bytes of groups hashed per request in a scan, and requests kept on their way. */
const SCAN_WINDOW_BYTES = 4 * 1024 * 1024;
const SCAN_AHEAD = 2;

let shared: GroupHasher | undefined;

/** This thread's kernel instance, made again only when more room than it has is asked for. */
async function hasherFor(bytes: number): Promise<GroupHasher> {
  if (!shared || shared.input.byteLength < bytes) shared = await GroupHasher.create(bytes);
  return shared;
}

/** The repository's seed for the group hash: secret, so no one without the keys can aim at a collision. */
export function groupHashSeed(keys: RepoKeys): [bigint, bigint] {
  const bytes = createHmac("sha256", keys.id).update("clawback page-group hash seed v1").digest();
  return [bytes.readBigUInt64LE(0), bytes.readBigUInt64LE(8)];
}

/** The bytes of each range a scan asks a worker for (a whole number of groups). */
export function scanWindowBytes(groupBytes: number): number {
  return Math.max(1, Math.floor(SCAN_WINDOW_BYTES / groupBytes)) * groupBytes;
}

/** The thread that reads and hashes a scan's ranges (the codec's worker: BlobCodec.hashGroups and workerUp). */
export interface GroupHashWorker {
  hash(range: GroupHashRequest): Promise<Uint8Array>;
  /** Whether the thread is up: until then the scan hashes on its own thread. */
  up(): boolean;
  /** The answer for the range at byte `position`, when it was asked for ahead of the scan (ScanAhead). */
  askedAhead?(position: number): Promise<Uint8Array> | undefined;
  /** The range at `position` was hashed by the scan itself: an answer asked ahead need not be made. */
  dropAhead?(position: number): void;
}

/** The group hashes of a database's last stored version, and the ids of its groups, by place. */
export interface PreviousGroups {
  hashes: Uint8Array;
  chunks: readonly string[];
}

/**
 * Hashes each page group of one database capture, in file order. `sink` wraps the sink that
 * stores a group: a group whose hash equals the hash of the group at the same place in the last
 * stored version, and whose previous id is still stored (`stillStored`), gets that id back without
 * reaching the inner sink (`skipped` is called instead, so that a sink that counts places keeps
 * count).
 */
export class UnchangedGroups {
  private readonly seed: readonly [bigint, bigint];
  private readonly previous: PreviousGroups | undefined;
  private hashes = new Uint8Array(64 * GROUP_HASH_BYTES);
  private count = 0;
  /** Groups that were recognised as unchanged in the last pass. */
  reused = 0;

  constructor(seed: readonly [bigint, bigint], previous: PreviousGroups | undefined) {
    this.seed = seed;
    this.previous = previous && previous.hashes.byteLength === previous.chunks.length * GROUP_HASH_BYTES ? previous : undefined;
  }

  /** Whether the last stored version's hashes are known: without them every group is new. */
  get hasPrevious(): boolean {
    return this.previous !== undefined;
  }

  /** A sink for one pass over the database's groups (a new pass starts over). */
  sink(inner: (data: Uint8Array) => Promise<string>, stillStored: (id: string) => boolean, skipped: () => void = () => {}): (data: Uint8Array) => Promise<string> {
    this.start();
    return async (data) => {
      const place = this.count++;
      this.room(this.count);
      (await hasherFor(GroupHasher.capacityFor(data.byteLength, data.byteLength))).hashInto(data, this.seed, this.hashes, place * GROUP_HASH_BYTES);
      const id = this.unchangedId(place, stillStored);
      if (id === undefined) return inner(data);
      skipped();
      return id;
    };
  }

  /**
   * One pass over `source` in which the groups are read and hashed by `worker` (the codec's
   * thread), a window at a time, with the next windows' hashes on their way while this thread
   * reads the groups that changed (only those) and hands them to `inner`, as `sink` would. A daily
   * commit's databases are mostly unchanged: their bytes then never reach this thread. Until the
   * worker is up, this thread reads and hashes windows itself rather than wait for it.
   */
  async scan(source: PageSource, groupPages: number, worker: GroupHashWorker, inner: (data: Uint8Array) => Promise<string>, stillStored: (id: string) => boolean, skipped: () => void = () => {}): Promise<{ chunks: string[]; size: number }> {
    if (!Number.isSafeInteger(groupPages) || groupPages < 1) throw new RangeError(`invalid page group size ${groupPages}`);
    const { pageSize } = source;
    const groupBytes = pageSize * groupPages;
    const windowBytes = scanWindowBytes(groupBytes);
    const total = source.pages * pageSize;
    this.start();
    this.room(Math.ceil(total / groupBytes));
    const requestFor = groupHashRequests(source, groupBytes, this.seed);
    const inFlight: Promise<Uint8Array>[] = [];
    let requested = 0;
    const request = () => {
      if (requested >= total) return;
      const length = Math.min(windowBytes, total - requested);
      const hashes = worker.hash(requestFor(requested, length));
      hashes.catch(() => {}); // awaited in turn below, or settled in finally
      inFlight.push(hashes);
      requested += length;
    };
    const imageOf = (page: number) => source.overlay.get(page);
    let group: Uint8Array | undefined;
    const chunks: string[] = [];
    /** Takes the groups of the window at `position`, whose hashes are in place; `bytes` holds the window's bytes when this thread read them. */
    const take = async (position: number, end: number, bytes?: Uint8Array) => {
      for (let at = position; at < end; at += groupBytes) {
        const place = this.count++;
        const id = this.unchangedId(place, stillStored);
        if (id !== undefined) {
          skipped();
          chunks.push(id);
          continue;
        }
        const length = Math.min(groupBytes, total - at);
        if (bytes) chunks.push(await inner(bytes.subarray(at - position, at - position + length)));
        else {
          group ??= new Uint8Array(groupBytes);
          readPages(source.fd, pageSize, at, length, group, imageOf, source.where);
          chunks.push(await inner(group.subarray(0, length)));
        }
      }
    };
    try {
      for (let position = 0; position < total; ) {
        const end = Math.min(position + windowBytes, total);
        if (requested === position && !worker.up()) {
          worker.dropAhead?.(position);
          const hasher = await hasherFor(GroupHasher.capacityFor(windowBytes, groupBytes));
          const hashes = readAndHash(hasher, { fd: source.fd, where: source.where, pageSize, position, length: end - position, groupBytes, seed: this.seed }, imageOf);
          this.hashes.set(hashes, this.count * GROUP_HASH_BYTES);
          await take(position, end, hasher.input);
          requested = position = end;
          continue;
        }
        const ahead = worker.askedAhead?.(position);
        if (ahead) {
          this.hashes.set(await ahead, this.count * GROUP_HASH_BYTES);
          requested = end;
        } else {
          while (inFlight.length < SCAN_AHEAD && requested < total) request();
          this.hashes.set(await inFlight.shift()!, this.count * GROUP_HASH_BYTES);
          request();
        }
        await take(position, end);
        position = end;
      }
    } finally {
      // The worker reads through the caller's descriptor, which the caller closes once this returns.
      await Promise.allSettled(inFlight);
    }
    return { chunks, size: total };
  }

  /** The hashes of the groups of the last pass, in order (one per chunk id it returned). */
  result(): Uint8Array {
    return this.hashes.slice(0, this.count * GROUP_HASH_BYTES);
  }

  private start(): void {
    this.count = 0;
    this.reused = 0;
  }

  /** Makes room for the hashes of `groups` groups. */
  private room(groups: number): void {
    if (this.hashes.byteLength >= groups * GROUP_HASH_BYTES) return;
    const grown = new Uint8Array(Math.max(this.hashes.byteLength * 2, groups * GROUP_HASH_BYTES));
    grown.set(this.hashes);
    this.hashes = grown;
  }

  /** The previous id of the group at `place`, whose hash is in place, when it is unchanged and still stored. */
  private unchangedId(place: number, stillStored: (id: string) => boolean): string | undefined {
    const prev = this.previous;
    const id = prev?.chunks[place];
    if (!prev || id === undefined || !equalAt(prev.hashes, this.hashes, place * GROUP_HASH_BYTES) || !stillStored(id)) return undefined;
    this.reused++;
    return id;
  }
}

function equalAt(a: Uint8Array, b: Uint8Array, at: number): boolean {
  for (let i = at; i < at + GROUP_HASH_BYTES; i++) if (a[i] !== b[i]) return false;
  return true;
}
