// A consistent mirror of a live state directory, for the peers (restic, borg).
//
// restic and borg have no notion of SQLite: pointed at a live WAL database they store the main file
// as it lies (missing whatever is still in -wal) or, if they also pick up -wal/-shm, a pair that is
// only consistent by luck. To compare fairly, they back up a mirror in which each database is a
// consistent single-file copy (the WAL applied, as `sqlite3 db ".backup copy"` gives) and every other
// file is a copy that keeps its mtime. The mirror is updated incrementally (unchanged files keep
// their inode, size and mtime, so the peers' change detection works as on a real disk), and the
// time spent making it is not counted against the peers.

import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, statSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { isSqliteFile, isSqliteSidecar, walkFiles } from "./fsutil.ts";

export interface MirrorChange {
  rel: string;
  status: "new" | "changed" | "deleted";
  sqlite: boolean;
  /** The previous version in the mirror (changed, deleted), valid during the callback. */
  oldPath: string | null;
  /** The new version (a consistent copy for databases), valid during the callback. */
  newPath: string | null;
}

export interface MirrorFile {
  rel: string;
  sqlite: boolean;
  /** Path of the consistent copy (databases) or the source file. */
  path: string;
}

/** A consistent single-file copy of the live database `src` at `dest`. The source is not touched. */
function consistentCopy(src: string, dest: string): void {
  const work = join(tmpdir(), `bench-dbcopy-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const db = join(work, "db.sqlite");
  copyFileSync(src, db);
  try {
    copyFileSync(`${src}-wal`, `${db}-wal`);
  } catch {
    // no WAL: the main file is the whole database
  }
  const conn = new DatabaseSync(db);
  conn.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  conn.close();
  mkdirSync(dirname(dest), { recursive: true });
  renameSync(db, dest);
  rmSync(work, { recursive: true, force: true });
}

function sameBytes(a: string, b: string): boolean {
  const sa = statSync(a, { throwIfNoEntry: false });
  const sb = statSync(b, { throwIfNoEntry: false });
  if (!sa || !sb || sa.size !== sb.size) return false;
  return readFileSync(a).equals(readFileSync(b));
}

/**
 * Bring `mirror` up to date with `src`. `onChange` sees each change before the mirror is updated
 * (old and new versions both readable). Returns the files of the new state.
 */
export function syncMirror(src: string, mirror: string, onChange: (c: MirrorChange) => void = () => {}): MirrorFile[] {
  mkdirSync(mirror, { recursive: true });
  const files = walkFiles(src, (rel) => isSqliteSidecar(rel));
  const seen = new Set<string>();
  const out: MirrorFile[] = [];
  const staging = join(mirror, "..", `.${mirror.split("/").pop()}-staging`);
  mkdirSync(staging, { recursive: true });
  for (const f of files) {
    seen.add(f.rel);
    const dest = join(mirror, f.rel);
    const prev = statSync(dest, { throwIfNoEntry: false });
    const sqlite = f.size >= 100 && isSqliteFile(f.abs);
    if (sqlite) {
      const copy = join(staging, "db");
      consistentCopy(f.abs, copy);
      if (!prev || !sameBytes(copy, dest)) {
        onChange({ rel: f.rel, status: prev ? "changed" : "new", sqlite: true, oldPath: prev ? dest : null, newPath: copy });
        mkdirSync(dirname(dest), { recursive: true });
        renameSync(copy, dest);
      } else rmSync(copy);
      out.push({ rel: f.rel, sqlite: true, path: dest });
      continue;
    }
    out.push({ rel: f.rel, sqlite: false, path: f.abs });
    if (prev && prev.size === f.size && prev.mtimeMs === f.mtimeMs) continue;
    if (prev && sameBytes(f.abs, dest)) {
      utimesSync(dest, new Date(f.mtimeMs), new Date(f.mtimeMs));
      continue;
    }
    onChange({ rel: f.rel, status: prev ? "changed" : "new", sqlite: false, oldPath: prev ? dest : null, newPath: f.abs });
    mkdirSync(dirname(dest), { recursive: true });
    const tmp = join(staging, "file");
    copyFileSync(f.abs, tmp);
    utimesSync(tmp, new Date(f.mtimeMs), new Date(f.mtimeMs));
    renameSync(tmp, dest);
  }
  for (const m of walkFiles(mirror)) {
    if (seen.has(m.rel)) continue;
    onChange({ rel: m.rel, status: "deleted", sqlite: false, oldPath: m.abs, newPath: null });
    rmSync(m.abs);
  }
  pruneEmptyDirs(mirror, src);
  rmSync(staging, { recursive: true, force: true });
  return out;
}

function pruneEmptyDirs(dir: string, srcDir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const d = join(dir, e.name);
    pruneEmptyDirs(d, join(srcDir, e.name));
    if (readdirSync(d).length === 0 && !statSync(join(srcDir, e.name), { throwIfNoEntry: false })) rmdirSync(d);
  }
}
