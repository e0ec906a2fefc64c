import * as fs from "node:fs";
import * as path from "node:path";
import { AbortedError, IntegrityError } from "../../errors.ts";
import { packKey } from "../../repo/layout.ts";
import { arenaBytes } from "../codec/codec-protocol.ts";
import { writePlaced, type Placement } from "../codec/placed-writes.ts";
import { mergeRanges, type Range } from "../ranges.ts";
import { verifyRestoredFile, VERIFY_BLOCK, type VerifyItem } from "../codec/verify-file.ts";
import type { RepoContext } from "../context.ts";
import type { FileEntry, ProgressSink } from "../types.ts";

interface PlannedBlob {
  id: string;
  offset: number;
  length: number;
  rawLength: number;
  places: Placement[];
}

/** Ranges fetched and opened ahead of the one being written. */
const FETCH_AHEAD = 2;
/** Smallest plaintext buffer per range: most ranges fit, so buffers are reused, not grown. */
const ARENA_BYTES = 12 * 1024 * 1024;
/** Smallest buffer a sealed range is read into (ranges are merged up to 4 MiB; a lone blob may be larger). */
const READ_BYTES = 8 * 1024 * 1024;
/** Ranges waiting on each codec worker thread to be decoded and written there. */
const WORKER_RANGES_EACH = 2;
/**
 * Delta plaintext read per round (their bases take at most as much again): small enough that the
 * worker's queue of ranges outlasts the decoding of one window here.
 */
const DELTA_WINDOW_BYTES = 1024 * 1024;

/**
 * Writes the given entries under `dir` (a fresh staging folder): folders, then file content read
 * pack by pack in offset order (few, large range requests), then links. Every file is read back
 * once its last piece is written, each chunk's keyed id recomputed from the bytes on disk, and
 * given its mode and time; folders get theirs last, deepest first.
 */
export async function materialize(ctx: RepoContext, entries: readonly FileEntry[], dir: string, opts: { progress?: ProgressSink; signal?: AbortSignal }): Promise<{ files: number; bytes: number }> {
  // File operations are synchronous: a state folder is thousands of small files, and a trip through
  // the thread pool per open, write, close, chmod and utimes cost seconds where the calls take a
  // few microseconds each (page-cache writes). Only pack reads are asynchronous, so the next
  // ranges arrive while these run. (In the gateway the engine is to run off the main thread,
  // invariant 7, so this blocks nothing there.)
  const absPaths = new Map(entries.map((e) => [e, path.join(dir, ...e.path.split("/"))]));
  const abs = (e: FileEntry) => absPaths.get(e)!;
  const dirs = entries.filter((e) => e.type === "dir");
  const files = entries.filter((e) => e.type === "file");
  for (const d of dirs) fs.mkdirSync(abs(d), { recursive: true, mode: 0o700 });
  // A file with content is created by its first write (one open and close fewer per file than
  // creating every file first: 0.35 s of a 6,400-file checkout); an empty one is created here.
  for (const f of files) if (!f.chunks?.length) fs.closeSync(fs.openSync(abs(f), "w", 0o600));

  // Full blobs by pack; deltas apart: they are read a window at a time with their bases.
  const plan = new Map<string, Map<string, PlannedBlob>>();
  const deltaPlan = new Map<string, PlannedBlob>();
  // What each file must hold, and how many pieces are still to be written into it: a file is
  // read back as soon as its last piece is out (on the codec's worker thread when it has one, so
  // the reading back overlaps the writing of the next ranges).
  const pending = new Map<string, { item: VerifyItem; piecesLeft: number }>();
  const verifier = new Verifier(ctx);
  ctx.cache.expectManyLookups(files.reduce((n, f) => n + (f.chunks?.length ?? 0), 0));
  for (const f of files) {
    const file = abs(f);
    const item: VerifyItem = { file, path: f.path, size: f.size, chunks: [], mode: f.mode, mtime: toSeconds(f.mtimeMs) };
    let position = 0;
    for (const id of f.chunks ?? []) {
      const loc = ctx.reader.locate(id);
      item.chunks.push({ id, rawLength: loc.rawLength });
      let blobs = loc.base ? deltaPlan : plan.get(loc.pack);
      if (!blobs) plan.set(loc.pack, (blobs = new Map()));
      let blob = blobs.get(id);
      if (!blob) blobs.set(id, (blob = { id, offset: loc.offset, length: loc.length, rawLength: loc.rawLength, places: [] }));
      blob.places.push(position + loc.rawLength === f.size ? { file, position, end: true } : { file, position });
      position += loc.rawLength;
    }
    if (position !== f.size) throw new IntegrityError(`listing entry ${f.path}`, `chunks add up to ${position} bytes, listing says ${f.size}`);
    if (item.chunks.length === 0) verifier.add(item);
    else pending.set(file, { item, piecesLeft: item.chunks.length });
  }

  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  let written = 0;
  const deltas = [...deltaPlan.values()];
  const ranges = [...plan].flatMap(([pack, blobs]) => [...mergeRanges([...blobs.values()].sort((a, b) => a.offset - b.offset))].map((range) => ({ pack, range })));
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
  const keepRead = (buf: Buffer) => {
    if (buf.byteLength >= READ_BYTES && spareReads.length <= FETCH_AHEAD) spareReads.push(buf);
  };
  const fetchRange = async ({ pack, range }: { pack: string; range: Range<PlannedBlob> }) => {
    const key = packKey(pack);
    const length = range.end - range.start;
    const into = spareOf(spareReads, length, READ_BYTES);
    const bytes = await ctx.backend.get(key, { offset: range.start, length, into });
    if (bytes.byteLength !== length) throw new IntegrityError(key, "short range read");
    const slices = range.blobs.map((b) => ({ id: b.id, offset: b.offset - range.start, length: b.length, rawLength: b.rawLength }));
    return { key, into, bytes, slices };
  };
  // Deltas are read and decoded with their bases (BlobReader), a window at a time, on this thread.
  const windows: PlannedBlob[][] = [];
  for (let i = 0; i < deltas.length; ) {
    let bytes = 0;
    const window: PlannedBlob[] = [];
    while (i < deltas.length && (window.length === 0 || bytes < DELTA_WINDOW_BYTES)) {
      window.push(deltas[i]!);
      bytes += deltas[i++]!.rawLength;
    }
    windows.push(window);
  }
  const readWindow = (window: PlannedBlob[]) => ctx.reader.readMany(window.map((b) => b.id), { checkId: false });

  // Ranges go to the codec's worker threads, which decode and write them there, while fewer than
  // WORKER_RANGES_EACH per thread wait; meanwhile this thread takes the delta windows, which only
  // it can decode, and once they are done the ranges the workers have no room for. So both cores
  // share the work whatever its mix (a worker also reads finished files back).
  const workerJobs = new Set<Promise<void>>();
  let workerFailure: { error: unknown } | undefined;
  const workerHasRoom = () => codec.writeRange !== undefined && workerJobs.size < WORKER_RANGES_EACH * codec.threads;
  // Reads run ahead of the decoding (bounded memory): a few ranges, one delta window.
  const rangesAhead: ReturnType<typeof fetchRange>[] = [];
  const windowsAhead: ReturnType<typeof readWindow>[] = [];
  let rangesFetched = 0;
  let windowsRead = 0;
  let rangesTaken = 0;
  let windowsTaken = 0;
  const early = <T>(job: Promise<T>) => {
    job.catch(() => {}); // awaited in order below; this only keeps an early failure from going unhandled
    return job;
  };
  try {
    while (rangesTaken < ranges.length || windowsTaken < windows.length) {
      if (opts.signal?.aborted) throw new AbortedError();
      if (workerFailure) throw workerFailure.error;
      while (rangesAhead.length < FETCH_AHEAD && rangesFetched < ranges.length) rangesAhead.push(early(fetchRange(ranges[rangesFetched++]!)));
      if (windowsAhead.length === 0 && windowsRead < windows.length) windowsAhead.push(early(readWindow(windows[windowsRead++]!)));

      const toWorker = rangesTaken < ranges.length && workerHasRoom();
      if (!toWorker && windowsTaken < windows.length) {
        const window = windows[windowsTaken++]!;
        writePlaced(window.map((b) => b.places), await windowsAhead.shift()!);
        wrote(window);
        continue;
      }
      const { range } = ranges[rangesTaken++]!;
      const { key, into, bytes, slices } = await rangesAhead.shift()!;
      const places = range.blobs.map((b) => b.places);
      if (toWorker) {
        const job: Promise<void> = codec.writeRange!(bytes, slices, places, key, bytes.buffer === into.buffer)
          .then(
            (back) => {
              keepRead(back);
              wrote(range.blobs);
            },
            (error: unknown) => void (workerFailure ??= { error }),
          )
          .finally(() => workerJobs.delete(job));
        workerJobs.add(job);
        continue;
      }
      const plains = await codec.decodeRange(bytes, slices, key, spareOf(spareArenas, arenaBytes(slices), ARENA_BYTES));
      if (into.byteLength > 0) keepRead(into); // else a decoding worker was handed it (it is detached here)
      writePlaced(places, plains);
      wrote(range.blobs);
      const arena = plains[0] && Buffer.from(plains[0].buffer);
      if (arena && spareArenas.length <= FETCH_AHEAD) spareArenas.push(arena);
    }
  } finally {
    // Whatever failed, no worker may still be writing when the caller removes the staging folder.
    await Promise.all(workerJobs);
  }
  if (workerFailure) throw workerFailure.error;

  /** Counts blobs as written to all their places; hands the files they completed to the verifier. */
  function wrote(blobs: readonly PlannedBlob[]): void {
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
