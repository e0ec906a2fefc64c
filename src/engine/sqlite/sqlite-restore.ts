// Restoring a captured SQLite database into a database that may be open (DESIGN.md invariant 8 and
// "Restoring under a running gateway"). A closed target is simply written as a file (checkout's
// staging and swap, with no -wal/-shm/-journal left beside it); a live one must never be replaced
// on disk, but written INTO through SQLite's backup API, which takes the target's locks, so its
// other connections see the restored state at their next read. See docs/sqlite.md.

import { constants as fsConstants } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { backup, DatabaseSync } from "node:sqlite";
import { IntegrityError, LockedError, PathError } from "../../errors.ts";
import { readSqliteHeader } from "./sqlite-capture.ts";
import { openPrivateCopy } from "./sqlite-check.ts";
import { openLiveDatabase } from "./live-connections.ts";
import { SQLITE_BUSY, SQLITE_LOCKED, sqliteCode } from "./result-codes.ts";

export interface RestoreIntoOptions {
  /** Attempts while the target stays locked by another connection (≥ 1). */
  attempts?: number;
  /** Busy timeout of the verifying connection on the target (ms). */
  busyTimeoutMs?: number;
}

const ALL_PAGES = 0x7fffffff;

/**
 * Overwrites the content of the database at `target` with the database file `copy` (a capture,
 * e.g. just checked out into a staging folder) through node:sqlite's backup API, then verifies the
 * target: page_count equals the pages copied (never 0) and quick_check passes.
 *
 * The target keeps its journal mode: a WAL database stays in WAL mode, and the restored pages go
 * through its WAL like any write, so connections that other processes hold see them. SQLite refuses
 * (IntegrityError) when a WAL-mode target's page size differs from the copy's. Applications'
 * in-memory caches are not refreshed: the caller decides whether the owning process restarts.
 *
 * Errors name the target: LockedError (a writer held its lock through every attempt),
 * IntegrityError (the copy is not a sound database, or the target fails verification), PathError.
 */
export async function restoreIntoLiveDatabase(copy: string, target: string, options: RestoreIntoOptions = {}): Promise<{ pages: number }> {
  const attempts = Math.max(1, Math.floor(options.attempts ?? 5));
  const busyTimeoutMs = options.busyTimeoutMs ?? 2_000;
  const header = await readSqliteHeader(copy);
  if (!header) throw new IntegrityError(copy, "not an SQLite database");
  const targetDir = path.dirname(path.resolve(target));
  await fs.access(targetDir, fsConstants.W_OK).catch((err: unknown) => {
    throw new PathError(targetDir, `cannot write beside the target: ${(err as Error).message}`);
  });

  const source = openPrivateCopy(copy);
  let pages = 0;
  try {
    const check = source.prepare("PRAGMA quick_check(1)").get();
    if (String(check && Object.values(check)[0]) !== "ok") throw new IntegrityError(copy, "the copy fails quick_check");
    let lastErr: unknown;
    let lastCode: number | undefined;
    for (let attempt = 0; attempt < attempts && pages === 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** (attempt - 1), 2_000)));
      try {
        pages = await backup(source, target, { rate: ALL_PAGES });
      } catch (err) {
        lastErr = err;
        const code = await targetState(target, busyTimeoutMs);
        lastCode = code;
        if (code !== SQLITE_BUSY && code !== SQLITE_LOCKED && code !== undefined) {
          throw new IntegrityError(target, `restore through the backup API failed: ${(err as Error).message} (target: SQLite error ${code})`);
        }
      }
    }
    if (pages === 0) {
      throw new LockedError(`${target}: could not restore into the database, it stayed locked through ${attempts} attempts (${lastCode === undefined ? "0 pages copied" : "database is locked"})`, { cause: lastErr });
    }
  } finally {
    source.close();
  }

  const db = openTarget(target, busyTimeoutMs);
  try {
    db.exec("PRAGMA query_only = ON");
    const count = Number(db.prepare("PRAGMA page_count").get()?.page_count);
    const check = db.prepare("PRAGMA quick_check(1)").get();
    if (count !== pages) throw new IntegrityError(target, `after restore the database has ${count} pages, ${pages} were copied`);
    if (String(check && Object.values(check)[0]) !== "ok") throw new IntegrityError(target, "after restore the database fails quick_check");
  } finally {
    db.close();
  }
  return { pages };
}

/**
 * A read-write connection that never creates the file (mode=rw). Read-write rather than read-only
 * so that, when it is the last connection to a WAL database, closing it removes the -wal/-shm it
 * made instead of leaving them beside the restored file.
 */
function openTarget(target: string, busyTimeoutMs: number): DatabaseSync {
  const url = pathToFileURL(path.resolve(target));
  url.search = "mode=rw";
  return openLiveDatabase(target, url, { timeout: busyTimeoutMs });
}

/**
 * Why the backup into the target may have failed (node:sqlite rejects a step that met a lock with
 * an uninformative message): tries to take the target's write lock and lets it go at once.
 * Returns the SQLite result code, or undefined when the target can be written now.
 */
async function targetState(target: string, busyTimeoutMs: number): Promise<number | undefined> {
  let db: DatabaseSync | undefined;
  try {
    db = openTarget(target, Math.min(busyTimeoutMs, 500));
    db.exec("BEGIN IMMEDIATE");
    db.exec("ROLLBACK");
    return undefined;
  } catch (err) {
    return sqliteCode(err);
  } finally {
    db?.close();
  }
}
