// File-tree helpers shared by the benchmarks: sizes (du-like, the same for every tool's repository),
// walking, hashing, and telling SQLite databases and their sidecars apart.

import { closeSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, type Stats } from "node:fs";
import { join, relative } from "node:path";

export interface FileInfo {
  rel: string;
  abs: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

/** Every regular file under `root` (sorted, "/"-separated relative paths). Symlinks are not followed. */
export function walkFiles(root: string, skip: (rel: string, isDir: boolean) => boolean = () => false): FileInfo[] {
  const out: FileInfo[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const abs = join(dir, e.name);
      const rel = relative(root, abs).split("\\").join("/");
      if (skip(rel, e.isDirectory())) continue;
      if (e.isDirectory()) walk(abs);
      else if (e.isFile()) {
        const st: Stats = lstatSync(abs);
        out.push({ rel, abs, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
      }
    }
  };
  walk(root);
  return out;
}

/** Sum of the sizes of all regular files under `root` (like `du --apparent-size -b`, without directory entries). */
export function duBytes(root: string): number {
  return walkFiles(root).reduce((a, f) => a + f.size, 0);
}

const SQLITE_MAGIC = Buffer.from("SQLite format 3\0", "latin1");

export function isSqliteFile(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const b = Buffer.alloc(16);
    return readSync(fd, b, 0, 16, 0) === 16 && b.equals(SQLITE_MAGIC);
  } finally {
    closeSync(fd);
  }
}

/** SQLite sidecars that no backup should store. */
export function isSqliteSidecar(rel: string): boolean {
  return /-(wal|shm|journal)$/.test(rel);
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return "n/a";
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (abs >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/**
 * Microseconds per file to create `files` empty files spread over `folders` new folders under
 * `dir` (which must not exist), as a checkout creates them. The files are left in place: deleting
 * them is what makes the next creations slow on ext4 without a journal (bench/README.md, "Where
 * the checkout's variation comes from"), which is what this measures.
 */
export function fileCreationMicros(dir: string, files = 2000, folders = 200): number {
  const started = process.hrtime.bigint();
  mkdirSync(dir);
  for (let d = 0; d < folders; d++) mkdirSync(join(dir, `d${d}`));
  for (let i = 0; i < files; i++) closeSync(openSync(join(dir, `d${i % folders}`, `f${i}`), "w"));
  return Number(process.hrtime.bigint() - started) / 1000 / (files + folders);
}
