import * as fs from "node:fs/promises";
import * as os from "node:os";
import { encodeManifest } from "../../repo/manifest.ts";
import { encodeSnapshot, type SnapshotRecord } from "../../repo/snapshot.ts";
import { manifestKey, packsInBucket, snapshotKey } from "../../repo/layout.ts";
import { acquireLock } from "../../repo/lock.ts";
import type { FileStat } from "../../index/cache.ts";
import { syncIndexBesidePrune } from "../../index/resync.ts";
import type { WriterStats } from "./blob-writer.ts";
import type { RepoContext } from "../context.ts";
import { contentDigest, SnapshotChecks } from "../sqlite/check-schedule.ts";
import { summarize } from "../snapshots.ts";
import { SourceScan } from "./source-scan.ts";
import { reusableListing, walkDigest } from "./listing-memo.ts";
import { adoptOrphanPacks } from "./orphan-packs.ts";
import { withoutScrubTag } from "./scrub-tag.ts";
import type { StoredFolder } from "./store-files.ts";
import type { CommitOptions, CommitResult, Warning } from "../types.ts";

/** What a commit that reuses its listing wrote: nothing. */
const NOTHING_WRITTEN: WriterStats = { addedBytes: 0, addedChunks: 0, addedDeltas: 0, addedPacks: 0 };

/**
 * Commit: walk the folder, store new chunks in packs, then the pack manifest, then the snapshot
 * record (invariant 1: a crash before the record leaves no snapshot listed, only unreferenced
 * packs for prune).
 */
export async function commit(ctx: RepoContext, dir: string, opts: CommitOptions = {}): Promise<CommitResult> {
  const started = Date.now();
  const excludes = opts.excludes ?? [];
  const scan = opts.scan ?? new SourceScan(dir, excludes);
  if (opts.scan) await opts.scan.assertFor(dir, excludes);
  const root = await scan.root;
  for (const notice of await scan.notices) opts.progress?.warn?.(notice);
  const lock = await acquireLock(ctx.backend, ctx.keys, false, "commit");
  try {
    // The bucket's packs are listed while the index syncs (a round trip less over B2); which are
    // orphans is decided after the sync.
    const inBucket = packsInBucket(ctx.backend);
    inBucket.catch(() => {}); // met below, unless the sync fails first
    await syncIndexBesidePrune(ctx.cache, ctx.backend, ctx.keys);
    await adoptOrphanPacks(ctx, await inBucket);
    const warnings: Warning[] = [];
    const warn = (w: Warning) => {
      warnings.push(w);
      opts.progress?.warn?.(w);
    };
    const { entries: items, warnings: walkWarnings, startedMs: walkedMs } = await scan.walked;
    walkWarnings.forEach(warn);
    const walk = walkDigest(items, excludes, opts.scrub?.id);
    const reused = walkWarnings.length === 0 ? await reusableListing(ctx.cache.listingMemo(root), walk, root) : undefined;
    // A folder found exactly as the last commit left it stores nothing: the modules that read and
    // store files are not even loaded.
    const listing: Omit<StoredFolder, "seen" | "checks" | "groupHashes"> & Partial<StoredFolder> = reused
      ? { ...reused, filesRead: 0, databasesReadInPlace: 0, trusted: true, packs: [], writerStats: NOTHING_WRITTEN }
      : await (await import("./store-files.ts")).storeFolder(ctx, root, items, walkedMs, warn, opts);
    const { tree, files, dirs, bytes, filesRead, databasesReadInPlace } = listing;
    const checks = listing.checks ?? reusedChecks(ctx, root, reused?.databases ?? []);

    // Packs this cache indexed from their own headers (no readable manifest lists them: a lost
    // manifest, or a commit that died before writing one) may hold blobs this snapshot reuses: this
    // commit's manifest lists them too, so no other machine's cache can miss them.
    const packs = [...listing.packs, ...ctx.cache.headerPacks()];
    let manifestId: string | undefined;
    // A machine that slept through half an hour of this commit may have had its lock set aside and
    // its packs (or those it reuses) deleted by a prune meanwhile: nothing is listed then.
    if (packs.length > 0) {
      const manifest = encodeManifest(ctx.keys, { packs });
      await lock.assertHeld();
      await ctx.backend.put(manifestKey(manifest.id), manifest.bytes);
      manifestId = manifest.id;
    }

    const parent = ctx.cache.latestSnapshot(root, opts.host ?? os.hostname());
    const record: SnapshotRecord = {
      version: 1,
      time: new Date().toISOString(),
      host: opts.host ?? os.hostname(),
      reason: opts.reason ?? "manual",
      tags: opts.tags ?? [],
      ...(parent ? { parent } : {}),
      root,
      rootMode: (await fs.stat(root)).mode & 0o7777,
      tree,
      excludes,
      stats: { files, dirs, bytes, ...listing.writerStats, filesRead, databasesReadInPlace, durationMs: Date.now() - started },
      sqliteCheck: checks.record(),
    };
    const snap = encodeSnapshot(ctx.keys, record);
    await lock.assertHeld();
    await ctx.backend.put(snapshotKey(snap.id), snap.bytes);

    if (manifestId) ctx.cache.addManifest(manifestId, packs);
    ctx.cache.putSnapshot(snap.id, record);
    ctx.cache.putDatabaseChecks(root, checks.results);
    if (listing.groupHashes) ctx.cache.putGroupHashes(root, listing.groupHashes);
    if (listing.seen) {
      ctx.cache.putFiles(root, listing.seen);
      // The memo's own walk digest covers the scrub; its database keys are compared with plain stats.
      const databases = listing.seen.filter((f) => f.file.sqlite).map(({ path: p, file: { size, mtimeNs, ctimeNs, ino, chunks } }): [string, FileStat, string] => [p, withoutScrubTag({ size, mtimeNs, ctimeNs, ino }), contentDigest(chunks)]);
      ctx.cache.putListingMemo(root, warnings.length === 0 && listing.trusted ? { walk, databases, tree, files, dirs, bytes } : undefined);
    }
    return { snapshot: summarize(snap.id, record), warnings };
  } finally {
    await lock.release();
  }
}

/**
 * The check state of a reused listing's databases (all unchanged: none was captured), from the
 * content digests the memo carries; a memo without them has each database's chunks looked up and
 * digested (with loading the whole stat cache, 31–34 ms of a no-change commit's main thread on the bench state).
 */
function reusedChecks(ctx: RepoContext, root: string, databases: readonly (readonly [string, unknown, string?])[]): SnapshotChecks {
  const checks = new SnapshotChecks();
  for (const [p, , content] of databases) checks.addContent(p, content ?? contentDigest(ctx.cache.cachedChunks(root, p) ?? []), undefined, ctx.cache.databaseCheck(root, p), Date.now());
  return checks;
}

