import * as fs from "node:fs/promises";
import { chunkId } from "../../crypto/keys.ts";
import type { RepoContext } from "../context.ts";
import { loadListing, resolveSnapshot } from "../snapshots.ts";
import { fileUnreadable, readContent } from "../commit/source-reader.ts";
import { WholeFileReader } from "../commit/whole-read.ts";
import { largestFile } from "../commit/walk.ts";
import { makeScratchDir } from "../sqlite/scratch-dir.ts";
import { SourceScan } from "../commit/source-scan.ts";
import { scrubFor } from "../commit/scrub.ts";
import type { Change, CommitScrub, FileEntry } from "../types.ts";

/**
 * Changes from snapshot `a` to snapshot `b`, or to a folder as it is now (nothing is stored). A
 * folder whose snapshots were committed with a scrub is compared through the same scrub.
 */
export async function diffSnapshots(ctx: RepoContext, a: string, b: string | { dir: string; scrub?: CommitScrub }): Promise<Change[]> {
  const left = resolveSnapshot(ctx, a);
  const before = await loadListing(ctx, left.record, left.id);
  let after: FileEntry[];
  if (typeof b === "string") {
    const right = resolveSnapshot(ctx, b);
    after = await loadListing(ctx, right.record, right.id);
  } else {
    after = await scanFolder(ctx, b.dir, left.record.excludes, before, b.scrub);
  }
  return compareListings(before, after);
}

function sameChunks(a: FileEntry, b: FileEntry): boolean {
  const x = a.chunks ?? [];
  const y = b.chunks ?? [];
  return a.size === b.size && x.length === y.length && x.every((id, i) => id === y[i]);
}

function compareListings(before: readonly FileEntry[], after: readonly FileEntry[]): Change[] {
  const old = new Map(before.map((e) => [e.path, e]));
  const changes: Change[] = [];
  for (const e of after) {
    const prev = old.get(e.path);
    old.delete(e.path);
    if (!prev) changes.push({ path: e.path, kind: "added", after: e });
    else if (prev.type !== e.type) changes.push({ path: e.path, kind: "type", before: prev, after: e });
    else if ((e.type === "file" && !sameChunks(prev, e)) || (e.type === "symlink" && prev.target !== e.target)) changes.push({ path: e.path, kind: "modified", before: prev, after: e });
    else if (prev.mode !== e.mode || (e.type === "file" && prev.mtimeMs !== e.mtimeMs)) changes.push({ path: e.path, kind: "meta", before: prev, after: e });
  }
  for (const prev of old.values()) changes.push({ path: prev.path, kind: "removed", before: prev });
  return changes.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}

/**
 * The listing a commit of `dir` would produce, without storing anything. A file whose size and
 * mtime match the snapshot's entry is taken as unchanged; others are read and chunked (nothing is stored).
 */
async function scanFolder(ctx: RepoContext, dir: string, excludes: string[], reference: FileEntry[], scrub: CommitScrub | undefined): Promise<FileEntry[]> {
  // The same walk a commit of the folder makes (its warnings matter only to a commit).
  const { entries: items } = await new SourceScan(dir, excludes).walked;
  const known = new Map(reference.map((e) => [e.path, e]));
  const scratch = await makeScratchDir(largestFile(items));
  const entries: FileEntry[] = [];
  const whole = new WholeFileReader();
  try {
    for (const item of items) {
      const st = item.stat;
      const base = { path: item.relPath, mode: Number(st.mode) & 0o7777, mtimeMs: Number(st.mtimeNs / 1000n) / 1000 };
      if (st.isDirectory()) entries.push({ ...base, type: "dir", size: 0 });
      else if (st.isSymbolicLink()) entries.push({ ...base, type: "symlink", size: 0, target: await fs.readlink(item.absPath) });
      else {
        const prev = known.get(item.relPath);
        const fileScrub = scrubFor(scrub, item.relPath);
        if (prev?.type === "file" && !prev.sqlite && !fileScrub?.rewrite && prev.size === Number(st.size) && prev.mtimeMs === base.mtimeMs) {
          entries.push({ ...prev, mode: base.mode });
          continue;
        }
        const content = await readContent(item.absPath, st, {
          keys: ctx.keys,
          chunker: await ctx.chunker(),
          groupPages: ctx.config.sqliteGroupPages,
          scratch,
          sink: async (data) => chunkId(ctx.keys, data),
          whole,
          ...(fileScrub ? { scrub: fileScrub } : {}),
        }).catch((err: unknown) => {
          if (fileUnreadable(err, item.absPath)) return undefined;
          throw err;
        });
        entries.push({ ...base, type: "file", size: content?.size ?? Number(st.size), ...(content ? { chunks: content.chunks } : {}) });
      }
    }
  } finally {
    await scratch.remove();
  }
  return entries;
}
