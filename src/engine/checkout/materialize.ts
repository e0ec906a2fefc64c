import * as fs from "node:fs";
import * as path from "node:path";
import { AbortedError, IntegrityError, ObjectNotFoundError } from "../../errors.ts";
import { packKey } from "../../repo/layout.ts";
import { arenaBytes } from "../codec/codec-protocol.ts";
import { writePlaced, type Placement } from "../codec/placed-writes.ts";
import { DeltaAssembler, type HeldBlob } from "./delta-assembler.ts";
import { gapWithin, MAX_RANGE, mergeRanges, type Range, type Span } from "../ranges.ts";
import { verifyRestoredFile, VERIFY_BLOCK, type VerifyItem } from "../codec/verify-file.ts";
import type { BlobLocation } from "../../index/cache.ts";
import { LocalBackend } from "../../storage/local.ts";
import type { RepoContext } from "../context.ts";
import type { FileEntry, ProgressSink } from "../types.ts";

interface PlannedBlob {
  id: string;
  offset: number;
  length: number;
  rawLength: number;
  places: Placement[];
  /** Set for a delta: the blob it is decoded against (DeltaAssembler). */
  base?: string;
  /** A delta, or the base of one: its sealed bytes go to the DeltaAssembler. */
  held?: true;
}

/** How many deltas deep a blob may lie (commits write depth 1); a cycle ends in an error. */
const MAX_DELTA_DEPTH = 4;
/**
 * Ranges fetched and opened ahead of the one being written, from a local folder. From a remote
 * store more are on their way, each a round trip, as long as together they hold at most
 * AHEAD_BYTES_REMOTE (8 ranges merged to MAX_RANGE; a late snapshot's deltas come in many small
 * ones). A new machine's checkout of the 500 MB bench state over S3 at 100 ms: after one day
 * 11.2-11.4 s with 2 ahead, 7.6 s now (peak RSS 308 against 320-342 MB); after 30 days 20.1 s
 * with 8 ahead, 11.1 s now (`bench/remote-daily.ts`).
 */
const FETCH_AHEAD = 2;
const FETCH_AHEAD_REMOTE = 32;
const AHEAD_BYTES_REMOTE = 32 * 1024 * 1024;
/** A range shorter than this is read into a buffer of its own size, not a reused READ_BYTES one. */
const SMALL_RANGE = 1024 * 1024;
/**
 * Most sealed bytes of deltas and bases held at once until their other half comes (DeltaAssembler);
 * past it, deltas are read again apart. On a 300 MB generated state at day 10, a checkout held at
 * most 9.7 MB.
 */
const MAX_HELD_BYTES = 32 * 1024 * 1024;
/**
 * Bytes read for nothing (gaps between needed blobs, bridged to save requests) as a share of the
 * bytes needed. On the thirtieth day of a 300 MB generated history: 1.10× the needed bytes in 596
 * requests, against 1.26× in 141 with every gap up to 256 KiB bridged (1.03× took 1,272).
 */
const GAP_BUDGET = 0.1;
/** Smallest plaintext buffer per range: most ranges fit, so buffers are reused, not grown. */
const ARENA_BYTES = 12 * 1024 * 1024;
/** Smallest buffer a sealed range is read into (ranges are merged up to 4 MiB; a lone blob may be larger). */
const READ_BYTES = 8 * 1024 * 1024;
/** Ranges waiting on each codec worker thread to be decoded and written there. */
const WORKER_RANGES_EACH = 2;
/**
 * Delta plaintext decoded per round (their bases take at most as much again): small enough that
 * the worker's queue of ranges outlasts the decoding of one window here.
 */
const DELTA_WINDOW_BYTES = 1024 * 1024;

/**
 * Writes the given entries under `dir` (a fresh staging folder): folders, then file content read
 * pack by pack in offset order (few, large range requests), then links. Every file is read back
 * once its last piece is written, each chunk's keyed id recomputed from the bytes on disk, and
 * given its mode and time; folders get theirs last, deepest first. `alreadyRead`: blobs the caller
 * has read (the listing's), whose bytes no range reads again; `maxHeldBytes`: the DeltaAssembler's
 * bound (MAX_HELD_BYTES unless a test asks for less).
 */
export async function materialize(ctx: RepoContext, entries: readonly FileEntry[], dir: string, opts: { progress?: ProgressSink; signal?: AbortSignal; alreadyRead?: readonly string[]; maxHeldBytes?: number }): Promise<{ files: number; bytes: number }> {
  // File operations are synchronous: a state folder is thousands of small files, and a trip through
  // the thread pool per open, write, close, chmod and utimes cost seconds where the calls take a
  // few microseconds each (page-cache writes). Only pack reads are asynchronous, so the next
  // ranges arrive while these run. (In the gateway the engine is to run off the main thread,
  // invariant 7, so this blocks nothing there.)
  const absPaths = new Map(entries.map((e) => [e, placeUnder(dir, e.path)]));
  const abs = (e: FileEntry) => absPaths.get(e)!;
  const dirs = entries.filter((e) => e.type === "dir");
  const files = entries.filter((e) => e.type === "file");
  // The worker (which reads files back, and decodes and writes ranges) starts while this thread
  // plans: a thread takes about a tenth of a second to start.
  ctx.codec().warm?.();
  for (const d of dirs) fs.mkdirSync(abs(d), { recursive: true, mode: 0o700 });
  // A file with content is created by its first write (one open and close fewer per file than
  // creating every file first: 0.35 s of a 6,400-file checkout); an empty one is created here.
  for (const f of files) if (!f.chunks?.length) fs.closeSync(fs.openSync(abs(f), "w", 0o600));

  const { ranges, held, pending, complete } = planReads(ctx, files, abs, opts.alreadyRead ?? []);
  const verifier = new Verifier(ctx);
  for (const item of complete) verifier.add(item);
  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  let written = 0;
  const assembler = new DeltaAssembler(ctx.keys, held, opts.maxHeldBytes ?? MAX_HELD_BYTES);
  const codec = ctx.codec();
  // Plaintext buffers of ranges already written, and buffers the sealed ranges were read into,
  // reused by the next ones: a fresh buffer per range cost a page fault per 4 KiB and, in
  // aggregate, full garbage collections (see decodeSlices).
  const spareArenas: Buffer[] = [];
  const spareReads: Buffer[] = [];
  const spareOf = (spares: Buffer[], needed: number, least: number): Buffer => {
    const at = spares.findIndex((b) => b.byteLength >= needed);
    return at >= 0 ? spares.splice(at, 1)[0]! : Buffer.allocUnsafeSlow(Math.max(needed, least));
  };
  const local = ctx.backend instanceof LocalBackend;
  const fetchAhead = local ? FETCH_AHEAD : FETCH_AHEAD_REMOTE;
  const aheadBytes = local ? Infinity : AHEAD_BYTES_REMOTE;
  // As many spare read buffers as large ranges can be on their way at once.
  const spareReadsKept = local ? FETCH_AHEAD : AHEAD_BYTES_REMOTE / MAX_RANGE;
  const keepRead = (buf: Buffer) => {
    if (buf.byteLength >= READ_BYTES && spareReads.length <= spareReadsKept) spareReads.push(buf);
  };
  const fetchRange = async ({ pack, range }: { pack: string; range: Range<PlannedBlob> }) => {
    const key = packKey(pack);
    const length = range.end - range.start;
    const into = length < SMALL_RANGE && !local ? Buffer.allocUnsafeSlow(length) : spareOf(spareReads, length, READ_BYTES);
    const bytes = await ctx.backend.get(key, { offset: range.start, length, into });
    if (bytes.byteLength !== length) throw new IntegrityError(key, "short range read");
    // Held blobs are copied out before the buffer may move to a worker thread.
    for (const b of range.blobs) if (b.held) assembler.take(b.id, bytes.subarray(b.offset - range.start, b.offset - range.start + b.length), key);
    // Full blobs with places are written with the range; deltas by the assembler.
    const writes = range.blobs.filter((b) => !b.base && b.places.length > 0);
    const slices = writes.map((b) => ({ id: b.id, offset: b.offset - range.start, length: b.length, rawLength: b.rawLength }));
    return { key, into, bytes, slices, writes };
  };

  // Deltas whose bases have come and ranges go to the codec's worker threads, which decode and
  // write them there, while fewer than WORKER_RANGES_EACH jobs per thread wait; this thread fetches
  // and does what the workers have no room for. So both cores share the work whatever its mix (a
  // worker also reads finished files back). Deltas were decoded here only, which left the worker
  // idle for 2.5 of the 8 s of a thirtieth-day checkout while this thread decoded 4,474 of them.
  const workerJobs = new Set<Promise<void>>();
  let workerFailure: { error: unknown } | undefined;
  const workerHasRoom = () => codec.writeRange !== undefined && workerJobs.size < WORKER_RANGES_EACH * codec.threads;
  // Reads run ahead of the decoding (bounded memory): a few ranges.
  const rangesAhead: { fetched: ReturnType<typeof fetchRange>; length: number }[] = [];
  let bytesAhead = 0;
  let rangesFetched = 0;
  let rangesTaken = 0;
  /** Counts a job sent to a worker until it settles; `blobs` are written once it has. */
  const toWorker = (sent: Promise<unknown>, blobs: readonly { rawLength: number; places: readonly Placement[] }[]) => {
    const job: Promise<void> = sent
      .then(
        () => wrote(blobs),
        (error: unknown) => void (workerFailure ??= { error }),
      )
      .finally(() => workerJobs.delete(job));
    workerJobs.add(job);
  };
  const early = <T>(job: Promise<T>) => {
    job.catch(() => {}); // awaited in order below; this only keeps an early failure from going unhandled
    return job;
  };
  try {
    while (rangesTaken < ranges.length || assembler.readyBytes > 0) {
      if (opts.signal?.aborted) throw new AbortedError();
      if (workerFailure) throw workerFailure.error;
      while (rangesFetched < ranges.length) {
        const next = ranges[rangesFetched]!;
        const length = next.range.end - next.range.start;
        if (rangesAhead.length > 0 && (rangesAhead.length >= fetchAhead || bytesAhead + length > aheadBytes)) break;
        rangesAhead.push({ fetched: early(fetchRange(next)), length });
        bytesAhead += length;
        rangesFetched++;
      }

      // Ready deltas go to a worker with room first (they hold memory until written), then
      // ranges; what the workers have no room for is done here, deltas first.
      if (assembler.readyBytes > 0 && codec.writeDeltas && workerHasRoom()) {
        const batch = assembler.nextSealed(DELTA_WINDOW_BYTES);
        toWorker(codec.writeDeltas(batch.bytes, batch.items, batch.targets, batch.blobs.map((b) => b.places)), batch.blobs);
        continue;
      }
      const rangeToWorker = rangesTaken < ranges.length && workerHasRoom();
      if (!rangeToWorker && assembler.readyBytes > 0) {
        const batch = assembler.next(DELTA_WINDOW_BYTES);
        writePlaced(batch.blobs.map((b) => b.places), batch.plains);
        wrote(batch.blobs);
        continue;
      }
      rangesTaken++;
      const ahead = rangesAhead.shift()!;
      bytesAhead -= ahead.length;
      const { key, into, bytes, slices, writes } = await ahead.fetched;
      if (slices.length === 0) {
        if (into.byteLength > 0) keepRead(into); // deltas and bases only: all taken by the assembler
        continue;
      }
      const places = writes.map((b) => b.places);
      if (rangeToWorker) {
        toWorker(codec.writeRange!(bytes, slices, places, key, bytes.buffer === into.buffer).then(keepRead), writes);
        continue;
      }
      const plains = await codec.decodeRange(bytes, slices, key, spareOf(spareArenas, arenaBytes(slices), ARENA_BYTES));
      if (into.byteLength > 0) keepRead(into); // else a decoding worker was handed it (it is detached here)
      writePlaced(places, plains);
      wrote(writes);
      const arena = plains[0] && Buffer.from(plains[0].buffer);
      // This thread decodes one range at a time: a few spare arenas serve, whatever the ranges ahead.
      if (arena && spareArenas.length <= FETCH_AHEAD) spareArenas.push(arena);
    }
  } finally {
    // Whatever failed, no worker may still be writing when the caller removes the staging folder.
    await Promise.all(workerJobs);
  }
  if (workerFailure) throw workerFailure.error;
  // Deltas left over when the assembler had no room: read apart with their bases, a window at a time.
  const left = assembler.leftovers();
  for (let i = 0; i < left.length; ) {
    if (opts.signal?.aborted) throw new AbortedError();
    const window: HeldBlob[] = [];
    for (let bytes = 0; i < left.length && (window.length === 0 || bytes < DELTA_WINDOW_BYTES); i++) {
      window.push(left[i]!);
      bytes += left[i]!.rawLength;
    }
    writePlaced(window.map((b) => b.places), await ctx.reader.readMany(window.map((b) => b.id), { checkId: false }));
    wrote(window);
  }
  if (assembler.waiting > 0) throw new IntegrityError("checkout", `${assembler.waiting} deltas were left without their bases`);

  /** Counts blobs as written to all their places; hands the files they completed to the verifier. */
  function wrote(blobs: readonly { rawLength: number; places: readonly Placement[] }[]): void {
    for (const blob of blobs) {
      for (const place of blob.places) {
        written += blob.rawLength;
        const waiting = pending.get(place.file)!;
        if (--waiting.piecesLeft === 0) verifier.add(waiting.item);
      }
    }
    verifier.send();
    opts.progress?.progress?.({ phase: "checkout", files: 0, totalFiles: files.length, bytes: written, totalBytes });
  }

  await verifier.done((verified) => opts.progress?.progress?.({ phase: "verify", files: verified, totalFiles: files.length, bytes: written, totalBytes }), opts.signal);

  // Files got their modes and times as they were read back.
  for (const e of entries) {
    if (e.type !== "symlink") continue;
    fs.mkdirSync(path.dirname(abs(e)), { recursive: true, mode: 0o700 });
    fs.symlinkSync(e.target!, abs(e));
    try {
      fs.lutimesSync(abs(e), toSeconds(e.mtimeMs), toSeconds(e.mtimeMs));
    } catch {
      // some file systems cannot time a link; its target and content are what matter
    }
  }
  for (const d of [...dirs].sort((a, b) => b.path.length - a.path.length)) {
    fs.chmodSync(abs(d), d.mode);
    fs.utimesSync(abs(d), toSeconds(d.mtimeMs), toSeconds(d.mtimeMs));
  }
  return { files: files.length, bytes: totalBytes };
}

/** A range of one pack to read, and whether it holds deltas (those are read first). */
interface PlannedRange {
  pack: string;
  range: Range<PlannedBlob>;
  deltas: boolean;
}

/** What a checkout reads, and what it must find in each file once written. */
interface ReadPlan {
  ranges: PlannedRange[];
  /** Deltas and the bases they are decoded against (DeltaAssembler). */
  held: PlannedBlob[];
  /** Per file with content: what it must hold, and how many pieces are still to be written into it. */
  pending: Map<string, { item: VerifyItem; piecesLeft: number }>;
  /** Files with nothing to write: read back at once. */
  complete: VerifyItem[];
}

/**
 * Plans the reads of a checkout: every blob by pack, deltas and their bases among them, so that
 * one set of ranges reads each needed byte once (reading deltas with their bases apart from the
 * ranges read some bytes twice). The index locations it is made from stay here: kept for the
 * whole checkout, they and their id strings were about 10 MB of its heap on the 1.5 GB bench
 * state, which every full collection walked again. `alreadyRead`: blobs the caller has read (the
 * listing's), whose bytes no range reads again.
 */
function planReads(ctx: RepoContext, files: readonly FileEntry[], abs: (e: FileEntry) => string, alreadyRead: readonly string[]): ReadPlan {
  const plan = new Map<string, Map<string, PlannedBlob>>();
  const locations = locateWithBases(ctx, files);
  const planned = (id: string): PlannedBlob => {
    const loc = locations.get(id);
    if (!loc) throw new ObjectNotFoundError(`blob ${id}`, "the repository index (no pack holds it)");
    let blobs = plan.get(loc.pack);
    if (!blobs) plan.set(loc.pack, (blobs = new Map()));
    let blob = blobs.get(id);
    if (!blob) blobs.set(id, (blob = { id, offset: loc.offset, length: loc.length, rawLength: loc.rawLength, places: [], ...(loc.base ? { base: loc.base } : {}) }));
    return blob;
  };
  // A file is read back as soon as its last piece is out (on the codec's worker thread when it
  // has one, so the reading back overlaps the writing of the next ranges).
  const pending = new Map<string, { item: VerifyItem; piecesLeft: number }>();
  const complete: VerifyItem[] = [];
  for (const f of files) {
    const file = abs(f);
    const chunks = f.chunks ?? [];
    // Arrays made at their size: one grown by push from empty holds room for 17 elements, and
    // most blobs have one place and most files a few chunks.
    const item: VerifyItem = { file, path: f.path, size: f.size, chunks, lengths: new Array<number>(chunks.length), mode: f.mode, mtime: toSeconds(f.mtimeMs) };
    let position = 0;
    for (const [i, id] of chunks.entries()) {
      const blob = planned(id);
      item.lengths[i] = blob.rawLength;
      const place: Placement = position + blob.rawLength === f.size ? { file, position, end: true } : { file, position };
      if (blob.places.length === 0) blob.places = [place];
      else blob.places.push(place);
      position += blob.rawLength;
      // A delta and its chain of bases are held for the assembler.
      for (let cur = blob, depth = 0; cur.base && !cur.held; cur = planned(cur.base), depth++) {
        if (depth >= MAX_DELTA_DEPTH) throw new IntegrityError(`blob ${id}`, `deltas are chained more than ${MAX_DELTA_DEPTH} deep`);
        cur.held = true;
        planned(cur.base).held = true;
      }
    }
    if (position !== f.size) throw new IntegrityError(`listing entry ${f.path}`, `chunks add up to ${position} bytes, listing says ${f.size}`);
    if (chunks.length === 0) complete.push(item);
    else pending.set(file, { item, piecesLeft: chunks.length });
  }

  // Blobs read before: no range spans them again.
  const read = new Map<string, Span[]>();
  for (const id of alreadyRead) {
    const loc = ctx.reader.locate(id);
    read.set(loc.pack, [...(read.get(loc.pack) ?? []), { offset: loc.offset, length: loc.length }]);
  }
  // Ranges holding deltas first: a delta is held (sealed, small) until its base's range comes,
  // which is less than holding bases (whole page groups) until their deltas come.
  const sorted = [...plan].map(([pack, blobs]) => [pack, [...blobs.values()].sort((a, b) => a.offset - b.offset)] as const);
  const gap = gapWithin(sorted.map(([, blobs]) => blobs), GAP_BUDGET);
  const ranges = sorted
    .flatMap(([pack, blobs]) => [...mergeRanges(blobs, gap, read.get(pack))].map((range) => ({ pack, range, deltas: range.blobs.some((b) => b.base) })))
    .sort((a, b) => Number(b.deltas) - Number(a.deltas));
  const held = sorted.flatMap(([, blobs]) => blobs.filter((b) => b.held));
  return { ranges, held, pending, complete };
}

/**
 * Where a listing path goes under `dir`, as one flat string: path.join's result is a tree of
 * pieces in V8's heap (about ten per path, kept as long as the path is), 8 MB of a checkout's heap
 * for the 19,000 paths of the 1.5 GB bench state. Listing paths are checked relative paths
 * (assertSafeEntry) with "/" between their names.
 */
function placeUnder(dir: string, relPath: string): string {
  const joined = `${dir}${path.sep}${path.sep === "/" ? relPath : relPath.replaceAll("/", path.sep)}`;
  // Reading a character flattens a concatenated string in place.
  joined.charCodeAt(0);
  return joined;
}

/**
 * The index locations of every chunk of `files` and of the bases their deltas need, down to
 * MAX_DELTA_DEPTH (deeper chains are refused when the plan is made): one query per level rather
 * than the whole index in memory. Ids the index lacks are left out (the plan names them).
 */
function locateWithBases(ctx: RepoContext, files: readonly FileEntry[]): Map<string, BlobLocation> {
  const found = ctx.cache.blobsAmong(files.flatMap((f) => f.chunks ?? []));
  let level = [...found.values()];
  for (let depth = 0; depth <= MAX_DELTA_DEPTH && level.length > 0; depth++) {
    const bases = level.flatMap((l) => (l.base !== undefined && !found.has(l.base) ? [l.base] : []));
    const more = ctx.cache.blobsAmong(bases);
    for (const [id, loc] of more) found.set(id, loc);
    level = [...more.values()];
  }
  return found;
}

/**
 * Reads restored files back as they are completed: in batches on the codec's worker thread when
 * it has one, else on this thread once everything is written.
 */
class Verifier {
  private readonly ctx: RepoContext;
  private batch: VerifyItem[] = [];
  private readonly later: VerifyItem[] = [];
  private readonly sent: Promise<void>[] = [];
  private verified = 0;

  constructor(ctx: RepoContext) {
    this.ctx = ctx;
  }

  add(item: VerifyItem): void {
    if (this.ctx.codec().verifyFiles) this.batch.push(item);
    else this.later.push(item);
  }

  /** Hands the files completed so far to the worker, one message for the lot. */
  send(): void {
    const verifyFiles = this.ctx.codec().verifyFiles;
    if (!verifyFiles || this.batch.length === 0) return;
    const items = this.batch;
    this.batch = [];
    const job = verifyFiles(items).then(() => void (this.verified += items.length));
    job.catch(() => {}); // awaited in done()
    this.sent.push(job);
  }

  async done(progress: (verified: number) => void, signal: AbortSignal | undefined): Promise<void> {
    this.send();
    await Promise.all(this.sent);
    const block = Buffer.allocUnsafe(VERIFY_BLOCK);
    for (const item of this.later) {
      if (signal?.aborted) throw new AbortedError();
      verifyRestoredFile(this.ctx.keys, item, block);
      if (++this.verified % 256 === 0) {
        progress(this.verified);
        await new Promise((resolve) => setImmediate(resolve)); // let timers (the progress line) run
      }
    }
    progress(this.verified);
  }
}

/**
 * Seconds for utimes. Listing times have microsecond precision; half a microsecond is added so
 * the float-to-nanosecond truncation inside utimes cannot land one microsecond early.
 */
function toSeconds(ms: number): number {
  return (Math.round(ms * 1000) + 0.5) / 1e6;
}
