import * as fs from "node:fs";
import * as path from "node:path";
import { AbortedError, IntegrityError } from "../errors.ts";
import { chunkHasher } from "../crypto/keys.ts";
import { packKey } from "../repo/layout.ts";
import { arenaBytes } from "./codec-protocol.ts";
import type { RepoContext } from "./context.ts";
import type { FileEntry, ProgressSink } from "./types.ts";

/** Where one blob's bytes go: a file and an offset in it (a blob may serve many places). */
interface Placement {
  file: string;
  position: number;
}

interface PlannedBlob {
  id: string;
  offset: number;
  length: number;
  rawLength: number;
  places: Placement[];
}

/** Ranges closer than this are fetched in one request, and no request exceeds MAX_RANGE. */
const MERGE_GAP = 256 * 1024;
const MAX_RANGE = 8 * 1024 * 1024;
/** Ranges fetched and opened ahead of the one being written. */
const FETCH_AHEAD = 2;
/** Smallest plaintext buffer per range: most ranges fit, so buffers are reused, not grown. */
const ARENA_BYTES = 24 * 1024 * 1024;
/** Block size for reading restored files back. */
const VERIFY_BLOCK = 1024 * 1024;

/**
 * Writes the given entries under `dir` (a fresh staging folder): folders, then file content read
 * pack by pack in offset order (few, large range requests), then links; then re-reads every file
 * and recomputes each chunk's keyed id from the bytes on disk; then sets modes and times (folders
 * last, deepest first).
 */
export async function materialize(ctx: RepoContext, entries: readonly FileEntry[], dir: string, opts: { progress?: ProgressSink; signal?: AbortSignal }): Promise<{ files: number; bytes: number }> {
  // File operations are synchronous: a state folder is thousands of small files, and a trip through
  // the thread pool per open, write, close, chmod and utimes cost seconds where the calls take a
  // few microseconds each (page-cache writes). Only pack reads are asynchronous, so the next
  // ranges arrive while these run. (In the gateway the engine runs off the main thread.)
  const absPaths = new Map(entries.map((e) => [e, path.join(dir, ...e.path.split("/"))]));
  const abs = (e: FileEntry) => absPaths.get(e)!;
  const dirs = entries.filter((e) => e.type === "dir");
  const files = entries.filter((e) => e.type === "file");
  for (const d of dirs) fs.mkdirSync(abs(d), { recursive: true, mode: 0o700 });
  for (const f of files) {
    const fd = fs.openSync(abs(f), "w", 0o600);
    try {
      if (f.size > 0) fs.ftruncateSync(fd, f.size);
    } finally {
      fs.closeSync(fd);
    }
  }

  const plan = new Map<string, Map<string, PlannedBlob>>();
  for (const f of files) {
    const file = abs(f);
    let position = 0;
    for (const id of f.chunks ?? []) {
      const loc = ctx.reader.locate(id);
      let blobs = plan.get(loc.pack);
      if (!blobs) plan.set(loc.pack, (blobs = new Map()));
      let blob = blobs.get(id);
      if (!blob) blobs.set(id, (blob = { id, offset: loc.offset, length: loc.length, rawLength: loc.rawLength, places: [] }));
      blob.places.push({ file, position });
      position += loc.rawLength;
    }
    if (position !== f.size) throw new IntegrityError(`listing entry ${f.path}`, `chunks add up to ${position} bytes, listing says ${f.size}`);
  }

  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  let written = 0;
  const ranges = [...plan].flatMap(([pack, blobs]) => [...mergeRanges([...blobs.values()].sort((a, b) => a.offset - b.offset))].map((range) => ({ pack, range })));
  // Plaintext buffers of ranges already written, reused by the next ones (see decodeSlices).
  const spareArenas: Buffer[] = [];
  const fetchAndOpen = async ({ pack, range }: { pack: string; range: Range }): Promise<Buffer[]> => {
    const key = packKey(pack);
    const bytes = await ctx.backend.get(key, { offset: range.start, length: range.end - range.start });
    if (bytes.byteLength !== range.end - range.start) throw new IntegrityError(key, "short range read");
    const slices = range.blobs.map((b) => ({ id: b.id, offset: b.offset - range.start, length: b.length, rawLength: b.rawLength }));
    const needed = arenaBytes(slices);
    const spare = spareArenas.findIndex((a) => a.byteLength >= needed);
    const arena = spare >= 0 ? spareArenas.splice(spare, 1)[0]! : Buffer.allocUnsafeSlow(Math.max(needed, ARENA_BYTES));
    return ctx.codec().decodeRange(bytes, slices, key, arena);
  };
  // Fetch and open a few ranges ahead while the current one is written (bounded memory).
  const ahead: Promise<Buffer[]>[] = [];
  let next = 0;
  for (const { range } of ranges) {
    if (opts.signal?.aborted) throw new AbortedError();
    while (ahead.length < FETCH_AHEAD && next < ranges.length) {
      const job = fetchAndOpen(ranges[next++]!);
      job.catch(() => {}); // awaited below, in order; this only keeps an early failure from going unhandled
      ahead.push(job);
    }
    const plains = await ahead.shift()!;
    const arena = plains[0] && Buffer.from(plains[0].buffer);
    // Group this range's pieces by file: each file is opened once per range.
    const byFile = new Map<string, { data: Buffer; position: number }[]>();
    range.blobs.forEach((blob, i) => {
      for (const place of blob.places) {
        const pieces = byFile.get(place.file) ?? [];
        pieces.push({ data: plains[i]!, position: place.position });
        byFile.set(place.file, pieces);
      }
    });
    for (const [file, pieces] of byFile) {
      const fd = fs.openSync(file, "r+");
      try {
        // Pieces that follow each other in the file go out in one writev.
        pieces.sort((a, b) => a.position - b.position);
        for (let i = 0; i < pieces.length; ) {
          let end = pieces[i]!.position + pieces[i]!.data.byteLength;
          let j = i + 1;
          while (j < pieces.length && pieces[j]!.position === end && j - i < 1024) end += pieces[j++]!.data.byteLength;
          writeAll(fd, pieces.slice(i, j).map((p) => p.data), pieces[i]!.position);
          i = j;
        }
      } finally {
        fs.closeSync(fd);
      }
      written += pieces.reduce((n, p) => n + p.data.byteLength, 0);
    }
    if (arena && spareArenas.length <= FETCH_AHEAD) spareArenas.push(arena);
    opts.progress?.progress?.({ phase: "checkout", files: 0, totalFiles: files.length, bytes: written, totalBytes });
  }

  const block = Buffer.allocUnsafe(VERIFY_BLOCK);
  let verified = 0;
  for (const f of files) {
    if (opts.signal?.aborted) throw new AbortedError();
    verifyFile(ctx, abs(f), f, block);
    if (++verified % 256 === 0 || verified === files.length) {
      opts.progress?.progress?.({ phase: "verify", files: verified, totalFiles: files.length, bytes: written, totalBytes });
      await new Promise((resolve) => setImmediate(resolve)); // let timers (the progress line) run
    }
  }

  for (const e of entries) {
    const at = toSeconds(e.mtimeMs);
    if (e.type === "symlink") {
      fs.mkdirSync(path.dirname(abs(e)), { recursive: true, mode: 0o700 });
      fs.symlinkSync(e.target!, abs(e));
      try {
        fs.lutimesSync(abs(e), at, at);
      } catch {
        // some file systems cannot time a link; its target and content are what matter
      }
    } else if (e.type === "file") {
      fs.chmodSync(abs(e), e.mode);
      fs.utimesSync(abs(e), at, at);
    }
  }
  for (const d of [...dirs].sort((a, b) => b.path.length - a.path.length)) {
    fs.chmodSync(abs(d), d.mode);
    fs.utimesSync(abs(d), toSeconds(d.mtimeMs), toSeconds(d.mtimeMs));
  }
  return { files: files.length, bytes: totalBytes };
}

/** writev until every byte is out (a short write continues where it stopped). */
function writeAll(fd: number, buffers: Buffer[], position: number): void {
  let pending = buffers;
  let at = position;
  while (pending.length > 0) {
    let n = fs.writevSync(fd, pending, at);
    at += n;
    while (pending.length > 0 && n >= pending[0]!.byteLength) n -= pending.shift()!.byteLength;
    if (n > 0) pending[0] = pending[0]!.subarray(n);
  }
}

/** Reads a restored file back, chunk by chunk as the listing cuts it, and checks every chunk id. */
function verifyFile(ctx: RepoContext, file: string, entry: FileEntry, block: Buffer): void {
  const fd = fs.openSync(file, "r");
  try {
    const { size } = fs.fstatSync(fd);
    if (size !== entry.size) throw new IntegrityError(entry.path, `restored file has ${size} bytes, the snapshot says ${entry.size}`);
    // Read in large blocks and hash each chunk's span incrementally: one read per MiB, not one
    // per chunk (a database restores as thousands of 8 KiB chunks).
    const chunks = entry.chunks ?? [];
    let next = 0;
    let remaining = chunks.length ? ctx.reader.locate(chunks[0]!).rawLength : 0;
    let hmac = chunks.length ? chunkHasher(ctx.keys) : undefined;
    let chunkStart = 0;
    for (let position = 0; position < size; ) {
      const bytesRead = fs.readSync(fd, block, 0, Math.min(block.byteLength, size - position), position);
      if (bytesRead === 0) throw new IntegrityError(entry.path, `restored file ends early at ${position}`);
      let at = 0;
      while (at < bytesRead) {
        const take = Math.min(remaining, bytesRead - at);
        hmac!.update(block.subarray(at, at + take));
        at += take;
        remaining -= take;
        if (remaining === 0) {
          if (hmac!.digest("hex") !== chunks[next]) throw new IntegrityError(entry.path, `restored bytes at offset ${chunkStart} do not match the snapshot`);
          chunkStart += ctx.reader.locate(chunks[next]!).rawLength;
          next++;
          if (next < chunks.length) {
            remaining = ctx.reader.locate(chunks[next]!).rawLength;
            hmac = chunkHasher(ctx.keys);
          }
        }
      }
      position += bytesRead;
    }
    if (next !== chunks.length) throw new IntegrityError(entry.path, "restored file is shorter than its chunks");
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Seconds for utimes. Listing times have microsecond precision; half a microsecond is added so
 * the float-to-nanosecond truncation inside utimes cannot land one microsecond early.
 */
function toSeconds(ms: number): number {
  return (Math.round(ms * 1000) + 0.5) / 1e6;
}

interface Range {
  start: number;
  end: number;
  blobs: PlannedBlob[];
}

function* mergeRanges(sorted: PlannedBlob[]): Generator<Range> {
  let current: Range | undefined;
  for (const b of sorted) {
    const end = b.offset + b.length;
    if (current && b.offset - current.end <= MERGE_GAP && end - current.start <= MAX_RANGE) {
      current.end = Math.max(current.end, end);
      current.blobs.push(b);
    } else {
      if (current) yield current;
      current = { start: b.offset, end, blobs: [b] };
    }
  }
  if (current) yield current;
}
