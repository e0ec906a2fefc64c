import * as fs from "node:fs/promises";
import type { WalkEntry } from "./walk.ts";

/** How far ahead small files are read: by count and by bytes held. */
const AHEAD_FILES = 16;
const AHEAD_BYTES = 8 * 1024 * 1024;

/**
 * Reads the next few small files that need reading while the current one is chunked and stored,
 * so the thread is not idle waiting on one open/read/close after another. Whole-file reads only;
 * large files stream and are not prefetched.
 */
export class Prefetcher {
  private readonly items: readonly WalkEntry[];
  private readonly wanted: (item: WalkEntry) => boolean;
  private readonly started = new Map<number, Promise<Buffer>>();
  private next = 0;
  private heldBytes = 0;

  constructor(items: readonly WalkEntry[], wanted: (item: WalkEntry) => boolean) {
    this.items = items;
    this.wanted = wanted;
  }

  /** Reads in flight for items after `index`. */
  aheadOf(index: number): number {
    return [...this.started.keys()].filter((i) => i > index).length;
  }

  /** The read of item `index` if one was started (it is then handed over), after topping up the window. */
  take(index: number): Promise<Buffer> | undefined {
    if (this.next <= index) this.next = index;
    // Reads of files passed over (the commit found them unchanged after all) are let go.
    for (const i of this.started.keys()) {
      if (i < index) {
        this.started.delete(i);
        this.heldBytes -= Number(this.items[i]!.stat.size);
      }
    }
    const mine = this.started.get(index);
    if (mine) {
      this.started.delete(index);
      this.heldBytes -= Number(this.items[index]!.stat.size);
    }
    this.fill(index + 1);
    return mine ?? (this.wanted(this.items[index]!) ? this.start(index) : undefined);
  }

  private fill(from: number): void {
    if (this.next < from) this.next = from;
    while (this.next < this.items.length && this.next < from + AHEAD_FILES && this.heldBytes < AHEAD_BYTES) {
      const i = this.next++;
      if (this.wanted(this.items[i]!)) {
        this.started.set(i, this.start(i));
        this.heldBytes += Number(this.items[i]!.stat.size);
      }
    }
  }

  private start(index: number): Promise<Buffer> {
    const read = fs.readFile(this.items[index]!.absPath);
    read.catch(() => {}); // a failure surfaces when the file's turn comes and it is awaited
    return read;
  }
}
