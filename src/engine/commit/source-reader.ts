import { createReadStream, lstatSync } from "node:fs";
import * as fs from "node:fs/promises";
import type { EntryStat } from "./walk.ts";
import { sameStat, statKey } from "./stat-key.ts";
import * as path from "node:path";
import { chunkId, type RepoKeys } from "../../crypto/keys.ts";
import type { Chunker } from "../../chunker/index.ts";
import type { FileStat } from "../../index/cache.ts";
import { ClawbackError, IntegrityError, LockedError, ObjectNotFoundError, PathError, ScratchFullError, ScrubError } from "../../errors.ts";
import { pageGroups, readSqliteHeader, type CapturedDatabase } from "../sqlite/sqlite-capture.ts";
import type { ScratchDir } from "../sqlite/scratch-dir.ts";
import type { CheckOutcome } from "../sqlite/check-schedule.ts";
import type { GroupHashWorker, UnchangedGroups } from "../sqlite/unchanged-groups.ts";
import type { WholeFileReader } from "./whole-read.ts";
import { captureForStore, type FileScrub } from "./scrub.ts";
import { openWalCapture, type WalCapture } from "../sqlite/wal-capture.ts";
import type { PageSource } from "../sqlite/page-reader.ts";

export interface ReadContent {
  chunks: string[];
  size: number;
  sqlite: boolean;
  /** A database's quick_check, when it ran (see `quickCheck`). */
  check?: CheckOutcome;
  /** How a database was read: through its WAL in place with no copy, or from a private copy. */
  capture?: "wal" | "copy";
}

/** A database read opened ahead of its turn, with a worker that has its ranges' hashes on their way (see ScanAhead). */
export interface EarlyRead {
  capture: WalCapture;
  worker: GroupHashWorker;
  release(): Promise<void>;
}

/** A database's pages, captured one way or the other; `release` ends the read either way. */
interface CapturedPages {
  capture: "wal" | "copy";
  groups(groupPages: number): AsyncIterable<Uint8Array>;
  /** The same pages by position, where they can be read so (see UnchangedGroups.scan). */
  source?: PageSource;
  /** The quick_check of what is read, when one was asked for. */
  check?: () => Promise<void>;
  release(): Promise<void>;
}

/**
 * Reads a database through its WAL in place when nothing needs a private copy of it (no scrub edits
 * it, no quick_check is due, none was captured ahead) and the database allows it (see
 * wal-capture.ts); otherwise from a private copy (captureSqlite: written from that same read where
 * it can be, else made by SQLite's backup API).
 */
async function openPages(absPath: string, opts: { scratch: ScratchDir; captured?: Promise<CapturedDatabase>; early?: EarlyRead; scrub?: FileScrub; quickCheck?: boolean }): Promise<CapturedPages> {
  if (opts.early) {
    const { capture } = opts.early;
    return { capture: "wal", groups: (n) => capture.groups(n), source: capture.source, release: () => opts.early!.release() };
  }
  if (!opts.captured && !opts.scrub?.database && !opts.quickCheck) {
    const wal = await openWalCapture(absPath);
    if ("capture" in wal) return { capture: "wal", groups: (n) => wal.capture.groups(n), source: wal.capture.source, release: () => wal.capture.release() };
  }
  const copy = await (opts.captured ?? captureForStore(absPath, opts.scratch, opts.scrub?.database));
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(copy.file, "r");
    const { size } = await handle.stat();
    // A copy is whole pages; anything else is streamed as it is, as before.
    const source = size % copy.pageSize === 0 ? { fd: handle.fd, pageSize: copy.pageSize, pages: size / copy.pageSize, overlay: new Map(), where: absPath } : undefined;
    const opened = handle;
    return {
      capture: "copy",
      groups: (n) => pageGroups(copy.file, copy.pageSize, n),
      ...(source ? { source } : {}),
      ...(opts.quickCheck ? { check: () => copy.check() } : {}),
      release: async () => {
        await opened.close();
        await fs.rm(copy.file, { force: true });
      },
    };
  } catch (err) {
    await handle?.close();
    await fs.rm(copy.file, { force: true });
    throw err;
  }
}

/**
 * Called for each chunk of content; returns the chunk's id (after storing it, or not). The chunk
 * is a view of a reused buffer: the sink must be done with it (hashed, encoded or copied) by the
 * time its promise settles.
 */
export type ChunkSink = (data: Uint8Array) => Promise<string>;

/** The file changed while it was being read. */
export class ChangedWhileReading extends Error {}

/**
 * True when `err`, thrown by readContent for the file at `absPath`, leaves only that file out:
 * it vanished, cannot be read, kept changing, is a damaged or locked database, or a repository
 * object its deltas need is damaged or missing (the rest can still be stored; `check` names the
 * object). The commit stores the rest and reports the file. Anything else (storage requests
 * failing, the scratch folder full or unwritable, cancellation, a bug) would be the same for
 * every file after it: it fails the commit, rather than list a snapshot that silently lacks files.
 */
export function fileUnreadable(err: unknown, absPath: string): boolean {
  if (err instanceof ChangedWhileReading || err instanceof LockedError) return true;
  if (err instanceof IntegrityError || err instanceof ObjectNotFoundError) return true;
  if (err instanceof ScratchFullError) return false;
  if (err instanceof PathError) return err.path === absPath;
  if (err instanceof ClawbackError) return false;
  // A system call on the file (open, read, stat) failed: ENOENT, EACCES, ELOOP, EIO...
  const sys = err as { syscall?: unknown; path?: unknown } | undefined;
  return typeof sys?.syscall === "string" && (sys.path === undefined || sys.path === absPath);
}

/** The smallest SQLite database is one 512-byte page; anything shorter is not worth opening. */
const MIN_DATABASE_BYTES = 512;

const SQLITE_MAGIC = Buffer.from("SQLite format 3\0", "latin1");

/** Files up to this size are read in one call into a buffer of their size (most of a state folder). */
export const WHOLE_READ_BYTES = 4 * 1024 * 1024;

/**
 * Reads one file into chunks. A database is captured (see openPages) and cut at page-group
 * boundaries; anything else goes through FastCDC: a small file read whole (`whole`, whose
 * buffer is reused for the next file), a large one streamed. A plain file whose stat changes during the
 * read throws ChangedWhileReading so the caller can try again.
 */
export async function readContent(
  absPath: string,
  before: EntryStat,
  opts: {
    keys: RepoKeys;
    chunker: Chunker;
    groupPages: number;
    /** Where a database is copied to. */
    scratch: ScratchDir;
    sink: ChunkSink;
    /** Takes a database's page groups, in file order, instead of `sink` (see DeltaSink). */
    pageGroupSink?: { add: ChunkSink; skip(): void; flush(): Promise<void> };
    /** Recognises a database's unchanged page groups by a fast hash; `stillStored` says whether an id is in the repository. */
    unchanged?: { groups: UnchangedGroups; stillStored(id: string): boolean };
    whole: WholeFileReader;
    /** Called once the file is known to be a database, before it is captured. */
    beforeCapture?: () => Promise<void>;
    /** The database's capture, already started (see CaptureAhead), scrubbed when `scrub` says so. */
    captured?: Promise<CapturedDatabase>;
    /** What is stored of this file instead of its content (see CommitScrub). */
    scrub?: FileScrub;
    /** Run quick_check on a database's copy while it is stored (see check-schedule.ts). */
    quickCheck?: boolean;
    /** Reads and hashes a database's groups on another thread: see UnchangedGroups.scan. */
    groupHasher?: GroupHashWorker;
    /** The database's read, opened and hashed ahead of its turn (ScanAhead): used instead of a capture of its own. */
    early?: EarlyRead;
  },
): Promise<ReadContent> {
  const size = Number(before.size);
  const ahead = opts.captured !== undefined || opts.early !== undefined;
  const whole = size <= WHOLE_READ_BYTES && !ahead ? opts.whole.read(absPath, size) : undefined;
  const database = ahead || (size >= MIN_DATABASE_BYTES && (whole ? whole.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC) : (await readSqliteHeader(absPath)) !== undefined));
  if (database) {
    if (!ahead) await opts.beforeCapture?.();
    const pages = await openPages(absPath, opts);
    try {
      // A damaged database is stored as it is found, and reported: the commit warns, and the
      // snapshot record says so, so that retention keeps the last snapshot whose databases passed.
      const checking = pages.check?.().then((): CheckOutcome => ({ passed: true }), (err: unknown): CheckOutcome => ({ passed: false, problem: (err as Error).message }));
      const groups = opts.pageGroupSink;
      const add = groups ? groups.add : opts.sink;
      const skipped = () => groups?.skip();
      const unchanged = opts.unchanged;
      // With a last version's hashes to compare against, the groups are read and hashed on the
      // codec worker and only the changed ones here; without, every group is new and read here.
      const hasher = opts.early?.worker ?? opts.groupHasher;
      const content: ReadContent =
        unchanged?.groups.hasPrevious && hasher && pages.source
          ? { ...(await unchanged.groups.scan(pages.source, opts.groupPages, hasher, add, unchanged.stillStored, skipped)), sqlite: true }
          : await consume(pages.groups(opts.groupPages), { sink: unchanged ? unchanged.groups.sink(add, unchanged.stillStored, skipped) : add }, true);
      await groups?.flush();
      const check = await checking;
      return { ...content, capture: pages.capture, ...(check ? { check } : {}) };
    } finally {
      await pages.release();
    }
  }
  if (opts.scrub?.rewrite) return readRewritten(absPath, before, whole, opts.scrub.rewrite, opts);
  const source = whole ? [whole] : stream(absPath);
  const content = await consume(opts.chunker.chunkViews(source), opts, false);
  // Synchronous: a stat is microseconds, a round trip through the thread pool per file is not.
  const after = lstatSync(absPath, { bigint: true });
  if (!sameStat(statKey(before), statKey(after)) || content.size !== Number(after.size)) {
    throw new ChangedWhileReading(`${path.basename(absPath)} changed while it was read`);
  }
  // A write moves mtime when it starts, not when it ends, so a write still in progress is
  // invisible to the stat check. A file written to in the last few seconds is read a second
  // time (hashing only) and kept only if both reads agree.
  if (changedLately(after.mtimeNs, after.ctimeNs, Date.now())) {
    const again = await consume(opts.chunker.chunkViews(stream(absPath)), { sink: async (piece) => chunkId(opts.keys, piece) }, false);
    const last = await fs.lstat(absPath, { bigint: true });
    if (!sameStat(statKey(after), statKey(last)) || again.chunks.length !== content.chunks.length || again.chunks.some((id, i) => id !== content.chunks[i])) {
      throw new ChangedWhileReading(`${path.basename(absPath)} changed while it was read`);
    }
  }
  return content;
}

/**
 * A file whose stored content is rewritten (see CommitScrub.file): read whole, checked unchanged
 * (and, when written to in the last few seconds, read again and compared), then rewritten and
 * chunked. The content stored, and the size listed, are the rewritten ones.
 */
async function readRewritten(absPath: string, before: EntryStat, whole: Uint8Array | undefined, rewrite: (content: Buffer) => Uint8Array | undefined, opts: { chunker: Chunker; sink: ChunkSink }): Promise<ReadContent> {
  // A copy: `whole` is a reused buffer, and the rewrite may keep what it is given.
  const content = whole ? Buffer.from(whole) : await fs.readFile(absPath);
  const after = lstatSync(absPath, { bigint: true });
  if (!sameStat(statKey(before), statKey(after)) || content.byteLength !== Number(after.size)) {
    throw new ChangedWhileReading(`${path.basename(absPath)} changed while it was read`);
  }
  if (changedLately(after.mtimeNs, after.ctimeNs, Date.now())) {
    const again = await fs.readFile(absPath);
    const last = await fs.lstat(absPath, { bigint: true });
    if (!sameStat(statKey(after), statKey(last)) || !again.equals(content)) throw new ChangedWhileReading(`${path.basename(absPath)} changed while it was read`);
  }
  let stored: Uint8Array;
  try {
    stored = rewrite(content) ?? content;
  } catch (err) {
    throw new ScrubError(absPath, err instanceof Error ? err.message : String(err), { cause: err });
  }
  return consume(opts.chunker.chunkViews([stored]), opts, false);
}

/** Files modified this recently are read twice (see readContent), and their stat-cache rows are not trusted (see isRacy). */
const HOT_MS = 3000;

/** What a stat-cache row of a racy file holds for its ctime: no stat has it, so the row never matches. */
const UNTRUSTED_CTIME = "racy";

/**
 * True when a file with these times may have been written in the HOT_MS before `nowMs`, or may
 * still be: its mtime is that recent. A write sets the mtime to the clock's time, so a file whose
 * mtime lies further ahead of the clock (set by a tool: an archive's dates, a generator's simulated
 * days) cannot get the same mtime back from a later write; for such a file the change time, which
 * nothing sets but the clock, decides instead. Without that rule every file dated ahead was read
 * again by every commit (3,447 of the 1.5 GB bench state's 19,300 files: a no-change commit took
 * 9 s).
 */
function changedLately(mtimeNs: bigint, ctimeNs: bigint, nowMs: number): boolean {
  const from = BigInt(nowMs - HOT_MS) * 1_000_000n;
  const until = BigInt(nowMs + HOT_MS) * 1_000_000n;
  return mtimeNs > until ? ctimeNs >= from : mtimeNs >= from;
}

/**
 * A racy file (git's term) was modified so shortly before it was statted, at `statMs`, that a
 * later write could fall in the same timestamp tick (a few milliseconds on ext4, two seconds on
 * FAT) and leave its size, mtime, ctime and inode exactly as recorded: its stat-cache row must not
 * vouch for it next time (see changedLately). For a database this looks at its -wal's mtime as well.
 */
export function isRacy(key: FileStat, statMs: number): boolean {
  const [main = "0", wal] = key.mtimeNs.split("+");
  // The ctime of a key may carry a scrub's tag after its digits (withScrubTag).
  const ctime = BigInt(/^\d+/.exec(key.ctimeNs)?.[0] ?? "0");
  const from = BigInt(statMs - HOT_MS) * 1_000_000n;
  return changedLately(BigInt(main), ctime, statMs) || (wal !== undefined && BigInt(wal.split(":")[0] ?? "0") >= from);
}

/** The key a racy file's stat-cache row is written with: it matches no stat, so the file is read again. */
export function untrusted(key: FileStat): FileStat {
  return { ...key, ctimeNs: UNTRUSTED_CTIME };
}

function stream(absPath: string): AsyncIterable<Uint8Array> {
  return createReadStream(absPath, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Uint8Array>;
}

async function consume(pieces: AsyncIterable<Uint8Array>, opts: { sink: ChunkSink }, sqlite: boolean): Promise<ReadContent> {
  const chunks: string[] = [];
  let size = 0;
  for await (const piece of pieces) {
    size += piece.byteLength;
    chunks.push(await opts.sink(piece));
  }
  return { chunks, size, sqlite };
}
