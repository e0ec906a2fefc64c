import type { RepoContext } from "./context.ts";
import { loadListing } from "./snapshots.ts";

/**
 * Every blob id any snapshot needs: its listing's tree blobs, every file's chunks, and the bases
 * those are deltas of (which no listing names).
 */
export async function referencedBlobs(ctx: RepoContext): Promise<Set<string>> {
  const used = new Set<string>();
  for (const [id, record] of ctx.cache.snapshotRecords()) {
    for (const t of record.tree) used.add(t);
    for (const e of await loadListing(ctx, record, id)) for (const c of e.chunks ?? []) used.add(c);
  }
  // A Set iterates over what is added while it runs: bases of bases are reached too.
  for (const id of used) {
    const base = ctx.cache.blob(id)?.base;
    if (base) used.add(base);
  }
  return used;
}
