import type { RepoContext } from "../context.ts";
import type { RepoStats } from "../types.ts";

export async function repoStats(ctx: RepoContext): Promise<RepoStats> {
  const records = [...ctx.cache.snapshotRecords().values()];
  const logicalBytes = records.reduce((n, r) => n + r.stats.bytes, 0);
  let storedBytes = 0;
  for await (const obj of ctx.backend.list("")) storedBytes += obj.size;
  const { packs, blobs } = ctx.cache.counts();
  return { snapshots: records.length, logicalBytes, storedBytes, packs, blobs, dedupRatio: storedBytes > 0 ? logicalBytes / storedBytes : 0 };
}
