import { lstatSync, readdirSync, type BigIntStats } from "node:fs";
import type { Matcher } from "../excludes.ts";
import type { Warning } from "../types.ts";

/**
 * The walk returns to the event loop every millisecond: timers (the progress line) keep
 * running, and so does whatever runs beside it, such as the opening of the repository, whose
 * scrypt can only start on the thread pool once its few file reads have come back.
 */
const YIELD_AFTER_MS = 1;

/**
 * The stat fields a commit looks at (node's BigIntStats has them too, so a fresh lstat serves
 * where a walk's stat does).
 */
export interface EntryStat {
  readonly mode: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/**
 * What the walk keeps of an lstat: every entry lives until the commit ends, and node's BigIntStats
 * holds 18 BigInts (times in three units, uid, blocks...) that young collections copied and
 * promoted for each of the 9,400 entries of the bench state.
 */
class WalkStat implements EntryStat {
  readonly mode: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  /** The file type bits of the mode, as a small integer (no BigInt arithmetic per test). */
  private readonly type: number;

  constructor(st: BigIntStats) {
    this.mode = st.mode;
    this.size = st.size;
    this.mtimeNs = st.mtimeNs;
    this.ctimeNs = st.ctimeNs;
    this.ino = st.ino;
    this.type = Number(st.mode) & S_IFMT;
  }

  isFile(): boolean {
    return this.type === S_IFREG;
  }

  isDirectory(): boolean {
    return this.type === S_IFDIR;
  }

  isSymbolicLink(): boolean {
    return this.type === S_IFLNK;
  }
}

export interface WalkEntry {
  /** "/"-separated, relative to the root. */
  relPath: string;
  absPath: string;
  stat: EntryStat;
}

/** The largest regular file of a walk: the largest that could be a database to copy. */
export function largestFile(items: readonly WalkEntry[]): number {
  let largest = 0;
  for (const item of items) if (item.stat.isFile() && Number(item.stat.size) > largest) largest = Number(item.stat.size);
  return largest;
}

/**
 * A folder being listed: its names, sorted, and the next one to visit. It answers `has` by a
 * binary search of the sorted names (what `skip` asks about siblings) rather than keep a Set of
 * them: 3,100 folders of the bench state each made one, and almost no name is ever looked up.
 */
class OpenFolder {
  readonly relDir: string;
  readonly absDir: string;
  readonly names: string[];
  next = 0;

  constructor(relDir: string, absDir: string, names: string[]) {
    this.relDir = relDir;
    this.absDir = absDir;
    this.names = names;
  }

  has(name: string): boolean {
    let low = 0;
    let high = this.names.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const at = this.names[mid]!;
      if (at === name) return true;
      if (at < name) low = mid + 1;
      else high = mid - 1;
    }
    return false;
  }
}

/**
 * Depth-first walk in a stable order (names sorted by code unit), without following links.
 * Excluded paths are not descended into; `skip` drops individual names given their siblings
 * (SQLite sidecars beside their database).
 * Unreadable folders are reported and skipped, never fatal.
 */
export async function walkTree(root: string, exclude: Matcher, skip: (name: string, siblings: { has(name: string): boolean }) => boolean, warn: (w: Warning) => void): Promise<WalkEntry[]> {
  // Synchronous readdir and lstat: a state folder is thousands of small files, and a trip through
  // the thread pool per call cost 1.2 s for 9,400 entries where the calls themselves take 0.1 s.
  // An explicit stack rather than recursive generators, whose every entry passed through one
  // promise per folder level (a third of the walk's time).
  const entries: WalkEntry[] = [];
  const stack: OpenFolder[] = [];
  const open = (relDir: string, absDir: string): void => {
    let names: string[];
    try {
      names = readdirSync(absDir).sort();
    } catch (err) {
      warn({ path: relDir || ".", message: `cannot read folder: ${(err as Error).message}` });
      return;
    }
    stack.push(new OpenFolder(relDir, absDir, names));
  };
  open("", root);
  let lastYield = performance.now();
  let sinceCheck = 0;
  while (stack.length > 0) {
    const folder = stack[stack.length - 1]!;
    if (folder.next === folder.names.length) {
      stack.pop();
      continue;
    }
    const name = folder.names[folder.next++]!;
    if (skip(name, folder)) continue;
    if (++sinceCheck === 32) {
      sinceCheck = 0;
      if (performance.now() - lastYield > YIELD_AFTER_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
    }
    const relPath = folder.relDir ? `${folder.relDir}/${name}` : name;
    const absPath = folder.absDir.endsWith("/") ? folder.absDir + name : `${folder.absDir}/${name}`;
    let stat: WalkStat;
    try {
      stat = new WalkStat(lstatSync(absPath, { bigint: true }));
    } catch (err) {
      // readdir decodes names as UTF-8: a name that is not valid UTF-8 comes back with U+FFFD in
      // it and names no file. Listings hold UTF-8 text, so such a name cannot be stored.
      const notUtf8 = name.includes("\uFFFD") && (err as NodeJS.ErrnoException).code === "ENOENT";
      warn({ path: relPath, message: notUtf8 ? "not stored: the name is not valid UTF-8" : `cannot stat: ${(err as Error).message}` });
      continue;
    }
    if (exclude.matches(relPath, stat.isDirectory())) continue;
    if (stat.isDirectory()) {
      entries.push({ relPath, absPath, stat });
      open(relPath, absPath);
    } else if (stat.isFile() || stat.isSymbolicLink()) {
      entries.push({ relPath, absPath, stat });
    } else {
      warn({ path: relPath, message: "skipped: not a regular file, folder or symlink" });
    }
  }
  return entries;
}
