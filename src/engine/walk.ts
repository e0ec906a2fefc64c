import * as fs from "node:fs/promises";
import type { BigIntStats } from "node:fs";
import * as path from "node:path";
import type { Matcher } from "./glob.ts";
import type { Warning } from "./types.ts";

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
    for (const name of names) {
      if (skip(name, siblings)) continue;
      const relPath = relDir ? `${relDir}/${name}` : name;
      const absPath = path.join(absDir, name);
      let stat: BigIntStats;
      try {
        stat = await fs.lstat(absPath, { bigint: true });
      } catch (err) {
        warn({ path: relPath, message: `cannot stat: ${(err as Error).message}` });
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
