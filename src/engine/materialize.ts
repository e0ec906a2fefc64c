import * as fs from "node:fs/promises";
import * as path from "node:path";
import pLimit from "p-limit";
import { AbortedError, IntegrityError } from "../errors.ts";
import { chunkHasher } from "../crypto/keys.ts";
import { packKey } from "../repo/layout.ts";
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
  places: Placement[];
}

/** Ranges closer than this are fetched in one request, and no request exceeds MAX_RANGE. */
const MERGE_GAP = 256 * 1024;
const MAX_RANGE = 16 * 1024 * 1024;
/** Ranges fetched and opened ahead of the one being written. */
const FETCH_AHEAD = 2;
/** File operations (create, write, verify, set times) in flight at once. */
const FILE_CONCURRENCY = 16;
/** Block size for reading restored files back. */
const VERIFY_BLOCK = 1024 * 1024;

/**
 * Writes the given entries under `dir` (a fresh staging folder): folders, then file content read
 * pack by pack in offset order (few, large range requests), then links; then re-reads every file
 * and recomputes each chunk's keyed id from the bytes on disk; then sets modes and times (folders
 * last, deepest first).
 */
export async function materialize(ctx: RepoContext, entries: readonly FileEntry[], dir: string, opts: { progress?: ProgressSink; signal?: AbortSignal }): Promise<{ files: number; bytes: number }> {
  const abs = (p: string) => path.join(dir, ...p.split("/"));
  const dirs = entries.filter((e) => e.type === "dir");
  const files = entries.filter((e) => e.type === "file");
  for (const d of dirs) await fs.mkdir(abs(d.path), { recursive: true, mode: 0o700 });

  // Small files make restores syscall-bound: independent file operations run several at a time.
  const limit = pLimit(FILE_CONCURRENCY);
  await Promise.all(
    files.map((f) =>
      limit(async () => {
        const file = abs(f.path);
        await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
        const handle = await fs.open(file, "w", 0o600);
        try {
          if (f.size > 0) await handle.truncate(f.size);
        } finally {
          await handle.close();
        }
      }),
    ),
  );
  const plan = new Map<string, Map<string, PlannedBlob>>();
  for (const f of files) {
    const file = abs(f.path);
    let position = 0;
    for (const id of f.chunks ?? []) {
      const loc = ctx.reader.locate(id);
      let blobs = plan.get(loc.pack);
      if (!blobs) plan.set(loc.pack, (blobs = new Map()));
      let blob = blobs.get(id);
      if (!blob) blobs.set(id, (blob = { id, offset: loc.offset, length: loc.length, places: [] }));
      blob.places.push({ file, position });
      position += loc.rawLength;
    }
    if (position !== f.size) throw new IntegrityError(`listing entry ${f.path}`, `chunks add up to ${position} bytes, listing says ${f.size}`);
  }

  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  let written = 0;
  const ranges = [...plan].flatMap(([pack, blobs]) => [...mergeRanges([...blobs.values()].sort((a, b) => a.offset - b.offset))].map((range) => ({ pack, range })));
  const fetchAndOpen = async ({ pack, range }: { pack: string; range: Range }): Promise<Buffer[]> => {
    const key = packKey(pack);
    const bytes = await ctx.backend.get(key, { offset: range.start, length: range.end - range.start });
    if (bytes.byteLength !== range.end - range.start) throw new IntegrityError(key, "short range read");
    return ctx.codec().decodeRange(bytes, range.blobs.map((b) => ({ id: b.id, offset: b.offset - range.start, length: b.length })), key);
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
    // Group this range's pieces by file: each file is opened once per range, files in parallel.
    const byFile = new Map<string, { data: Buffer; position: number }[]>();
    range.blobs.forEach((blob, i) => {
      for (const place of blob.places) {
        const pieces = byFile.get(place.file) ?? [];
        pieces.push({ data: plains[i]!, position: place.position });
        byFile.set(place.file, pieces);
      }
    });
    await Promise.all(
      [...byFile].map(([file, pieces]) =>
        limit(async () => {
          const handle = await fs.open(file, "r+");
          try {
            // Pieces that follow each other in the file go out in one writev.
            pieces.sort((a, b) => a.position - b.position);
            for (let i = 0; i < pieces.length; ) {
              let end = pieces[i]!.position + pieces[i]!.data.byteLength;
              let j = i + 1;
              while (j < pieces.length && pieces[j]!.position === end && j - i < 1024) end += pieces[j++]!.data.byteLength;
              await handle.writev(pieces.slice(i, j).map((p) => p.data), pieces[i]!.position);
              i = j;
            }
          } finally {
            await handle.close();
          }
          written += pieces.reduce((n, p) => n + p.data.byteLength, 0);
        }),
      ),
    );
    opts.progress?.progress?.({ phase: "checkout", files: 0, totalFiles: files.length, bytes: written, totalBytes });
  }

  let verified = 0;
  await Promise.all(
    files.map((f) =>
      limit(async () => {
        if (opts.signal?.aborted) throw new AbortedError();
        await verifyFile(ctx, abs(f.path), f);
        verified++;
        opts.progress?.progress?.({ phase: "verify", files: verified, totalFiles: files.length, bytes: written, totalBytes });
      }),
    ),
  );

  await Promise.all(
    entries.map((e) =>
      limit(async () => {
        const at = toSeconds(e.mtimeMs);
        if (e.type === "symlink") {
          await fs.mkdir(path.dirname(abs(e.path)), { recursive: true, mode: 0o700 });
          await fs.symlink(e.target!, abs(e.path));
          await fs.lutimes(abs(e.path), at, at).catch(() => {});
        } else if (e.type === "file") {
          await fs.chmod(abs(e.path), e.mode);
          await fs.utimes(abs(e.path), at, at);
        }
      }),
    ),
  );
  for (const d of [...dirs].sort((a, b) => b.path.length - a.path.length)) {
    await fs.chmod(abs(d.path), d.mode);
    await fs.utimes(abs(d.path), toSeconds(d.mtimeMs), toSeconds(d.mtimeMs));
  }
  return { files: files.length, bytes: totalBytes };
}

/** Reads a restored file back, chunk by chunk as the listing cuts it, and checks every chunk id. */
async function verifyFile(ctx: RepoContext, file: string, entry: FileEntry): Promise<void> {
  const handle = await fs.open(file, "r");
  try {
    const { size } = await handle.stat();
    if (size !== entry.size) throw new IntegrityError(entry.path, `restored file has ${size} bytes, the snapshot says ${entry.size}`);
    // Read in large blocks and hash each chunk's span incrementally: one read per MiB, not one
    // per chunk (a database restores as thousands of 8 KiB chunks).
    const chunks = entry.chunks ?? [];
    const block = Buffer.allocUnsafe(Math.min(VERIFY_BLOCK, Math.max(1, size)));
    let next = 0;
    let remaining = chunks.length ? ctx.reader.locate(chunks[0]!).rawLength : 0;
    let hmac = chunks.length ? chunkHasher(ctx.keys) : undefined;
    let chunkStart = 0;
    for (let position = 0; position < size; ) {
      const { bytesRead } = await handle.read(block, 0, Math.min(block.byteLength, size - position), position);
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
    await handle.close();
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
