// Consistent, page-aligned capture of live SQLite databases (DESIGN.md invariant 8).
//
// A database that another process may be writing (OpenClaw keeps its state in WAL mode) is never
// read as a plain file: it is copied, from a read through its WAL in place under a pinned read
// transaction (wal-capture.ts) or through SQLite's online backup API, both from `node:sqlite` (the
// SQLite OpenClaw itself runs on; a second SQLite library in this process would break the POSIX
// locks), into a private temporary file, which is verified and then cut at page boundaries into
// small groups of pages. See docs/sqlite.md for the choices made here and the measurements.

import { constants as fsConstants, readSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";
import { backup, DatabaseSync } from "node:sqlite";
import { IntegrityError, LockedError, PathError, ScratchFullError } from "../../errors.ts";
import { openPrivateCopy, quickCheck } from "./sqlite-check.ts";
import { openWalCapture } from "./wal-capture.ts";
import { openLiveDatabase } from "./live-connections.ts";
import { SQLITE_BUSY, SQLITE_CANTOPEN, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_IOERR, SQLITE_LOCKED, SQLITE_NOTADB, SQLITE_PERM, SQLITE_READONLY, sqliteCode } from "./result-codes.ts";

export { isSidecarAmong, isSqliteSidecar, sqliteSidecarBase } from "./sidecars.ts";
export { DEFAULT_SQLITE_GROUP_PAGES } from "./group-pages.ts";


const MAGIC = Buffer.from("SQLite format 3\0", "latin1");
const HEADER_BYTES = 100;

export interface SqliteHeader {
  /** Page size in bytes (512 … 65536, a power of two). */
  pageSize: number;
  /** True when the header records WAL mode (file format read/write versions 2). */
  wal: boolean;
}

/**
 * Reads the first 100 bytes of `file`. Returns undefined when the file does not start with the
 * SQLite magic "SQLite format 3\0" (including files shorter than that). A file that has the magic
 * but a truncated or impossible header is a damaged database: IntegrityError naming the path. A
 * file that cannot be read: PathError naming the path.
 */
export async function readSqliteHeader(file: string): Promise<SqliteHeader | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0));
  } catch (err) {
    throw pathError(file, `cannot open: ${errText(err)}`, err);
  }
  const buf = Buffer.alloc(HEADER_BYTES);
  let got = 0;
  try {
    while (got < HEADER_BYTES) {
      const { bytesRead } = await handle.read(buf, got, HEADER_BYTES - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
  } catch (err) {
    throw pathError(file, `cannot read: ${errText(err)}`, err);
  } finally {
    await handle.close().catch(() => {});
  }
  if (got < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  if (got < HEADER_BYTES) throw new IntegrityError(file, `SQLite header truncated (${got} of ${HEADER_BYTES} bytes)`);
  const raw = buf.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (!validPageSize(pageSize)) throw new IntegrityError(file, `SQLite header has an invalid page size (${raw})`);
  return { pageSize, wal: buf[18] === 2 && buf[19] === 2 };
}

/** How the source database is opened; see openSource. */
type SqliteOpenMode = "readonly" | "readwrite" | "immutable";

export interface CaptureOptions {
  /** SQLite busy timeout of the source connection, per attempt (ms). */
  busyTimeoutMs?: number;
  /** Attempts before giving up on a database that stays locked (≥ 1). */
  attempts?: number;
  /** Open modes to try, in order, instead of the automatic choice (tests, diagnostics). */
  openModes?: SqliteOpenMode[];
  /**
   * Return as soon as the copy is made and its size, header and page count check out, without the
   * quick_check (which reads every page): the caller runs `check()` if and when it wants it. The
   * commit runs it at most once a day per database (check-schedule.ts), not on every copy.
   */
  deferCheck?: boolean;
}

/** A database captured into a private file; see captureSqlite. */
export interface CapturedDatabase {
  file: string;
  pageSize: number;
  /** How the copy was made: from a read through the WAL in place, or by the backup API. */
  via: "in place" | "backup";
  /**
   * Runs PRAGMA quick_check on the copy (on a worker thread; started by the first call, later
   * calls share its answer). Resolves when it passed; rejects with an IntegrityError naming the
   * source. Call it before the copy is deleted.
   */
  check(): Promise<void>;
}

const DEFAULT_BUSY_TIMEOUT_MS = 2_000;
const DEFAULT_ATTEMPTS = 5;
/** Pages per backup step: all of them, so one step copies one snapshot and never restarts. */
const ALL_PAGES = 0x7fffffff;

/**
 * Copies the database at `dbPath` into a new file in `tmpDir`, read through its WAL in place when
 * it allows that (see copyInPlace) or else through SQLite's online backup API, as one consistent
 * state that a committed transaction of the writer left (uncommitted work and
 * the -wal/-shm sidecars are never part of it). The copy is a standalone database file: all pages
 * are in it, nothing lives in a -wal, and its header keeps the source's journal mode (WAL for
 * OpenClaw's databases; such a file opens fine without a -wal beside it).
 *
 * The copy is verified before it is returned: it must hold every page the backup reported (more
 * than zero), its size must be exactly page_count × page_size, and PRAGMA quick_check must pass.
 *
 * Errors, each naming `dbPath`: IntegrityError (not a database, corrupt, or the copy fails
 * verification), LockedError (the database stayed locked through every attempt), PathError
 * (missing, unreadable, or the copy could not be written), ScratchFullError (`tmpDir` has no room
 * for the copy; naming `tmpDir`). The caller deletes the copy.
 */
export async function captureSqlite(dbPath: string, tmpDir: string, options: CaptureOptions = {}): Promise<CapturedDatabase> {
  const source = path.resolve(dbPath);
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const attempts = Math.max(1, Math.floor(options.attempts ?? DEFAULT_ATTEMPTS));

  const st = await fs.stat(source).catch((err: unknown) => {
    throw pathError(dbPath, `cannot stat: ${errText(err)}`, err);
  });
  if (!st.isFile()) throw new PathError(dbPath, "not a regular file");
  const header = await readSqliteHeader(source);
  if (!header) throw new IntegrityError(dbPath, "not an SQLite database (no SQLite header)");
  await fs.access(tmpDir, fsConstants.W_OK).catch((err: unknown) => {
    throw pathError(tmpDir, `temporary folder not writable: ${errText(err)}`, err);
  });

  if (!options.openModes) {
    const copy = await copyInPlace(dbPath, path.join(tmpDir, `clawback-sqlite-${randomUUID()}.db`), busyTimeoutMs);
    if (copy) {
      if (!options.deferCheck) await copy.check();
      return copy;
    }
  }

  let lastBusy: Busy | undefined;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) await sleep(Math.min(100 * 2 ** (attempt - 1), 2_000));
    const modes = options.openModes ?? (await chooseOpenModes(source, header));
    const dest = path.join(tmpDir, `clawback-sqlite-${randomUUID()}.db`);
    try {
      const copy = await captureOnce(dbPath, source, dest, modes, busyTimeoutMs);
      if (!options.deferCheck) await copy.check();
      return copy;
    } catch (err) {
      await removeDatabaseFiles(dest);
      if (err instanceof Busy) {
        lastBusy = err;
        continue;
      }
      throw err;
    }
  }
  const cause = lastBusy?.cause;
  if (lastBusy?.locked) {
    throw new LockedError(`${dbPath}: database stayed locked by another process through ${attempts} attempts (${lastBusy.message})`, { cause });
  }
  throw pathError(dbPath, `SQLite backup failed ${attempts} times: ${lastBusy?.message ?? "unknown error"}`, cause);
}

/**
 * Thrown inside one attempt when it may succeed if tried again: the source was busy or locked
 * (`locked`), or changed under an immutable read, or a backup step failed for a reason that the
 * source connection no longer reports.
 */
class Busy extends Error {
  readonly locked: boolean;
  constructor(message: string, locked: boolean, cause?: unknown) {
    super(message, { cause });
    this.locked = locked;
  }
}

/**
 * Which ways of opening the source to try, in order:
 *
 * - WAL mode and a -shm exists (a writer has it open, or had): read-only. A read-only connection
 *   takes only shared read locks, never checkpoints, never writes; it needs the existing -shm.
 * - WAL mode and no -shm (nobody has it open): read-write with query_only. A read-only connection
 *   would create -wal and -shm and leave them behind; a read-write one removes them again when it
 *   closes as the last connection. Then read-only (file not writable, directory writable), then
 *   immutable (directory not writable, so no -shm can be made; guarded, see captureOnce).
 * - Rollback-journal mode: read-only; read-write when that fails (a hot journal left by a crashed
 *   writer must be rolled back, which a read-only connection cannot do); immutable only when no
 *   journal exists.
 */
async function chooseOpenModes(source: string, header: SqliteHeader): Promise<SqliteOpenMode[]> {
  const has = async (suffix: string) => (await fs.lstat(source + suffix).catch(() => undefined)) !== undefined;
  if (header.wal) {
    if (await has("-shm")) return ["readonly", "readwrite"];
    return (await has("-wal")) ? ["readwrite", "readonly"] : ["readwrite", "readonly", "immutable"];
  }
  return (await has("-journal")) ? ["readonly", "readwrite"] : ["readonly", "readwrite", "immutable"];
}

function openSource(source: string, mode: SqliteOpenMode, busyTimeoutMs: number): DatabaseSync {
  const url = pathToFileURL(source);
  // mode=ro / mode=rw keep SQLite from ever creating the file if it vanished meanwhile.
  if (mode === "readonly") url.search = "mode=ro";
  else if (mode === "readwrite") url.search = "mode=rw";
  else url.search = "mode=ro&immutable=1";
  const db = openLiveDatabase(source, url, { readOnly: mode !== "readwrite", timeout: busyTimeoutMs, enableForeignKeyConstraints: false });
  try {
    if (mode === "readwrite") db.exec("PRAGMA query_only = ON");
    // Opening is lazy: this first read is where a missing -shm, a hot journal, a lock or a
    // damaged header shows up.
    db.prepare("SELECT count(*) FROM sqlite_schema").get();
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

async function captureOnce(dbPath: string, source: string, dest: string, modes: SqliteOpenMode[], busyTimeoutMs: number): Promise<CapturedDatabase> {
  let db: DatabaseSync | undefined;
  let mode: SqliteOpenMode | undefined;
  let openErr: unknown;
  for (const m of modes) {
    try {
      db = openSource(source, m, busyTimeoutMs);
      mode = m;
      break;
    } catch (err) {
      const code = sqliteCode(err);
      if (code === SQLITE_BUSY || code === SQLITE_LOCKED) throw new Busy("database is locked", true, err);
      if (code === SQLITE_NOTADB || code === SQLITE_CORRUPT) throw new IntegrityError(dbPath, `database is damaged: ${errText(err)}`);
      openErr = err;
      if (code !== undefined && ![SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_PERM, SQLITE_IOERR].includes(code)) break;
    }
  }
  if (!db || !mode) throw pathError(dbPath, `cannot open the database: ${errText(openErr)}`, openErr);

  // immutable reads take no locks; it is only chosen when no -wal/-shm/-journal exists, that is
  // when no connection has the database open. It is accepted only if the main file and its
  // sidecars were untouched from before the copy until after it.
  const guard = mode === "immutable" ? await fileState(source) : undefined;
  let pages: number;
  try {
    pages = await backup(db, dest, { rate: ALL_PAGES });
  } catch (err) {
    // node:sqlite's backup() rejects with an uninformative "not an error" when a step fails on a
    // lock; ask the source connection what is wrong.
    const code = sqliteCode(err) ?? probeSource(db);
    db.close();
    if (code === SQLITE_BUSY || code === SQLITE_LOCKED) throw new Busy("database is locked", true, err);
    if (code === SQLITE_CORRUPT || code === SQLITE_NOTADB) throw new IntegrityError(dbPath, `database is damaged: ${errText(err)}`);
    // The copy's folder is full: trying again cannot help, and it is that folder, not the
    // database, that the message must name.
    if (code === SQLITE_FULL) throw noRoom(path.dirname(dest), dbPath, err);
    const destDir = await fs.access(path.dirname(dest), fsConstants.W_OK).then(() => true, () => false);
    if (!destDir) throw pathError(path.dirname(dest), `cannot write the copy: ${errText(err)}`, err);
    // Most likely a lock that was released before the probe ran; try again.
    throw new Busy(errText(err), false, err);
  }
  db.close();
  if (guard && guard !== (await fileState(source))) throw new Busy("database changed while it was read without locks", false);

  return { file: dest, via: "backup", ...(await verifyCopy(dbPath, dest, pages)) };
}

/** Pages written at a time by copyInPlace: 1 MiB of 4 KiB pages. */
const COPY_GROUP_PAGES = 256;

/**
 * The copy made from a read through the WAL in place (wal-capture.ts), written out in 1 MiB
 * blocks, when the database allows that read; undefined when it does not (the caller uses the
 * backup API). A quarter to a third of the backup API's time here, which copies one page per
 * `pread`/`pwrite` pair (128 MB: 74–151 ms against 259–616 ms on a busy machine). Verified like a
 * backup copy.
 */
async function copyInPlace(dbPath: string, dest: string, busyTimeoutMs: number): Promise<CapturedDatabase | undefined> {
  const read = await openWalCapture(dbPath, { busyTimeoutMs });
  if (!("capture" in read)) return undefined;
  const { capture } = read;
  try {
    let out: fs.FileHandle | undefined;
    try {
      out = await fs.open(dest, "wx", 0o600);
      let position = 0;
      for await (const block of capture.groups(COPY_GROUP_PAGES)) {
        await out.write(block, 0, block.byteLength, position);
        position += block.byteLength;
      }
    } catch (err) {
      if (err instanceof IntegrityError) throw err;
      const folder = path.dirname(dest);
      if ((err as NodeJS.ErrnoException).code === "ENOSPC") throw noRoom(folder, dbPath, err);
      throw pathError(folder, `cannot write the copy: ${errText(err)}`, err);
    } finally {
      await out?.close().catch(() => {});
    }
  } catch (err) {
    await fs.rm(dest, { force: true });
    throw err;
  } finally {
    await capture.release();
  }
  try {
    return { file: dest, via: "in place", ...(await verifyCopy(dbPath, dest, capture.pages)) };
  } catch (err) {
    await fs.rm(dest, { force: true });
    throw err;
  }
}

function probeSource(db: DatabaseSync): number | undefined {
  try {
    db.prepare("SELECT count(*) FROM sqlite_schema").get();
    return undefined;
  } catch (err) {
    return sqliteCode(err);
  }
}

/**
 * Checks the copy's header, size and page count now, and returns its page size and its quick_check
 * (`check`, run on first call). IntegrityError naming the source when anything is wrong.
 */
async function verifyCopy(dbPath: string, copy: string, pages: number): Promise<{ pageSize: number; check(): Promise<void> }> {
  if (!Number.isSafeInteger(pages) || pages <= 0) throw new IntegrityError(dbPath, `backup copied ${pages} pages`);
  const header = await readSqliteHeader(copy).catch(() => undefined);
  if (!header) throw new IntegrityError(dbPath, "the backup copy has no valid SQLite header");
  const size = (await fs.stat(copy)).size;
  if (size !== pages * header.pageSize) {
    throw new IntegrityError(dbPath, `backup copy is ${size} bytes, expected ${pages} pages of ${header.pageSize}`);
  }
  try {
    const db = openPrivateCopy(copy);
    try {
      const pageCount = Number(db.prepare("PRAGMA page_count").get()?.page_count);
      const pageSize = Number(db.prepare("PRAGMA page_size").get()?.page_size);
      if (pageCount !== pages || pageSize !== header.pageSize) {
        throw new IntegrityError(dbPath, `backup copy reports ${pageCount} pages of ${pageSize}, backup wrote ${pages} of ${header.pageSize}`);
      }
    } finally {
      db.close();
    }
  } catch (err) {
    if (err instanceof IntegrityError) throw err;
    throw new IntegrityError(dbPath, `database is damaged: ${errText(err)}`);
  }
  // The one check that reads every page runs on a worker thread, so the commit can store this
  // copy meanwhile.
  let checked: Promise<void> | undefined;
  const check = () =>
    (checked ??= quickCheck(copy).then(
      (problems) => {
        if (problems.length !== 1 || problems[0] !== "ok") throw new IntegrityError(dbPath, `database is damaged (quick_check: ${problems.join("; ")})`);
      },
      (err: unknown) => {
        throw new IntegrityError(dbPath, `database is damaged: ${errText(err)}`);
      },
    ));
  return { pageSize: header.pageSize, check };
}

/** Bytes read from the file at a time by pageGroups (a whole number of groups, at least one). */
const READ_BLOCK = 1024 * 1024;

/**
 * Cuts `file` into consecutive groups of `groupPages` pages of `pageSize` bytes; the last group
 * may be shorter. Streams: reads about 1 MiB at a time (one group when groups are larger) into
 * one block, and yields each group as a view of it, valid until the next group is asked for (the
 * commit encodes each group before it asks; a copy per group was 330 MB of short-lived buffers per
 * 500 MB state, and a third of the commit's full garbage collections). Memory stays at one block
 * whatever the file's size.
 */
export async function* pageGroups(file: string, pageSize: number, groupPages: number): AsyncGenerator<Uint8Array> {
  if (!validPageSize(pageSize)) throw new RangeError(`invalid SQLite page size ${pageSize}`);
  if (!Number.isSafeInteger(groupPages) || groupPages < 1) throw new RangeError(`invalid page group size ${groupPages}`);
  const groupBytes = pageSize * groupPages;
  const blockBytes = Math.max(1, Math.floor(READ_BLOCK / groupBytes)) * groupBytes;
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, "r");
  } catch (err) {
    throw pathError(file, `cannot open: ${errText(err)}`, err);
  }
  try {
    const block = new Uint8Array(blockBytes);
    let position = 0;
    for (;;) {
      let filled = 0;
      while (filled < blockBytes) {
        const bytesRead = readSync(handle.fd, block, filled, blockBytes - filled, position + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      position += filled;
      for (let off = 0; off < filled; off += groupBytes) yield block.subarray(off, Math.min(off + groupBytes, filled));
      if (filled < blockBytes) return;
    }
  } finally {
    await handle.close().catch(() => {});
  }
}

function validPageSize(n: number): boolean {
  return Number.isInteger(n) && n >= 512 && n <= 65536 && (n & (n - 1)) === 0;
}

/** Identity of a file and its sidecars, to tell whether anything touched them. */
async function fileState(source: string): Promise<string> {
  const parts: string[] = [];
  for (const suffix of ["", "-wal", "-shm", "-journal"]) {
    const st = await fs.stat(source + suffix, { bigint: true }).catch(() => undefined);
    parts.push(st ? `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` : "-");
  }
  return parts.join("|");
}

async function removeDatabaseFiles(file: string): Promise<void> {
  await Promise.all(["", "-journal", "-wal", "-shm"].map((s) => fs.rm(file + s, { force: true }).catch(() => {})));
}

function errText(err: unknown): string {
  if (err === undefined) return "unknown error";
  const e = err as { code?: unknown; message?: unknown };
  const msg = typeof e.message === "string" ? e.message : String(err);
  return typeof e.code === "string" && !msg.includes(e.code) && !e.code.startsWith("ERR_") ? `${e.code}: ${msg}` : msg;
}

/** The scratch folder has no room for the copy of `dbPath`: it is the folder that must be named. */
function noRoom(folder: string, dbPath: string, cause: unknown): PathError {
  return pathError(folder, `no room for the copy of ${dbPath} (${errText(cause)}); TMPDIR can name a folder with more room`, cause, ScratchFullError);
}

function pathError(p: string, detail: string, cause: unknown, Kind: typeof PathError = PathError): PathError {
  const err = new Kind(p, detail);
  err.cause = cause;
  return err;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
