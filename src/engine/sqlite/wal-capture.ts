// Capture of a live WAL-mode database without a copy (DESIGN.md invariant 8 (b)): the database
// file's pages with the WAL's committed frames laid over them, read while a read transaction of
// our own pins the snapshot. docs/sqlite.md ("Reading through the WAL") says why the bytes read
// are a state a writer committed, and what makes a capture fall back to the backup API.
//
// The descriptors of the read are opened before the pinning connection and closed after it:
// closing a descriptor of a file drops every POSIX lock the process holds on it, the read lock
// that pins the snapshot included (DESIGN.md, "One process, one set of locks"). No other
// connection of this process may have the database open while a capture runs (the engine's
// processes hold none).

import { constants as fsConstants } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { DatabaseSync } from "node:sqlite";
import { openedHere } from "./live-connections.ts";
import { SQLITE_BUSY, SQLITE_LOCKED, sqliteCode } from "./result-codes.ts";
import { readPages, type PageSource } from "./page-reader.ts";

const WAL_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;
const WAL_MAGIC_LE = 0x377f0682;
const WAL_MAGIC_BE = 0x377f0683;
const WAL_VERSION = 3007000;
const DB_MAGIC = Buffer.from("SQLite format 3\0", "latin1");
/** WAL bytes read at a time while its frames are checked. */
const WAL_SCAN_BYTES = 1024 * 1024;
/**
 * Most bytes of page images a capture keeps from the WAL (OpenClaw's WALs are checkpointed at
 * about 4 MiB); a larger WAL is read through the backup API instead.
 */
const WAL_IMAGES_MAX = 64 * 1024 * 1024;
/** Database bytes read at a time (a whole number of groups, at least one). */
const READ_BLOCK = 1024 * 1024;

/** A database opened for reading through its WAL; see openWalCapture. */
export interface WalCapture {
  readonly pageSize: number;
  /** Pages of the captured state. */
  readonly pages: number;
  /** Committed WAL frames laid over the database file (0: the file alone is the state). */
  readonly frames: number;
  /**
   * The state's consecutive groups of `groupPages` pages (the last may be shorter), each a view of
   * a reused block, valid until the next group is asked for. One pass.
   */
  groups(groupPages: number): AsyncGenerator<Uint8Array>;
  /** The same state by position (see page-reader.ts), valid until release. */
  readonly source: PageSource;
  /** Ends the read: the connection first, then the descriptors. Always call it. */
  release(): Promise<void>;
}

/** Either a capture, or why this database is read through the backup API instead. */
export type WalCaptureResult = { capture: WalCapture } | { fallback: string };

/**
 * Opens `dbPath` for a capture through its WAL, or says why not (`fallback`): the database is not
 * in WAL mode, has no -wal or -shm beside it (no writer has it open; the backup API handles that
 * case), is locked, changed its files while they were being opened, or has anything in its WAL that
 * this reader does not expect (an unknown version, a page size that differs from the database's).
 * Nothing is thrown for those: the caller captures through the backup API, which reports damaged
 * or locked databases with their own errors.
 *
 * A WAL that a writer started over while its frames were being walked is walked again, up to
 * WAL_RESTART_ATTEMPTS times: a busy writer that checkpoints often restarts it at any moment (one
 * open in 30 beside a writer committing every 5 ms), and the backup API's copy costs several times
 * the read in place.
 */
export async function openWalCapture(dbPath: string, options: { busyTimeoutMs?: number } = {}): Promise<WalCaptureResult> {
  for (let attempt = 1; ; attempt++) {
    const result = await openOnce(dbPath, options);
    if (!("fallback" in result) || result.fallback !== WAL_RESTARTED || attempt === WAL_RESTART_ATTEMPTS) return result;
  }
}

const WAL_RESTARTED = "the WAL started over while it was read";
const WAL_RESTART_ATTEMPTS = 3;

async function openOnce(dbPath: string, options: { busyTimeoutMs?: number }): Promise<WalCaptureResult> {
  const source = path.resolve(dbPath);
  const flags = fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0);
  if (!(await fs.lstat(`${source}-shm`).catch(() => undefined))) return { fallback: "no -shm beside the database" };
  // Closing our descriptors would drop the locks of a connection this process has open to it.
  const st = await fs.stat(source, { bigint: true }).catch(() => undefined);
  if (st && openedHere(st.dev, st.ino)) return { fallback: "this process has the database open through SQLite" };
  // Opened before the connection (see the top of this file).
  const dbFd = await fs.open(source, flags).catch(() => undefined);
  if (!dbFd) return { fallback: "cannot open the database file" };
  const walFd = await fs.open(`${source}-wal`, flags).catch(() => undefined);
  if (!walFd) {
    await dbFd.close();
    return { fallback: "no -wal beside the database" };
  }
  let db: DatabaseSync | undefined;
  const release = async () => {
    if (db?.isOpen) {
      try {
        if (db.isTransaction) db.exec("ROLLBACK");
      } finally {
        db.close();
      }
    }
    await walFd.close().catch(() => {});
    await dbFd.close().catch(() => {});
  };
  try {
    const header = Buffer.alloc(100);
    const { bytesRead } = await dbFd.read(header, 0, 100, 0);
    if (bytesRead < 100 || !header.subarray(0, DB_MAGIC.length).equals(DB_MAGIC)) return await fallBack(release, "no SQLite header");
    if (header[18] !== 2 || header[19] !== 2) return await fallBack(release, "not in WAL mode");

    // An empty -wal is what a writer leaves after a TRUNCATE checkpoint, and what a connection
    // killed while it only read leaves beside a database no one else had open (a commit or a
    // checkout's safety snapshot SIGKILLed during a capture). The pin is then read-write and
    // query_only: when it closes as the last connection SQLite removes both sidecars, so a killed
    // capture's leftovers go with the next one; beside a writer it leaves them. With frames in the
    // WAL the pin is read-only: a last read-write connection would checkpoint them into the file.
    const emptyWal = (await walFd.stat()).size === 0;
    try {
      db = pinRead(source, emptyWal, options.busyTimeoutMs ?? 2_000);
    } catch (err) {
      return await fallBack(release, `cannot pin a read: ${(err as Error).message}`);
    }
    const mode = String(db.prepare("PRAGMA journal_mode").get()?.journal_mode);
    if (mode !== "wal") return await fallBack(release, `journal mode is ${mode}`);
    const pageSize = Number(db.prepare("PRAGMA page_size").get()?.page_size);
    const pinnedPages = Number(db.prepare("PRAGMA page_count").get()?.page_count);

    // The files we opened must still be the ones SQLite reads (a last connection closing in
    // between deletes the -wal, and the next one makes a new file).
    if (!(await sameFile(dbFd, source)) || !(await sameFile(walFd, `${source}-wal`))) return await fallBack(release, "the database's files were replaced while they were opened");

    const wal = await scanWal(walFd, pageSize);
    if ("fallback" in wal) return await fallBack(release, wal.fallback);
    const pages = wal.frames > 0 ? wal.pages : pinnedPages;
    const fileBytes = (await dbFd.stat()).size;
    // Every page not in the WAL must be in the file (a checkpoint running beside us can only grow
    // it with pages that the WAL also has, or cut it to the size of our snapshot).
    for (let p = Math.floor(fileBytes / pageSize) + 1; p <= pages; p++) {
      if (!wal.latest.has(p)) return await fallBack(release, `page ${p} is neither in the file nor in the WAL`);
    }
    if (pages < 1) return await fallBack(release, "the database has no pages");
    const state: PageSource = { fd: dbFd.fd, pageSize, pages, overlay: wal.latest, where: dbPath };
    return {
      capture: {
        pageSize,
        pages,
        frames: wal.frames,
        source: state,
        groups: (groupPages) => readGroups(state, groupPages),
        release,
      },
    };
  } catch (err) {
    await release();
    throw err;
  }
}

/**
 * A connection holding a read transaction open: from its first read until ROLLBACK no checkpoint
 * moves past its snapshot and the WAL cannot restart. `readWrite` falls back to read-only where the
 * database cannot be opened for writing.
 */
function pinRead(source: string, readWrite: boolean, timeout: number): DatabaseSync {
  const url = pathToFileURL(source);
  url.search = readWrite ? "mode=rw" : "mode=ro";
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(url, { readOnly: !readWrite, timeout, enableForeignKeyConstraints: false });
    if (readWrite) db.exec("PRAGMA query_only = ON");
    db.exec("BEGIN");
    db.prepare("SELECT count(*) FROM sqlite_schema").get();
    return db;
  } catch (err) {
    if (db?.isOpen) db.close();
    // A lock would hold off a read-only connection just as long.
    const code = sqliteCode(err);
    if (readWrite && code !== SQLITE_BUSY && code !== SQLITE_LOCKED) return pinRead(source, false, timeout);
    throw err;
  }
}

async function fallBack(release: () => Promise<void>, why: string): Promise<{ fallback: string }> {
  await release();
  return { fallback: why };
}

interface WalScan {
  /** Frames up to and including the last valid commit frame. */
  frames: number;
  /** Database size in pages after that commit. */
  pages: number;
  /** For each page in those frames, its newest image. */
  latest: Map<number, Buffer>;
}

/**
 * Walks the WAL from its header: frames count while their salts match the header's and their
 * checksum chain holds; the committed prefix ends at the last frame that marks a commit. What
 * follows (a transaction being written, frames of an older generation) is not part of any state
 * a writer committed. A WAL with no valid header or no commit frame gives zero frames.
 *
 * The page images are kept, and the header is read again once the walk is done: when our read
 * began with every frame already checkpointed, SQLite lets a writer start the WAL over beside us
 * (new salts, frames rewritten from the start), and only an unchanged header proves that the
 * frames walked were not being overwritten meanwhile (measured: a capture that read frames
 * afterwards, by offset, got pages of the next generation).
 */
async function scanWal(walFd: fs.FileHandle, pageSize: number): Promise<WalScan | { fallback: string }> {
  const empty: WalScan = { frames: 0, pages: 0, latest: new Map() };
  const head = Buffer.alloc(WAL_HEADER_BYTES);
  const { bytesRead } = await walFd.read(head, 0, WAL_HEADER_BYTES, 0);
  if (bytesRead < WAL_HEADER_BYTES) return empty;
  const magic = head.readUInt32BE(0);
  if (magic !== WAL_MAGIC_LE && magic !== WAL_MAGIC_BE) return empty;
  const bigEndian = magic === WAL_MAGIC_BE;
  if (head.readUInt32BE(4) !== WAL_VERSION) return { fallback: `unknown WAL version ${head.readUInt32BE(4)}` };
  const sum = walChecksum(head, 0, 24, bigEndian, 0, 0);
  if (sum[0] !== head.readUInt32BE(24) || sum[1] !== head.readUInt32BE(28)) return empty;
  if (head.readUInt32BE(8) !== pageSize) return { fallback: `WAL page size ${head.readUInt32BE(8)} is not the database's ${pageSize}` };
  const salt1 = head.readUInt32BE(16);
  const salt2 = head.readUInt32BE(20);

  const frameBytes = FRAME_HEADER_BYTES + pageSize;
  const perBlock = Math.max(1, Math.floor(WAL_SCAN_BYTES / frameBytes));
  const block = Buffer.allocUnsafeSlow(perBlock * frameBytes);
  const latest = new Map<number, Buffer>();
  const pending = new Map<number, Buffer>();
  let s0 = sum[0];
  let s1 = sum[1];
  let frames = 0;
  let pages = 0;
  let frame = 0;
  let kept = 0;
  walk: for (;;) {
    const { bytesRead: got } = await walFd.read(block, 0, block.byteLength, WAL_HEADER_BYTES + frame * frameBytes);
    const whole = Math.floor(got / frameBytes);
    for (let i = 0; i < whole; i++, frame++) {
      const off = i * frameBytes;
      if (block.readUInt32BE(off + 8) !== salt1 || block.readUInt32BE(off + 12) !== salt2) break walk;
      [s0, s1] = walChecksum(block, off, 8, bigEndian, s0, s1);
      [s0, s1] = walChecksum(block, off + FRAME_HEADER_BYTES, pageSize, bigEndian, s0, s1);
      if (s0 !== block.readUInt32BE(off + 16) || s1 !== block.readUInt32BE(off + 20)) break walk;
      const page = block.readUInt32BE(off);
      if (page < 1) break walk;
      if (!pending.has(page) && !latest.has(page) && (kept += pageSize) > WAL_IMAGES_MAX) return { fallback: `the WAL holds more than ${WAL_IMAGES_MAX / 1024 / 1024} MiB of pages` };
      pending.set(page, Buffer.from(block.subarray(off + FRAME_HEADER_BYTES, off + frameBytes)));
      const commitPages = block.readUInt32BE(off + 4);
      if (commitPages > 0) {
        for (const [p, image] of pending) latest.set(p, image);
        pending.clear();
        frames = frame + 1;
        pages = commitPages;
      }
    }
    if (whole < perBlock) break;
  }
  if (frames === 0) return empty;
  const again = Buffer.alloc(WAL_HEADER_BYTES);
  const { bytesRead: reread } = await walFd.read(again, 0, WAL_HEADER_BYTES, 0);
  if (reread < WAL_HEADER_BYTES || !again.equals(head)) return { fallback: WAL_RESTARTED };
  // Pages past the end of a database that shrank are not part of it.
  for (const p of latest.keys()) if (p > pages) latest.delete(p);
  return { frames, pages, latest };
}

/**
 * SQLite's WAL checksum over `len` bytes of `buf` from `off` (a multiple of 8), continuing from
 * (s0, s1): pairs of 32-bit words in the byte order the WAL's magic names.
 */
function walChecksum(buf: Buffer, off: number, len: number, bigEndian: boolean, s0: number, s1: number): [number, number] {
  const end = off + len;
  if (!bigEndian && LITTLE_ENDIAN_HOST && (buf.byteOffset + off) % 4 === 0) {
    // Most WALs (SQLite writes its host's order, and hosts are little-endian): whole words read in
    // place, 1.6 times as fast as reading each one through the Buffer (7.6 against 12.1 ms per 4 MiB).
    const words = new Uint32Array(buf.buffer, buf.byteOffset + off, len >>> 2);
    for (let i = 0; i < words.length; i += 2) {
      s0 = (s0 + words[i]! + s1) >>> 0;
      s1 = (s1 + words[i + 1]! + s0) >>> 0;
    }
  } else if (bigEndian) {
    for (let i = off; i < end; i += 8) {
      s0 = (s0 + buf.readUInt32BE(i) + s1) >>> 0;
      s1 = (s1 + buf.readUInt32BE(i + 4) + s0) >>> 0;
    }
  } else {
    for (let i = off; i < end; i += 8) {
      s0 = (s0 + buf.readUInt32LE(i) + s1) >>> 0;
      s1 = (s1 + buf.readUInt32LE(i + 4) + s0) >>> 0;
    }
  }
  return [s0, s1];
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

async function* readGroups(source: PageSource, groupPages: number): AsyncGenerator<Uint8Array> {
  if (!Number.isSafeInteger(groupPages) || groupPages < 1) throw new RangeError(`invalid page group size ${groupPages}`);
  const { pageSize, overlay } = source;
  const groupBytes = pageSize * groupPages;
  const blockBytes = Math.max(1, Math.floor(READ_BLOCK / groupBytes)) * groupBytes;
  const total = source.pages * pageSize;
  const block = new Uint8Array(blockBytes);
  const imageOf = (page: number) => overlay.get(page);
  for (let position = 0; position < total; position += blockBytes) {
    const want = Math.min(blockBytes, total - position);
    readPages(source.fd, pageSize, position, want, block, imageOf, source.where);
    for (let off = 0; off < want; off += groupBytes) yield block.subarray(off, Math.min(off + groupBytes, want));
  }
}

async function sameFile(fd: fs.FileHandle, file: string): Promise<boolean> {
  const [a, b] = await Promise.all([fd.stat({ bigint: true }), fs.stat(file, { bigint: true }).catch(() => undefined)]);
  return b !== undefined && a.ino === b.ino && a.dev === b.dev;
}
