import { IntegrityError, SnapshotNotFoundError } from "../errors.ts";
import { SNAPSHOTS_PREFIX, idOf, snapshotKey } from "../repo/layout.ts";
import type { SnapshotRecord } from "../repo/snapshot.ts";
import type { RepoContext } from "./context.ts";
import { assertNoPathThroughLinks, assertSafeEntry, parseListing } from "./listing.ts";
import type { FileEntry, SnapshotSummary } from "./types.ts";

export function summarize(id: string, r: SnapshotRecord): SnapshotSummary {
  return { id, time: r.time, host: r.host, reason: r.reason, tags: r.tags, ...(r.parent ? { parent: r.parent } : {}), root: r.root, stats: r.stats, ...(r.sqliteCheck ? { sqliteCheck: r.sqliteCheck } : {}) };
}

/** Every snapshot, oldest first. */
export function listSnapshots(ctx: RepoContext): SnapshotSummary[] {
  return [...ctx.cache.snapshotRecords()].map(([id, r]) => summarize(id, r)).sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
}

/**
 * Resolves "latest", "latest~N", a full id or a unique id prefix. "latest" counts only snapshots
 * that are not safety snapshots: a checkout's own safety snapshot must not become the "latest"
 * that a second "restore latest" would bring back. Safety snapshots are named by id. An id whose
 * record exists but cannot be read (the last sync skipped it) is an IntegrityError naming it.
 */
export function resolveSnapshot(ctx: RepoContext, ref: string): { id: string; record: SnapshotRecord } {
  const { id, record } = matchSnapshot(ctx, ref);
  if (!record) {
    const damage = ctx.cache.damaged().find((d) => d.object === snapshotKey(id));
    throw new IntegrityError(snapshotKey(id), `the snapshot record cannot be read (${damage?.message ?? "damaged"}); 'clawback repair' reports it and 'clawback forget ${id.slice(0, 12)}' removes it`);
  }
  return { id, record };
}

/** Ids of snapshot records that are in the bucket but could not be read. */
function unreadableSnapshots(ctx: RepoContext): string[] {
  return ctx.cache.damaged().flatMap((d) => (d.object.startsWith(SNAPSHOTS_PREFIX) ? [idOf(d.object)] : []));
}

/** As resolveSnapshot, but an unreadable record resolves too (with no record): what forget needs. */
export function matchSnapshot(ctx: RepoContext, ref: string): { id: string; record?: SnapshotRecord } {
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
  const matches = [...new Set([...records.keys(), ...unreadableSnapshots(ctx)])].filter((id) => id.startsWith(prefix));
  if (matches.length === 0) throw new SnapshotNotFoundError(ref);
  if (matches.length > 1) throw new SnapshotNotFoundError(ref, `prefix matches ${matches.length} snapshots; give more digits`);
  const record = records.get(matches[0]!);
  return { id: matches[0]!, ...(record ? { record } : {}) };
}

/** The snapshot's full listing, every entry checked against invariant 10. */
export async function loadListing(ctx: RepoContext, record: SnapshotRecord, snapshotId: string, read = (ids: string[]) => ctx.reader.readMany(ids)): Promise<FileEntry[]> {
  const entries = parseListing(Buffer.concat(await read(record.tree)), `listing of snapshot ${snapshotId}`);
  for (const e of entries) assertSafeEntry(e);
  assertNoPathThroughLinks(entries);
  return entries;
}
