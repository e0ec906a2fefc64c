import type { RepoContext } from "./context.ts";
import { loadListing } from "./snapshots.ts";

/** Every blob id any snapshot needs: its listing's tree blobs and every file's chunks. */
export async function referencedBlobs(ctx: RepoContext): Promise<Set<string>> {
  const used = new Set<string>();
  for (const [id, record] of ctx.cache.snapshotRecords()) {
    for (const t of record.tree) used.add(t);
    for (const e of await loadListing(ctx, record, id)) for (const c of e.chunks ?? []) used.add(c);
  }
  return used;
}
