import * as fs from "node:fs/promises";
import * as path from "node:path";
import { AbortedError } from "../../errors.ts";
import { BlobType } from "../../repo/blob.ts";
import type { ManifestPack } from "../../repo/manifest.ts";
import type { CachedFile, FileStat } from "../../index/cache.ts";
import { BlobWriter, type WriterStats } from "./blob-writer.ts";
import { PackFolder } from "./pack-file.ts";
import { DeltaSink, type DeltaArena } from "./delta-sink.ts";
import { LocalBackend } from "../../storage/local.ts";
import { allowsDeltas } from "../../repo/config.ts";
import type { RepoContext } from "../context.ts";
import { LISTING_CHUNKS, listingBlocks } from "../listing.ts";
import { linkTargetProblem, listingPathProblem } from "../path-rule.ts";
import { Chunker, gearTableFromKey } from "../../chunker/index.ts";
import { ChangedWhileReading, fileUnreadable, isRacy, readContent, untrusted, WHOLE_READ_BYTES, type ReadContent } from "./source-reader.ts";
import { databaseStatKey, sameStat, statKey } from "./stat-key.ts";
import { WholeFileReader } from "./whole-read.ts";
import { makeScratchDir, type ScratchDir } from "../sqlite/scratch-dir.ts";
import { CaptureAhead } from "./capture-ahead.ts";
import { ScanAhead, type EarlyScan } from "./scan-ahead.ts";
import { checkDue, contentDigest, SnapshotChecks } from "../sqlite/check-schedule.ts";
import { groupHashSeed, UnchangedGroups, type GroupHashWorker, type PreviousGroups } from "../sqlite/unchanged-groups.ts";
import type { CapturedDatabase } from "../sqlite/sqlite-capture.ts";
import { largestFile, type EntryStat, type WalkEntry } from "./walk.ts";
import { type FileScrub, scrubFor, scrubs, scrubTag, withScrubTag, withoutScrubTag } from "./scrub.ts";
import type { CommitOptions, FileEntry, Warning } from "../types.ts";

// The part of a commit that reads and stores files: loaded only when the folder is not exactly as
// the last commit left it (commit.ts), so a no-change commit never compiles it, the chunker, the
// SQLite capture or the codec.

const READ_ATTEMPTS = 3;

/** A folder's listing stored, with the packs written for it (flushed: every one is in the bucket). */
export interface StoredFolder extends StoredListing {
  packs: ManifestPack[];
  writerStats: WriterStats;
}

/**
 * Reads and stores what changed in the folder walked to `items` (see storeFiles), then flushes the
 * packs: they are all written before the caller writes the manifest that names them (invariant 1).
 */
export async function storeFolder(ctx: RepoContext, root: string, items: readonly WalkEntry[], statMs: number, warn: (w: Warning) => void, opts: CommitOptions): Promise<StoredFolder> {
  const packFolder = await PackFolder.make(path.dirname(ctx.cache.file));
  const writer = new BlobWriter(ctx.backend, ctx.keys, ctx.cache, ctx.codec(), ctx.config.packSize, packFolder, { maxUploads: uploadsAtOnce(ctx) });
  let scratch: ScratchDir | undefined;
  const now = Date.now();
  const scans = scanAhead(ctx, root, items, now, opts);
  try {
    scratch = await makeScratchDir(largestFile(items));
    const listing = await storeFiles(ctx, root, items, statMs, now, writer, scratch, scans, warn, opts);
    return { ...listing, packs: await writer.flush(), writerStats: writer.stats };
  } finally {
    // After a failure anywhere: the reads opened ahead, the filling and queued packs' files, then the folder.
    await scans?.close();
    writer.discard();
    await packFolder.remove();
    await scratch?.remove();
  }
}

/**
 * Packs written at once while the next one fills. A local folder's write is a copy into the page
 * cache and an fsync, over long before the next 16 MiB pack is full, so a second write in flight
 * only kept a third 18.5 MB pack buffer alive (before packs were filled on disk): first commit of the bench state, peak RSS 228–243
 * against 254–264 MB (bench/README.md, "Commit memory"). A remote store keeps two: each upload is
 * a round trip that the next pack's filling should not wait for.
 */
function uploadsAtOnce(ctx: RepoContext): number {
  return ctx.backend instanceof LocalBackend ? 1 : 2;
}

/**
 * The folder's files, each found unchanged in the stat cache or read and stored; then its listing,
 * stored. `statMs`: when the walk that statted `items` began.
 */
async function storeFiles(ctx: RepoContext, root: string, items: readonly WalkEntry[], statMs: number, now: number, writer: BlobWriter, scratch: ScratchDir, scans: ScanAhead | undefined, warn: (w: Warning) => void, opts: CommitOptions): Promise<StoredListing> {
  const store = (data: Uint8Array) => writer.add(BlobType.data, data);
  const deltas = allowsDeltas(ctx.config);
  const entries: FileEntry[] = [];
  const seen: { path: string; file: CachedFile }[] = [];
  let files = 0;
  let dirs = 0;
  let bytes = 0;
  let filesRead = 0;
  let databasesReadInPlace = 0;
  let racy = 0;

  const whole = new WholeFileReader();
  const deltaArena: DeltaArena = {};
  const checks = new SnapshotChecks();
  const groupSeed = groupHashSeed(ctx.keys);
  const groupHashes: { path: string; content: string; hashes: Uint8Array }[] = [];
  const captures = new CaptureAhead(items, ctx.cache, root, scratch, (relPath) => checkDue(ctx.cache.databaseCheck(root, relPath), now), opts.scrub);
  const tag = opts.scrub ? scrubTag(opts.scrub) : undefined;

  await scans?.start();
  for (const [index, item] of items.entries()) {
    if (opts.signal?.aborted) throw new AbortedError();
    const st = item.stat;
    // Invariant 10: never store a name that checkout would refuse (one rule, path-rule.ts).
    const nameProblem = listingPathProblem(item.relPath);
    if (nameProblem) {
      warn({ path: item.relPath, message: `not stored: the name cannot be restored (${nameProblem})` });
      continue;
    }
    const base = { path: item.relPath, mode: Number(st.mode) & 0o7777, mtimeMs: Number(st.mtimeNs / 1000n) / 1000 };
    if (st.isDirectory()) {
      entries.push({ ...base, type: "dir", size: 0 });
      dirs++;
      continue;
    }
    if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = await fs.readlink(item.absPath);
      } catch (err) {
        // Gone (or replaced by something else) since the walk: like a file that vanished, the
        // one entry is left out with a warning, never the whole commit (seen: OpenClaw deletes its
        // plugin load copies under tmp/ at any moment).
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== "ENOENT" && code !== "EINVAL") throw err;
        warn({ path: item.relPath, message: `not stored: the symlink vanished during the commit (${code})` });
        continue;
      }
      if (linkTargetProblem(item.relPath, target)) {
        warn({ path: item.relPath, message: `not stored: symlink target ${JSON.stringify(target)} points outside the folder` });
        continue;
      }
      entries.push({ ...base, type: "symlink", size: 0, target });
      continue;
    }

    opts.progress?.progress?.({ phase: "commit", files, totalFiles: items.length, bytes, path: item.relPath });
    const cached = ctx.cache.cachedFile(root, item.relPath);
    // A database's stat key also covers its -wal (taken before the capture, never after). A file
    // stored scrubbed has the scrub's tag in its key (see withScrubTag).
    const plainKey = cached?.sqlite ? await databaseStatKey(item.absPath, st) : statKey(st);
    let key = scrubs(opts.scrub, item.relPath, cached?.sqlite === true) ? withScrubTag(plainKey, tag) : plainKey;
    const scrub = scrubFor(opts.scrub, item.relPath);
    let content: ReadContent | undefined;
    // Looked up for known databases only (a query per file would cost a tenth of a second on 9,400 files).
    const lastCheck = cached?.sqlite ? ctx.cache.databaseCheck(root, item.relPath) : undefined;
    const reusable = cached && sameStat(cached, key) && (cached.chunksIndexed || cached.chunks.every((id) => writer.has(id)));
    // A row's size is the file's, for matching its stat; what was stored of a database (its
    // captured copy) or of a scrubbed file has a size of its own: the sum of its chunks, which the
    // row records (rows written before it did have their chunks looked up).
    const storedSize = reusable && (cached.sqlite || key.ctimeNs !== plainKey.ctimeNs) ? (cached.storedSize ?? sizeOfChunks(ctx, cached.chunks)) : cached?.size;
    if (reusable && storedSize !== undefined) {
      content = { ...cached, size: storedSize };
    } else {
      writer.expect(Number(st.size));
      const early = await captures.take(index);
      if (early) key = early.key;
      const earlyScan = await scans?.take(index);
      if (earlyScan) key = earlyScan.key;
      const beforeCapture = async () => void (key = await databaseStatKey(item.absPath, st));
      // A database's changed page groups are stored as deltas of the groups its last version had.
      const previous = deltas && cached?.sqlite ? cached.chunks : undefined;
      const groupSink = previous && (() => new DeltaSink(ctx.keys, ctx.cache, ctx.reader, writer, previous, deltaArena));
      const unchanged = new UnchangedGroups(groupSeed, cached?.sqlite ? previousGroups(ctx, root, item.relPath, cached.chunks) : undefined);
      content = await readWithRetries(ctx, item.absPath, st, { whole, captured: early?.copy, earlyScan, scrub, quickCheck: checkDue(lastCheck, now), unchanged, previousIndexed: cached?.chunksIndexed === true }, beforeCapture, scratch, store, groupSink, warn, item.relPath);
      await earlyScan?.release();
      if (!content) continue;
      filesRead++;
      if (content.capture === "wal") databasesReadInPlace++;
      if (content.sqlite) groupHashes.push({ path: item.relPath, content: contentDigest(content.chunks), hashes: unchanged.result() });
      // The row carries the tag of what was applied: the file may have turned out to be a database.
      key = withScrubTag(withoutScrubTag(key), scrubs(opts.scrub, item.relPath, content.sqlite) ? tag : undefined);
    }
    if (content.sqlite) checks.add(item.relPath, content.chunks, content.check, lastCheck, now);
    if (content.check && !content.check.passed) warn({ path: item.relPath, message: `database failed its integrity check, stored as found (${content.check.problem ?? "quick_check failed"}); retention keeps the newest snapshot whose databases passed` });
    entries.push({ ...base, type: "file", size: content.size, chunks: content.chunks, ...(content.sqlite ? { sqlite: true } : {}) });
    // A file modified just before it was statted is read again next time (see isRacy).
    const rowKey = isRacy(key, statMs) ? (racy++, untrusted(key)) : key;
    seen.push({ path: item.relPath, file: { ...rowKey, chunks: content.chunks, sqlite: content.sqlite, storedSize: content.size } });
    files++;
    bytes += content.size;
  }

  const tree: string[] = [];
  const listingChunker = await Chunker.create(LISTING_CHUNKS, gearTableFromKey(ctx.keys.gear));
  for await (const piece of listingChunker.chunkViews(listingBlocks(entries))) tree.push(await writer.add(BlobType.tree, piece));

  return { tree, files, dirs, bytes, filesRead, databasesReadInPlace, seen, trusted: racy === 0, checks, groupHashes };
}

/** The codec's worker thread as the scan of a database's groups uses it; none for the inline codec. */
function groupHashWorker(ctx: RepoContext): GroupHashWorker | undefined {
  const codec = ctx.codec();
  if (!codec.hashGroups || !codec.workerUp) return undefined;
  return { hash: (range) => codec.hashGroups!(range), up: () => codec.workerUp!() };
}

/**
 * The databases to read and hash ahead of their turn (see ScanAhead): known ones that changed,
 * whose last group hashes are kept, read through their WAL (no quick_check due, no scrub of
 * databases), when the codec has a worker thread to hash them.
 */
function scanAhead(ctx: RepoContext, root: string, items: readonly WalkEntry[], now: number, opts: CommitOptions): ScanAhead | undefined {
  const worker = groupHashWorker(ctx);
  if (!worker || opts.scrub?.database) return undefined;
  const plan = async (item: WalkEntry): Promise<FileStat | undefined> => {
    if (!item.stat.isFile() || item.stat.size <= WHOLE_READ_BYTES || listingPathProblem(item.relPath)) return undefined;
    const cached = ctx.cache.cachedFile(root, item.relPath);
    if (!cached?.sqlite || checkDue(ctx.cache.databaseCheck(root, item.relPath), now)) return undefined;
    const key = await databaseStatKey(item.absPath, item.stat);
    if (sameStat(cached, key) || !previousGroups(ctx, root, item.relPath, cached.chunks)) return undefined;
    return key;
  };
  return new ScanAhead(items, plan, worker, ctx.config.sqliteGroupPages, groupHashSeed(ctx.keys));
}

export interface StoredListing {
  tree: string[];
  files: number;
  dirs: number;
  bytes: number;
  filesRead: number;
  /** Databases read through their WAL in place (see source-reader.ts, openPages). */
  databasesReadInPlace: number;
  /** The stat-cache rows of the files listed. */
  seen: { path: string; file: CachedFile }[];
  /** False when some row does not vouch for its file (a racy file): the listing is not to be reused. */
  trusted: boolean;
  /** What the snapshot record says about its databases' quick_checks. */
  checks: SnapshotChecks;
  /** Page-group hashes of the databases read, for the next commit (UnchangedGroups). */
  groupHashes: { path: string; content: string; hashes: Uint8Array }[];
}

/** The group hashes of a database's last stored version, if the cache has them for exactly `chunks`. */
function previousGroups(ctx: RepoContext, root: string, relPath: string, chunks: readonly string[]): PreviousGroups | undefined {
  const row = ctx.cache.groupHashes(root, relPath);
  return row && row.content === contentDigest(chunks) ? { hashes: row.hashes, chunks } : undefined;
}

async function readWithRetries(
  ctx: RepoContext,
  absPath: string,
  firstStat: EntryStat,
  reading: {
    whole: WholeFileReader;
    captured: Promise<CapturedDatabase> | undefined;
    /** The database's read, opened and hashed ahead (see ScanAhead). */
    earlyScan: EarlyScan | undefined;
    scrub: FileScrub | undefined;
    quickCheck: boolean;
    unchanged: UnchangedGroups;
    /** Every chunk of the file's previous version is known to be in the index (its row is of the current blob generation): no lookup per unchanged group. */
    previousIndexed: boolean;
  },
  beforeCapture: () => Promise<void>,
  scratch: ScratchDir,
  sink: (d: Uint8Array) => Promise<string>,
  groupSink: (() => DeltaSink) | undefined,
  warn: (w: Warning) => void,
  relPath: string,
) {
  let st = firstStat;
  let captured = reading.captured;
  let earlyScan = reading.earlyScan;
  const groupHasher = groupHashWorker(ctx);
  for (let attempt = 1; ; attempt++) {
    try {
      return await readContent(absPath, st, { keys: ctx.keys, chunker: await ctx.chunker(), groupPages: ctx.config.sqliteGroupPages, scratch, sink, beforeCapture, whole: reading.whole, ...(groupHasher ? { groupHasher } : {}), ...(earlyScan ? { early: earlyScan } : {}), quickCheck: reading.quickCheck, unchanged: { groups: reading.unchanged, stillStored: reading.previousIndexed ? () => true : (id) => ctx.cache.hasBlob(id) }, ...(groupSink ? { pageGroupSink: groupSink() } : {}), ...(captured ? { captured } : {}), ...(reading.scrub ? { scrub: reading.scrub } : {}) });
    } catch (err) {
      if (err instanceof ChangedWhileReading && attempt < READ_ATTEMPTS) {
        captured = undefined;
        await earlyScan?.release();
        earlyScan = undefined;
        st = await fs.lstat(absPath, { bigint: true });
        continue;
      }
      if (!fileUnreadable(err, absPath)) throw err;
      const why = err instanceof ChangedWhileReading ? `kept changing while it was read (${READ_ATTEMPTS} attempts)` : (err as Error).message;
      warn({ path: relPath, message: `not stored: ${why}` });
      return undefined;
    }
  }
}

/** The plaintext size of stored chunks, from the index; undefined when one is not indexed yet. */
function sizeOfChunks(ctx: RepoContext, chunks: readonly string[]): number | undefined {
  let size = 0;
  for (const id of chunks) {
    const where = ctx.cache.blob(id);
    if (!where) return undefined;
    size += where.rawLength;
  }
  return size;
}
