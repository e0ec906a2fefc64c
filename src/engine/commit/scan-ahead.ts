import type { FileStat } from "../../index/cache.ts";
import { groupHashRequests } from "../sqlite/page-reader.ts";
import { scanWindowBytes, type GroupHashWorker } from "../sqlite/unchanged-groups.ts";
import { openWalCapture, type WalCapture } from "../sqlite/wal-capture.ts";
import type { EarlyRead } from "./source-reader.ts";
import type { WalkEntry } from "./walk.ts";

/** Databases whose reads are open and whose groups are being hashed ahead of their turn. */
const AHEAD = 2;

/**
 * A database read through its WAL, its groups' hashes asked for before its turn: its worker
 * answers the scan's ranges from those, and its release waits for every one of them (the worker
 * reads through the capture's descriptor).
 */
export interface EarlyScan extends EarlyRead {
  /** The database's stat key, taken before its read began. */
  key: FileStat;
}

/**
 * Opens the read of the next changed databases (see `plan`) and has the codec worker read and
 * hash all their page groups while this thread works through the files before them: a daily
 * commit's databases are mostly unchanged groups, and without this the commit's thread sat idle
 * while the worker hashed each database in its turn. At most AHEAD reads are open at once; each
 * holds its database's WAL from being checkpointed past it until it is released, a few seconds.
 */
export class ScanAhead {
  private readonly items: readonly WalkEntry[];
  private readonly plan: (item: WalkEntry) => Promise<FileStat | undefined>;
  private readonly worker: GroupHashWorker;
  private readonly groupBytesOf: (pageSize: number) => number;
  private readonly seed: readonly [bigint, bigint];
  private readonly started = new Map<number, EarlyScan>();
  private scanned = 0;

  /**
   * `plan`: the stat key of an item to scan ahead (a known database that changed, whose last
   * group hashes are known and that needs no private copy), else undefined.
   */
  constructor(items: readonly WalkEntry[], plan: (item: WalkEntry) => Promise<FileStat | undefined>, worker: GroupHashWorker, groupPages: number, seed: readonly [bigint, bigint]) {
    this.items = items;
    this.plan = plan;
    this.worker = worker;
    this.groupBytesOf = (pageSize) => pageSize * groupPages;
    this.seed = seed;
  }

  /** Starts the first reads. */
  async start(): Promise<void> {
    await this.fill(0);
  }

  /** This item's early scan, if one was started (the caller releases it); then starts the next. */
  async take(index: number): Promise<EarlyScan | undefined> {
    for (const [i, early] of this.started) {
      if (i >= index) continue;
      this.started.delete(i);
      await early.release();
    }
    const mine = this.started.get(index);
    this.started.delete(index);
    await this.fill(index + 1);
    return mine;
  }

  /** Releases every read not taken (after a failure, or files left out). */
  async close(): Promise<void> {
    const left = [...this.started.values()];
    this.started.clear();
    this.scanned = this.items.length;
    await Promise.all(left.map((e) => e.release()));
  }

  private async fill(from: number): Promise<void> {
    if (this.scanned < from) this.scanned = from;
    while (this.started.size < AHEAD && this.scanned < this.items.length) {
      const index = this.scanned++;
      const item = this.items[index]!;
      const key = await this.plan(item);
      if (!key) continue;
      const opened = await openWalCapture(item.absPath).catch(() => undefined);
      if (!opened || !("capture" in opened)) continue; // read in its turn, the usual way
      this.started.set(index, this.askAll(key, opened.capture));
    }
  }

  /** Asks for the hashes of every range of the capture, in the order a scan takes them. */
  private askAll(key: FileStat, capture: WalCapture): EarlyScan {
    const source = capture.source;
    const groupBytes = this.groupBytesOf(source.pageSize);
    const windowBytes = scanWindowBytes(groupBytes);
    const total = source.pages * source.pageSize;
    const requestFor = groupHashRequests(source, groupBytes, this.seed);
    const asked = new Map<number, Promise<Uint8Array>>();
    // Ranges the scan hashes itself while the worker is not up yet are dropped from its queue.
    const dropped = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, Math.ceil(total / windowBytes))));
    for (let position = 0; position < total; position += windowBytes) {
      const range = { ...requestFor(position, Math.min(windowBytes, total - position)), dropped: { flags: dropped, index: position / windowBytes } };
      const hashes = this.worker.hash(range);
      hashes.catch(() => {}); // the scan meets the failure in its turn
      asked.set(position, hashes);
    }
    let released: Promise<void> | undefined;
    return {
      key,
      capture,
      worker: {
        ...this.worker,
        askedAhead: (position) => asked.get(position),
        dropAhead: (position) => void Atomics.store(dropped, position / windowBytes, 1),
      },
      release: () =>
        (released ??= (async () => {
          await Promise.allSettled(asked.values());
          await capture.release();
        })()),
    };
  }
}
