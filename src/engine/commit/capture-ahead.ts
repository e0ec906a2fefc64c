import * as fs from "node:fs/promises";
import type { FileStat, IndexCache } from "../../index/cache.ts";
import type { WalkEntry } from "./walk.ts";
import { readSqliteHeader, type CapturedDatabase } from "../sqlite/sqlite-capture.ts";
import type { ScratchDir } from "../sqlite/scratch-dir.ts";
import { WHOLE_READ_BYTES } from "./source-reader.ts";
import { databaseStatKey, sameStat } from "./stat-key.ts";
import { captureForStore, scrubTag, withScrubTag } from "./scrub.ts";
import type { CommitScrub } from "../types.ts";

export interface EarlyCapture {
  /** The database's stat key, taken before its capture started (with the scrub's tag when one applies). */
  key: FileStat;
  copy: Promise<CapturedDatabase>;
}

/**
 * Copies the next large database that needs a private copy (see source-reader.ts, openPages)
 * while the current file is chunked and stored: the copy runs on node's thread pool, and without this the commit would sit idle for
 * each database's copy in turn. One capture ahead at most (it is a file on disk, not memory).
 * Small databases (read whole anyway) are captured in turn, as before. A database scrub (see
 * CommitScrub) runs on the copy here too, so it is also done ahead.
 */
export class CaptureAhead {
  private readonly items: readonly WalkEntry[];
  private readonly cache: IndexCache;
  private readonly root: string;
  private readonly scratch: ScratchDir;
  private readonly scrub: CommitScrub | undefined;
  private readonly tag: string | undefined;
  private readonly started = new Map<number, EarlyCapture>();
  private scanned = 0;

  private readonly checkDue: (relPath: string) => boolean;

  /** `checkDue`: whether the database at a path gets its quick_check in this commit. */
  constructor(items: readonly WalkEntry[], cache: IndexCache, root: string, scratch: ScratchDir, checkDue: (relPath: string) => boolean, scrub?: CommitScrub) {
    this.items = items;
    this.checkDue = checkDue;
    this.cache = cache;
    this.root = root;
    this.scratch = scratch;
    this.scrub = scrub?.database ? scrub : undefined;
    this.tag = this.scrub ? scrubTag(this.scrub) : undefined;
  }

  /** This item's early capture, if one was started; then starts the next one. */
  async take(index: number): Promise<EarlyCapture | undefined> {
    for (const [i, early] of this.started) {
      if (i < index) {
        this.started.delete(i);
        early.copy.then((c) => fs.rm(c.file, { force: true })).catch(() => {});
      }
    }
    const mine = this.started.get(index);
    this.started.delete(index);
    if (this.started.size === 0) await this.startNext(index + 1);
    return mine;
  }

  private async startNext(from: number): Promise<void> {
    if (this.scanned < from) this.scanned = from;
    // As far ahead as it takes: a database behind a few hundred small files (an agent's cold
    // transcripts) should be copied while they are read, not after.
    for (; this.scanned < this.items.length; this.scanned++) {
      const item = this.items[this.scanned]!;
      if (!item.stat.isFile() || item.stat.size <= WHOLE_READ_BYTES) continue;
      const cached = this.cache.cachedFile(this.root, item.relPath);
      if (cached && !cached.sqlite) continue; // a known plain file
      if (!cached && !(await readSqliteHeader(item.absPath).catch(() => undefined))) continue;
      const key = withScrubTag(await databaseStatKey(item.absPath, item.stat), this.tag);
      if (cached && sameStat(cached, key)) continue; // unchanged: the commit will not read it
      // Needing neither a scrub nor a quick_check, it is read through its WAL in place when its
      // turn comes (source-reader.ts): nothing to copy ahead.
      if (!this.scrub && !this.checkDue(item.relPath)) continue;
      const relPath = item.relPath;
      const scrub = this.scrub && ((copyPath: string) => this.scrub!.database!(copyPath, relPath));
      const copy = captureForStore(item.absPath, this.scratch, scrub);
      copy.catch(() => {}); // a failure surfaces when the commit reaches this file
      this.started.set(this.scanned, { key, copy });
      this.scanned++;
      return;
    }
  }
}
