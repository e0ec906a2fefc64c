import * as path from "node:path";
import { BlobType } from "../../repo/blob.ts";
import { DATA_PREFIX, INDEX_PREFIX, SNAPSHOTS_PREFIX, manifestKey, packKey, packsInBucket } from "../../repo/layout.ts";
import { encodeManifest, type ManifestPack } from "../../repo/manifest.ts";
import { acquireLock } from "../../repo/lock.ts";
import { syncIndexBesidePrune } from "../../index/resync.ts";
import { deleteMany } from "../../storage/delete.ts";
import type { PartialWrite } from "../../storage/backend.ts";
import { BlobWriter } from "../commit/blob-writer.ts";
import { PackFolder } from "../commit/pack-file.ts";
import type { RepoContext } from "../context.ts";
import { referencedBlobs } from "../references.ts";
import type { PruneOptions, PruneResult } from "../types.ts";
import { AbortedError, IntegrityError } from "../../errors.ts";
import type { SyncReport } from "../../index/sync.ts";

/** A pack whose live bytes are below this share of its blob bytes is rewritten. */
const REPACK_BELOW = 0.5;

/**
 * How long a partial write must have gone unwritten before prune removes it, when prune had to
 * set aside a lock whose holder may still be alive (another machine's, unrefreshed for 30
 * minutes: a suspended laptop). Otherwise prune's exclusive lock proves that no command that
 * writes packs, manifests or snapshot records is running, and partial writes go at once.
 */
const PARTIAL_WRITE_GRACE_MS = 60 * 60 * 1000;

/** Where commits and prunes write; other folders (keys/, locks/) are written without the exclusive lock. */
const PARTIAL_WRITE_PREFIXES = [DATA_PREFIX, INDEX_PREFIX, SNAPSHOTS_PREFIX];

interface Plan {
  kept: ManifestPack[];
  doomed: { id: string; size: number }[];
  repack: { pack: string; ids: string[]; size: number; liveBytes: number }[];
}

/**
 * Prune (invariant 4), under an exclusive lock so no commit is in progress: packs no snapshot
 * needs are deleted, mostly-empty packs are rewritten. It deletes before it writes, so that a
 * full disk gets room back first:
 *  1. leftovers no manifest lists (partial writes, packs of commits that died before their
 *     manifest): deleted at once;
 *  2. packs with nothing live: a manifest without them, then the old manifests, then the packs;
 *  3. mostly-empty packs: their live blobs into new packs, a manifest listing those, then the old
 *     manifest, then the old packs.
 * A crash at any point leaves every snapshot restorable and `check` clean (at worst some
 * unreferenced packs stay for the next prune).
 */
export async function prune(ctx: RepoContext, opts: PruneOptions = {}): Promise<PruneResult> {
  const lock = await acquireLock(ctx.backend, ctx.keys, true, "prune");
  try {
    refuseOnDamage(await syncIndexBesidePrune(ctx.cache, ctx.backend, ctx.keys));
    const used = await referencedBlobs(ctx);
    // A blob a snapshot needs that no indexed pack holds may sit in a pack whose manifest is lost:
    // deleting "unindexed" packs then would destroy it (restic refuses here too).
    const unindexed = [...used].filter((id) => !ctx.cache.hasBlob(id));
    if (unindexed.length) throw new IntegrityError(INDEX_PREFIX, `prune refused: snapshots need ${unindexed.length} blobs that no indexed pack holds; run 'clawback repair' first (it names the snapshots and files affected)`);
    const plan = planPacks(ctx, used);
    const { kept, doomed, repack } = plan;

    // Packs in the bucket that no manifest lists: left by commits that died before their manifest.
    const indexed = new Set(ctx.cache.packs().map((p) => p.id));
    const orphans = [...(await packsInBucket(ctx.backend))].filter(([id]) => !indexed.has(id)).map(([id, size]) => ({ id, size }));
    const unsure = lock.setAside.some((l) => !l.holderGone);
    const partials = await partialWrites(ctx, unsure ? Date.now() - PARTIAL_WRITE_GRACE_MS : Infinity);

    const released = [...doomed, ...orphans, ...repack, ...partials].reduce((n, p) => n + p.size, 0);
    const result: PruneResult = {
      packsDeleted: doomed.length + orphans.length,
      packsRepacked: repack.length,
      partialWritesDeleted: partials.length,
      // Until the repack has run, what it writes again is estimated by the live blobs' bytes.
      bytesFreed: released - repack.reduce((n, r) => n + r.liveBytes, 0),
    };
    if (opts.dryRun || (doomed.length === 0 && repack.length === 0 && orphans.length === 0 && partials.length === 0)) return result;

    // Cancelling stops between steps and releases the lock; each step leaves every snapshot
    // restorable (the order above), so what is left undone waits for the next prune.
    const stopIfAborted = () => {
      if (opts.signal?.aborted) throw new AbortedError();
    };

    // 1. Nothing refers to these: they go before anything is written.
    await deleteMany(ctx.backend, [...partials.map((p) => p.key), ...orphans.map((p) => packKey(p.id))]);
    stopIfAborted();

    // 2. Not stopped between the manifest and the deletes: the cache is brought in line below.
    if (doomed.length > 0) {
      const repackSources = repack.map((r) => ({ id: r.pack, size: r.size, blobs: ctx.cache.packEntries(r.pack) }));
      await replaceManifests(ctx, [...kept, ...repackSources]);
      await deleteMany(ctx.backend, doomed.map((p) => packKey(p.id)));
      stopIfAborted();
    }

    // 3.
    if (repack.length > 0) {
      const packFolder = await PackFolder.make(path.dirname(ctx.cache.file));
      const writer = new BlobWriter(ctx.backend, ctx.keys, ctx.cache, ctx.codec(), ctx.config.packSize, packFolder, { dedupeAgainstIndex: false });
      let fresh: ManifestPack[];
      try {
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
        fresh = await writer.flush();
      } finally {
        writer.discard();
        await packFolder.remove();
      }
      stopIfAborted();
      result.bytesFreed = released - fresh.reduce((n, p) => n + p.size, 0);
      await replaceManifests(ctx, [...kept, ...fresh]);
      await deleteMany(ctx.backend, repack.map((r) => packKey(r.pack)));
    }
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

/**
 * Sorts the indexed packs into kept, doomed (nothing live) and repack (less than half live).
 *
 * A kept pack is kept whole, its dead blobs too; a dead delta in it still needs its base, or
 * `check --read-data` could not open it: such bases join `used` (and the sorting runs again, as
 * the pack holding a base may change places). A base is always a full blob, so this ends. A kept
 * pack with a dead delta whose base is in no pack at all (left so by an older prune) is
 * repacked instead, which drops the delta. The bases cost space only until their deltas' pack is
 * rewritten or deleted; dropping the deltas at once would mean rewriting whole packs for a few
 * dead blobs, and writing is what a prune on a full disk cannot do.
 */
function planPacks(ctx: RepoContext, used: Set<string>): Plan {
  const packs = ctx.cache.packs().map((p) => ({ ...p, entries: ctx.cache.packEntries(p.id) }));
  for (;;) {
    const plan: Plan = { kept: [], doomed: [], repack: [] };
    let grew = false;
    for (const pack of packs) {
      const live = pack.entries.filter((e) => used.has(e.id));
      const liveBytes = live.reduce((n, e) => n + e.length, 0);
      const allBytes = pack.entries.reduce((n, e) => n + e.length, 0);
      const deadDeltas = pack.entries.filter((e) => e.base && !used.has(e.id));
      const baseLost = deadDeltas.some((e) => !ctx.cache.hasBlob(e.base!));
      if (live.length === 0) plan.doomed.push({ id: pack.id, size: pack.size });
      else if (liveBytes < allBytes * REPACK_BELOW || baseLost) plan.repack.push({ pack: pack.id, ids: live.map((e) => e.id), size: pack.size, liveBytes });
      else {
        plan.kept.push({ id: pack.id, size: pack.size, blobs: pack.entries });
        for (const e of deadDeltas) {
          if (used.has(e.base!)) continue;
          used.add(e.base!);
          grew = true;
        }
      }
    }
    if (!grew) return plan;
  }
}

/**
 * Partial writes under the folders commits and prunes write to, last written to before
 * `writtenBefore` (Infinity: all of them).
 */
async function partialWrites(ctx: RepoContext, writtenBefore: number): Promise<PartialWrite[]> {
  const found: PartialWrite[] = [];
  if (!ctx.backend.partialWrites) return found;
  for (const prefix of PARTIAL_WRITE_PREFIXES) for await (const p of ctx.backend.partialWrites(prefix)) if (p.modifiedMs < writtenBefore) found.push(p);
  return found;
}

/** Writes one manifest listing `packs`, then deletes every other manifest, and indexes it alone. */
async function replaceManifests(ctx: RepoContext, packs: ManifestPack[]): Promise<void> {
  const oldManifests = [];
  for await (const obj of ctx.backend.list(INDEX_PREFIX)) oldManifests.push(obj.key);
  const manifest = encodeManifest(ctx.keys, { packs });
  await ctx.backend.put(manifestKey(manifest.id), manifest.bytes);
  await deleteMany(ctx.backend, oldManifests.filter((key) => key !== manifestKey(manifest.id)));
  ctx.cache.clearPacks();
  ctx.cache.addManifest(manifest.id, packs);
}
