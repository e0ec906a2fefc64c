import * as fs from "node:fs/promises";
import type { BigIntStats } from "node:fs";
import * as path from "node:path";
import type { Matcher } from "./glob.ts";
import type { Warning } from "./types.ts";

const STAT_BATCH = 64;

export interface WalkEntry {
  /** "/"-separated, relative to the root. */
  relPath: string;
  absPath: string;
  stat: BigIntStats;
}

/**
 * Depth-first walk in a stable order (names sorted by code unit), without following links.
 * Excluded paths are not descended into; `skip` drops individual names given their siblings
 * (SQLite sidecars beside their database).
 * Unreadable folders are reported and skipped, never fatal.
 */
export async function* walkTree(root: string, exclude: Matcher, skip: (name: string, siblings: ReadonlySet<string>) => boolean, warn: (w: Warning) => void): AsyncGenerator<WalkEntry> {
  async function* visit(relDir: string): AsyncGenerator<WalkEntry> {
    const absDir = relDir ? path.join(root, relDir) : root;
    let names: string[];
    try {
      names = (await fs.readdir(absDir)).sort();
    } catch (err) {
      warn({ path: relDir || ".", message: `cannot read folder: ${(err as Error).message}` });
      return;
    }
    const siblings = new Set(names);
    const kept = names.filter((name) => !skip(name, siblings));
    // Stat a folder's entries a batch at a time: one round trip to the thread pool per batch,
    // not per file, while the order stays the sorted order.
    const stats: (BigIntStats | Error)[] = [];
    for (let i = 0; i < kept.length; i += STAT_BATCH) {
      const batch = kept.slice(i, i + STAT_BATCH).map((name) => fs.lstat(path.join(absDir, name), { bigint: true }).catch((err: Error) => err));
      stats.push(...(await Promise.all(batch)));
    }
    for (const [i, name] of kept.entries()) {
      const relPath = relDir ? `${relDir}/${name}` : name;
      const absPath = path.join(absDir, name);
      const stat = stats[i]!;
      if (stat instanceof Error) {
        warn({ path: relPath, message: `cannot stat: ${stat.message}` });
        continue;
      }
      if (exclude.matches(relPath, stat.isDirectory())) continue;
      if (stat.isDirectory()) {
        yield { relPath, absPath, stat };
        yield* visit(relPath);
      } else if (stat.isFile() || stat.isSymbolicLink()) {
        yield { relPath, absPath, stat };
      } else {
        warn({ path: relPath, message: "skipped: not a regular file, folder or symlink" });
      }
    }
  }
  yield* visit("");
}
