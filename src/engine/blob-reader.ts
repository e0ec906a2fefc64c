import { IntegrityError, ObjectNotFoundError } from "../errors.ts";
import type { Backend } from "../storage/backend.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { decodeBlob } from "../repo/blob.ts";
import { packKey } from "../repo/layout.ts";
import type { IndexCache, BlobLocation } from "../index/cache.ts";
import pLimit from "p-limit";
import { mergeRanges } from "./ranges.ts";
import { afterBlobs } from "./codec/young-gc.ts";

/**
 * How many deltas deep a blob may lie. Commits write depth 1 (a delta's base is a full blob); two
 * machines storing the same content differently could in theory chain more, and a cycle must end
 * in an error, not a loop.
 */
const MAX_DELTA_DEPTH = 4;
/**
 * Range requests in flight per call (each at most 4 MiB). A daily commit's delta bases are a few
 * hundred scattered ranges: over a remote store each is a round trip, so many are kept on their
 * way (a local store reads small ranges at once, see LocalBackend).
 */
const READ_CONCURRENCY = 32;
/**
 * Blobs this close are read in one request. The blobs asked for here are often scattered (bases
 * of a commit's deltas): closing a 32 KiB gap costs less than a request, a 256 KiB one does not.
 */
const SPARSE_GAP = 32 * 1024;

export interface ReadOptions {
  /**
   * false: the plaintexts' ids are not re-derived (blobs are still authenticated), for a caller
   * that checks what it builds from them later anyway: a checkout reads restored files back.
   */
  checkId?: boolean;
  /**
   * Where the plaintexts of the blobs asked for are decoded (grown when too small), instead of a
   * buffer each: they stay valid until the caller's next read into it. A caller that holds a
   * window of blobs and then drops it (a commit's delta bases) leaves no dead buffers behind,
   * which V8 would only collect once 64 MB of them had piled up.
   */
  arena?: PlaintextArena;
  /** Index locations the caller has already looked up, by id: not looked up again. */
  located?: ReadonlyMap<string, BlobLocation>;
}

/** A buffer reused from one read to the next, by one read at a time (see ReadOptions.arena). */
export interface PlaintextArena {
  buffer?: Buffer;
}

/**
 * Hands out consecutive pieces of the arena, each one byte longer than a blob's plaintext (what
 * decodeBlob's `into` asks for), after growing it to `need` bytes: room for every blob asked for.
 */
function arenaRoom(arena: PlaintextArena, need: number): (rawLength: number) => Buffer {
  if ((arena.buffer?.byteLength ?? 0) < need) arena.buffer = Buffer.allocUnsafeSlow(Math.max(need, 2 * (arena.buffer?.byteLength ?? 0)));
  const buffer = arena.buffer!;
  let at = 0;
  return (rawLength) => {
    const piece = buffer.subarray(at, at + rawLength + 1);
    at += rawLength + 1;
    return piece;
  };
}

/** Reads blobs by id, verified before they are returned. */
export class BlobReader {
  private readonly backend: Backend;
  private readonly keys: RepoKeys;
  private readonly cache: IndexCache;

  constructor(backend: Backend, keys: RepoKeys, cache: IndexCache) {
    this.backend = backend;
    this.keys = keys;
    this.cache = cache;
  }

  locate(id: string): BlobLocation {
    const loc = this.cache.blob(id);
    if (!loc) throw new ObjectNotFoundError(`blob ${id}`, "the repository index (no pack holds it)");
    return loc;
  }

  /** readMany, keyed by id (what callers that look plaintexts up by id want). */
  async readMap(ids: Iterable<string>, options: ReadOptions = {}): Promise<Map<string, Buffer>> {
    const unique = [...new Set(ids)];
    const plains = await this.readMany(unique, options);
    return new Map(unique.map((id, i) => [id, plains[i]!]));
  }

  /**
   * Reads several blobs, in the order given, with one range request per run of blobs that lie
   * close together in a pack (a listing is tens of blobs, mostly written side by side), not one
   * request each: on B2, reads are the transactions that cost. Deltas are decoded against their
   * bases, which are read first; pass the bases among `ids` to have their plaintexts too.
   */
  async readMany(ids: readonly string[], { checkId = true, arena, located }: ReadOptions = {}, depth = 0): Promise<Buffer[]> {
    const wanted = [...new Set(ids)].map((id) => ({ id, loc: located?.get(id) ?? this.locate(id) }));
    const room = arena && arenaRoom(arena, wanted.reduce((n, { loc }) => n + loc.rawLength + 1, 0));
    // Deltas' bases first (a base asked for as well is read once), then the deltas against them.
    const bases = new Set(wanted.flatMap(({ loc }) => (loc.base ? [loc.base] : [])));
    const plain = new Map<string, Buffer>();
    if (bases.size > 0) {
      if (depth >= MAX_DELTA_DEPTH) throw new IntegrityError(`blob ${[...bases][0]!}`, `deltas are chained more than ${MAX_DELTA_DEPTH} deep`);
      const baseIds = [...bases];
      (await this.readMany(baseIds, { checkId }, depth + 1)).forEach((data, i) => plain.set(baseIds[i]!, data));
    }
    const byPack = new Map<string, { id: string; loc: BlobLocation }[]>();
    for (const { id, loc } of wanted) {
      if (plain.has(id)) continue;
      const list = byPack.get(loc.pack) ?? [];
      list.push({ id, loc });
      byPack.set(loc.pack, list);
    }
    // A few range requests at a time: on a remote store each one is a round trip, and a daily
    // commit's bases take a hundred or more.
    const limit = pLimit(READ_CONCURRENCY);
    let failed = false;
    const reads = [...byPack].flatMap(([pack, blobs]) => {
      const key = packKey(pack);
      const sorted = blobs.map(({ id, loc }) => ({ id, offset: loc.offset, length: loc.length, rawLength: loc.rawLength, base: loc.base })).sort((a, b) => a.offset - b.offset);
      return [...mergeRanges(sorted, SPARSE_GAP)].map((range) =>
        limit(async () => {
          if (failed) return; // another range failed: the call fails, no point reading on
          const bytes = await this.backend.get(key, { offset: range.start, length: range.end - range.start });
          if (bytes.byteLength !== range.end - range.start) throw new IntegrityError(key, "short range read");
          for (const b of range.blobs) {
            // Only the base the index names is offered: a blob naming another one is reported.
            const baseOf = (base: string) => (base === b.base ? plain.get(base) : undefined);
            plain.set(b.id, decodeBlob(this.keys, b.id, bytes.subarray(b.offset - range.start, b.offset - range.start + b.length), key, { baseOf, checkId, ...(room ? { into: room(b.rawLength) } : {}) }));
          }
          afterBlobs(bytes.byteLength);
        }),
      );
    });
    const settled = await Promise.allSettled(reads.map((read) => read.catch((err: unknown) => ((failed = true), Promise.reject(err)))));
    const failure = settled.find((r) => r.status === "rejected");
    if (failure) throw failure.reason;
    return ids.map((id) => plain.get(id)!);
  }
}
