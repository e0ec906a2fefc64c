import { chunkId, type RepoKeys } from "../../crypto/keys.ts";
import { BlobType } from "../../repo/blob.ts";
import type { BlobLocation, IndexCache } from "../../index/cache.ts";
import type { BlobReader, PlaintextArena } from "../blob-reader.ts";
import type { BlobWriter } from "./blob-writer.ts";

/**
 * Changed page groups held before their bases are fetched (they are copies: groups are views).
 * The first window of a file is smaller: it decides whether the file is worth deltas at all.
 */
const WINDOW_BYTES = 4 * 1024 * 1024;
const FIRST_WINDOW_BYTES = 1024 * 1024;
/**
 * A window of at least this many changed groups of which under an eighth became deltas means the
 * file was rewritten (VACUUM, a rebuilt database): its old groups are not worth reading any more.
 * After VACUUM, 1 group in 32 was a delta. Not a quarter: with a quarter the 10-day bench stored
 * more (day 10: 444.3 MB against 439.9 MB without giving up), presumably because a database's
 * first groups (header, schema, roots of busy tables) change every day and are often stored whole
 * again (the half rule in blob.ts), so a first window can look like a rewrite when it is not.
 */
const GIVE_UP_AFTER = 32;

/**
 * The buffers a window's changed groups are copied into and its bases decoded into, reused by
 * every sink of a commit: buffers made per window lived through it, long enough to be promoted,
 * and then piled up as dead external memory until a full collection.
 */
export interface DeltaArena {
  buffer?: Buffer;
  bases?: PlaintextArena;
}

/**
 * Stores a database's page groups, each new one as a delta against the group at the same place in
 * the file's previous version. A database's pages stay where they are from one day to the next,
 * so the old group is nearly the same bytes: on the first generated day the changed 32 KiB groups
 * of the bench state's five databases take 20.0 MB compressed one by one and 3.2 MB as deltas
 * (`node bench/deltas.ts policies`).
 *
 * A base is always a full blob (a previous version stored as a delta hands over its own base), so
 * a restore decodes at most one blob before another. Bases are read from the repository in a few
 * range requests per window of changed groups, not one each.
 */
export class DeltaSink {
  private readonly keys: RepoKeys;
  private readonly cache: IndexCache;
  private readonly reader: BlobReader;
  private readonly writer: BlobWriter;
  private readonly previous: readonly string[];
  private index = 0;
  private staged: { id: string; data: Uint8Array; base: string }[] = [];
  /** The index locations baseFor found of the staged groups' bases, for reading them. */
  private located = new Map<string, BlobLocation>();
  private stagedBytes = 0;
  /** Where the staged groups are copied and their bases decoded (the writer reads a blob's data, and its base's, before add returns). */
  private readonly arena: DeltaArena;
  private gaveUp = false;
  private flushes = 0;
  /**
   * The last window flushed, until its groups are encoded (on the codec worker, while this thread
   * reads the next window): how many it held, the writer's delta count before it, and the
   * promise of its encoding.
   */
  private lastWindow: { groups: number; deltasBefore: number; encoded: Promise<void> } | undefined;

  /** `arena`: shared by the sinks of one commit (one file is stored at a time), made on first use. */
  constructor(keys: RepoKeys, cache: IndexCache, reader: BlobReader, writer: BlobWriter, previous: readonly string[], arena: DeltaArena = {}) {
    this.arena = arena;
    this.keys = keys;
    this.cache = cache;
    this.reader = reader;
    this.writer = writer;
    this.previous = previous;
  }

  /** The next page group, in file order; returns its id (the group may be stored later, by flush). */
  readonly add = async (data: Uint8Array): Promise<string> => {
    const place = this.index++;
    const id = chunkId(this.keys, data);
    if (this.writer.has(id)) return id;
    const base = this.gaveUp ? undefined : this.baseFor(this.previous[place], id);
    if (!base) return this.writer.addAbsent(BlobType.data, data, id);
    this.staged.push({ id, data: this.copy(data), base });
    this.stagedBytes += data.byteLength;
    if (this.stagedBytes >= (this.flushes === 0 ? FIRST_WINDOW_BYTES : WINDOW_BYTES)) await this.flush();
    return id;
  };

  /** The next page group is known to be unchanged and was not passed to add (UnchangedGroups). */
  skip(): void {
    this.index++;
  }

  /**
   * Stores the groups held back, each against its base's plaintext. Whether the file was
   * rewritten is judged from the window before (encoded meanwhile): once it is, this window's
   * groups are stored whole too, as every later one is, without reading their bases.
   */
  async flush(): Promise<void> {
    const staged = this.staged;
    const located = this.located;
    this.staged = [];
    this.located = new Map();
    this.stagedBytes = 0;
    if (staged.length === 0) return;
    this.flushes++;
    await this.judgeLastWindow();
    if (this.gaveUp) {
      for (const s of staged) await this.writer.addAbsent(BlobType.data, s.data, s.id);
      return;
    }
    // Bases are authenticated as they are opened; their ids are not derived again (an HMAC over
    // every base, 50-60 MB a day on the 1.5 GB bench state): a delta is decoded against the base
    // as stored under its id, whatever those bytes are, so the new group restores exactly even if
    // they did not match it.
    const bases = await this.reader.readMap(staged.map((s) => s.base), { arena: (this.arena.bases ??= {}), checkId: false, located });
    const deltasBefore = this.writer.stats.addedDeltas;
    for (const s of staged) await this.writer.addAbsent(BlobType.data, s.data, s.id, { id: s.base, data: bases.get(s.base)! });
    this.lastWindow = { groups: staged.length, deltasBefore, encoded: this.writer.encoded() };
  }

  private async judgeLastWindow(): Promise<void> {
    const last = this.lastWindow;
    if (!last) return;
    this.lastWindow = undefined;
    await last.encoded;
    const deltas = this.writer.stats.addedDeltas - last.deltasBefore;
    if (last.groups >= GIVE_UP_AFTER && deltas * 8 < last.groups) this.gaveUp = true;
  }

  /** A copy of a group in the arena (outside it if the window overflows: the last group of one). */
  private copy(data: Uint8Array): Uint8Array {
    const arena = (this.arena.buffer ??= Buffer.allocUnsafeSlow(WINDOW_BYTES));
    if (this.stagedBytes + data.byteLength > arena.byteLength) return Buffer.from(data);
    const view = arena.subarray(this.stagedBytes, this.stagedBytes + data.byteLength);
    view.set(data);
    return view;
  }

  private baseFor(previous: string | undefined, id: string): string | undefined {
    if (previous === undefined || previous === id) return undefined;
    const loc = this.cache.blob(previous);
    if (!loc || loc.type !== BlobType.data) return undefined;
    if (loc.base !== undefined) return loc.base;
    this.located.set(previous, loc);
    return previous;
  }
}
