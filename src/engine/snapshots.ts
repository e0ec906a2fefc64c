import { SnapshotNotFoundError } from "../errors.ts";
import type { SnapshotRecord } from "../repo/snapshot.ts";
import type { RepoContext } from "./context.ts";
import { assertSafeEntry, parseListing } from "./listing.ts";
import type { FileEntry, SnapshotSummary } from "./types.ts";

export function summarize(id: string, r: SnapshotRecord): SnapshotSummary {
  return { id, time: r.time, host: r.host, reason: r.reason, tags: r.tags, ...(r.parent ? { parent: r.parent } : {}), root: r.root, stats: r.stats };
}

/** Every snapshot, oldest first. */
export function listSnapshots(ctx: RepoContext): SnapshotSummary[] {
  return [...ctx.cache.snapshotRecords()].map(([id, r]) => summarize(id, r)).sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
}

/**
 * Resolves "latest", "latest~N", a full id or a unique id prefix. "latest" counts only snapshots
 * that are not safety snapshots: a checkout's own safety snapshot must not become the "latest"
 * that a second "restore latest" would bring back. Safety snapshots are named by id.
 */
export function resolveSnapshot(ctx: RepoContext, ref: string): { id: string; record: SnapshotRecord } {
  const records = ctx.cache.snapshotRecords();
  const latest = /^latest(?:~(\d+))?$/.exec(ref);
  if (latest) {
    const sorted = listSnapshots(ctx).filter((s) => s.reason !== "safety");
    const back = Number(latest[1] ?? 0);
    const pick = sorted[sorted.length - 1 - back];
    if (!pick) throw new SnapshotNotFoundError(ref, sorted.length === 0 ? "the repository has no snapshots (besides safety snapshots)" : `only ${sorted.length} snapshots exist`);
    return { id: pick.id, record: records.get(pick.id)! };
  }
  if (!/^[0-9a-f]{4,64}$/i.test(ref)) throw new SnapshotNotFoundError(ref, "not a snapshot id, id prefix (4+ hex digits) or 'latest'");
  // Ids are written in lower case; a prefix copied in upper case names the same snapshot.
  const prefix = ref.toLowerCase();
  const matches = [...records.keys()].filter((id) => id.startsWith(prefix));
  if (matches.length === 0) throw new SnapshotNotFoundError(ref);
  if (matches.length > 1) throw new SnapshotNotFoundError(ref, `prefix matches ${matches.length} snapshots; give more digits`);
  return { id: matches[0]!, record: records.get(matches[0]!)! };
}

/** The snapshot's full listing, every entry checked against invariant 10. */
export async function loadListing(ctx: RepoContext, record: SnapshotRecord, snapshotId: string): Promise<FileEntry[]> {
  const entries = parseListing(Buffer.concat(await ctx.reader.readMany(record.tree)), `listing of snapshot ${snapshotId}`);
  for (const e of entries) assertSafeEntry(e);
  return entries;
}
