import { BlobType } from "../../repo/blob.ts";
import { DATA_PREFIX, INDEX_PREFIX, idOf, isObjectId, manifestKey, packKey } from "../../repo/layout.ts";
import { encodeManifest, type ManifestPack } from "../../repo/manifest.ts";
import { acquireLock } from "../../repo/lock.ts";
import { syncIndex } from "../../index/sync.ts";
import { deleteMany } from "../../storage/delete.ts";
import { BlobWriter } from "../commit/blob-writer.ts";
import type { RepoContext } from "../context.ts";
import { referencedBlobs } from "../references.ts";
import type { PruneOptions, PruneResult } from "../types.ts";
import { AbortedError, IntegrityError } from "../../errors.ts";
import type { SyncReport } from "../../index/sync.ts";

/** A pack whose live bytes are below this share of its blob bytes is rewritten. */
const REPACK_BELOW = 0.5;

/**
 * Prune (invariant 4), under an exclusive lock so no commit is in progress: packs no snapshot
 * needs are deleted, mostly-empty packs are rewritten. Order: new packs, then one consolidated
 * manifest, then the old manifests, then the old packs — a crash at any point leaves every
 * snapshot restorable (at worst some unreferenced packs stay for the next prune).
 */
export async function prune(ctx: RepoContext, opts: PruneOptions = {}): Promise<PruneResult> {
  const lock = await acquireLock(ctx.backend, ctx.keys, true, "prune");
  try {
    refuseOnDamage(await syncIndex(ctx.cache, ctx.backend, ctx.keys));
    const used = await referencedBlobs(ctx);
    // A blob a snapshot needs that no indexed pack holds may sit in a pack whose manifest is lost:
    // deleting "unindexed" packs then would destroy it (restic refuses here too).
    const unindexed = [...used].filter((id) => !ctx.cache.hasBlob(id));
    if (unindexed.length) throw new IntegrityError(INDEX_PREFIX, `prune refused: snapshots need ${unindexed.length} blobs that no indexed pack holds; run 'clawback repair' first (it names the snapshots and files affected)`);
    const kept: ManifestPack[] = [];
    const doomed: { id: string; size: number }[] = [];
    const repack: { pack: string; ids: string[]; size: number; liveBytes: number }[] = [];
    for (const pack of ctx.cache.packs()) {
      const entries = ctx.cache.packEntries(pack.id);
      const live = entries.filter((e) => used.has(e.id));
      const liveBytes = live.reduce((n, e) => n + e.length, 0);
      const allBytes = entries.reduce((n, e) => n + e.length, 0);
      if (live.length === 0) doomed.push(pack);
      else if (liveBytes < allBytes * REPACK_BELOW) repack.push({ pack: pack.id, ids: live.map((e) => e.id), size: pack.size, liveBytes });
      else kept.push({ id: pack.id, size: pack.size, blobs: entries });
    }

    // Packs in the bucket that no manifest lists: left by commits that died before their manifest.
    const indexed = new Set(ctx.cache.packs().map((p) => p.id));
    const orphans: { id: string; size: number }[] = [];
    for await (const obj of ctx.backend.list(DATA_PREFIX)) {
      const id = idOf(obj.key);
      if (isObjectId(id) && !indexed.has(id)) orphans.push({ id, size: obj.size });
    }

    const released = [...doomed, ...orphans, ...repack].reduce((n, p) => n + p.size, 0);
    const result: PruneResult = {
      packsDeleted: doomed.length + orphans.length,
      packsRepacked: repack.length,
      // Until the repack has run, what it writes again is estimated by the live blobs' bytes.
      bytesFreed: released - repack.reduce((n, r) => n + r.liveBytes, 0),
    };
    if (opts.dryRun || (doomed.length === 0 && repack.length === 0 && orphans.length === 0)) return result;

    // Cancelling stops between steps and releases the lock; each step leaves every snapshot
    // restorable (the order above), so what is left undone waits for the next prune.
    const stopIfAborted = () => {
      if (opts.signal?.aborted) throw new AbortedError();
    };
    const writer = new BlobWriter(ctx.backend, ctx.keys, ctx.cache, ctx.codec(), ctx.config.packSize, { dedupeAgainstIndex: false });
    for (const r of repack) {
      stopIfAborted();
      // A pack's live blobs in a few range requests (at most the pack's size in memory), not one each.
      // Deltas stay deltas of the same base (kept: it is referenced through them).
      const locs = r.ids.map((id) => ctx.cache.blob(id));
      const plainOf = await ctx.reader.readMap([...r.ids, ...locs.flatMap((loc) => (loc?.base ? [loc.base] : []))]);
      for (const [i, id] of r.ids.entries()) {
        const base = locs[i]?.base;
        await writer.add(locs[i]?.type ?? BlobType.data, plainOf.get(id)!, id, base ? { id: base, data: plainOf.get(base)! } : undefined);
      }
    }
    const fresh = await writer.flush();
    stopIfAborted();
    result.bytesFreed = released - fresh.reduce((n, p) => n + p.size, 0);

    const oldManifests = [];
    for await (const obj of ctx.backend.list(INDEX_PREFIX)) oldManifests.push(obj.key);
    const manifest = encodeManifest(ctx.keys, { packs: [...kept, ...fresh] });
    await ctx.backend.put(manifestKey(manifest.id), manifest.bytes);
    // From here the new manifest lists everything kept: the old ones and packs only wait to go.
    // Not stopped half-way: the cache is brought in line with the bucket below.
    await deleteMany(ctx.backend, oldManifests.filter((key) => key !== manifestKey(manifest.id)));
    await deleteMany(ctx.backend, [...doomed, ...orphans, ...repack.map((r) => ({ id: r.pack }))].map((p) => packKey(p.id)));

    ctx.cache.clearPacks();
    ctx.cache.addManifest(manifest.id, [...kept, ...fresh]);
    return result;
  } finally {
    await lock.release();
  }
}

/**
 * A snapshot record that cannot be read may need any pack: prune stops until it is removed
 * (forget, or repair --remove-damaged-snapshots) or readable again (invariant 4).
 */
function refuseOnDamage(sync: SyncReport): void {
  const snapshot = sync.damaged.find((d) => d.object.startsWith("snapshots/"));
  if (snapshot) throw new IntegrityError(snapshot.object, `prune refused: this snapshot record cannot be read, so what it needs is unknown (${snapshot.message}); remove it with 'clawback forget ${snapshot.object.slice(10, 22)}' or 'clawback repair --remove-damaged-snapshots'`);
}
