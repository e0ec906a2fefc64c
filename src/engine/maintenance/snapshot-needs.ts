import { ClawbackError } from "../../errors.ts";
import type { SnapshotRecord } from "../../repo/snapshot.ts";
import type { RepoContext } from "../context.ts";
import { loadListing } from "../snapshots.ts";

/** What one snapshot needs that is not there: check and repair report it per snapshot. */
export interface SnapshotNeeds {
  /** The listing could not be read (this error names the object at fault). */
  listingError?: ClawbackError;
  /** Tree blobs of the listing that no usable pack holds. */
  missingTree: string[];
  /** Paths of files with at least one chunk (or a delta's base) that no usable pack holds. */
  files: string[];
  /** Every missing blob id (tree and content, bases included). */
  missing: Set<string>;
  /** Packs that hold blobs this snapshot needs. */
  packs: Set<string>;
}

/**
 * Walks a snapshot's listing and finds the blobs it needs that `usable` says cannot be read (a
 * blob counts only when its delta's base is usable too). Reads the listing through the index.
 */
export async function snapshotNeeds(ctx: RepoContext, id: string, record: SnapshotRecord, usable: (blob: string) => boolean, read?: (ids: string[]) => Promise<Buffer[]>): Promise<SnapshotNeeds> {
  const missing = new Set<string>();
  const packs = new Set<string>();
  const ok = (blob: string, depth = 0): boolean => {
    const loc = ctx.cache.blob(blob);
    if (loc) packs.add(loc.pack);
    // A chain of deltas deeper than the reader follows (or a cycle) cannot be decoded either.
    if (!loc || !usable(blob) || (loc.base !== undefined && (depth >= 4 || !ok(loc.base, depth + 1)))) {
      missing.add(blob);
      return false;
    }
    return true;
  };
  const missingTree = record.tree.filter((t) => !ok(t));
  if (missingTree.length) return { missingTree, files: [], missing, packs };
  let entries;
  try {
    entries = await loadListing(ctx, record, id, read);
  } catch (err) {
    if (!(err instanceof ClawbackError)) throw err;
    return { listingError: err, missingTree, files: [], missing, packs };
  }
  const files: string[] = [];
  for (const e of entries) {
    let whole = true;
    for (const c of e.chunks ?? []) whole = ok(c) && whole;
    if (!whole) files.push(e.path);
  }
  return { missingTree, files, missing, packs };
}
