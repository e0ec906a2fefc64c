import { ObjectNotFoundError } from "../../errors.ts";
import { CONFIG_KEY, INDEX_PREFIX, SNAPSHOTS_PREFIX, idOf, isObjectId, manifestKey, packKey, packsInBucket } from "../../repo/layout.ts";
import { decodeBlob } from "../../repo/blob.ts";
import { ClawbackError } from "../../errors.ts";
import { decodeManifest, encodeManifest, type ManifestPack } from "../../repo/manifest.ts";
import { decodeSnapshot, type SnapshotRecord } from "../../repo/snapshot.ts";
import { acquireLock } from "../../repo/lock.ts";
import { getVerified, readHeaderByRange, syncIndex, tolerate } from "../../index/sync.ts";
import { deleteMany } from "../../storage/delete.ts";
import type { RepoContext } from "../context.ts";
import type { DamagedObject, RepairOptions, RepairResult } from "../types.ts";
import { snapshotNeeds } from "./snapshot-needs.ts";

/** What repair needs from the open repository beyond its context. */
export interface RepairConfig {
  /** The authenticated config bytes (from the key file's sealed copy, or `config` itself). */
  configBytes: Buffer;
  /** Set when `config` in the bucket is missing or differs from the authenticated copy. */
  configDamage?: string;
}

/**
 * Repair (invariant 12), like restic's `repair index` and `repair snapshots` but without
 * rewriting snapshots, under the exclusive lock (no commit or prune runs meanwhile):
 *
 * 1. `config` is written back from its authenticated copy when it is missing or differs.
 * 2. Pack manifests: when any is unreadable, names a pack that is missing or of another size, or
 *    when packs are in the bucket that no readable manifest lists, one new manifest is written
 *    covering every readable pack, then every old manifest is deleted. A pack a readable manifest
 *    lists is taken as that manifest says (of a truncated one, the blobs that are still inside
 *    it); any other from its own header. Packs whose header cannot be read are reported and left
 *    out (prune deletes them).
 * 3. Snapshot records that cannot be read are reported, and deleted only with
 *    removeDamagedSnapshots.
 *    With readData every pack is read whole and blobs that do not open are left out too.
 * 4. Readable snapshots that need blobs no readable pack holds are reported with the files
 *    affected, and left as they are: a later commit of the same source stores the missing
 *    content again, or `forget` removes them.
 *
 * The order (new manifest, then old ones deleted) leaves every snapshot readable if it stops.
 */
export async function repair(ctx: RepoContext, opts: RepairOptions = {}, config: RepairConfig): Promise<RepairResult> {
  const dryRun = opts.dryRun === true;
  const lock = await acquireLock(ctx.backend, ctx.keys, true, "repair");
  try {
    const result: RepairResult = {
      dryRun,
      configRestored: false,
      damagedManifests: [],
      unreadablePacks: [],
      damagedBlobs: [],
      packsFromHeaders: 0,
      manifestsWritten: [],
      manifestsRemoved: [],
      damagedSnapshots: [],
      incompleteSnapshots: [],
    };
    if (config.configDamage) {
      result.configRestored = true;
      if (!dryRun) await ctx.backend.put(CONFIG_KEY, config.configBytes);
    }
    await syncIndex(ctx.cache, ctx.backend, ctx.keys);

    // Pack manifests.
    const packSizes = await packsInBucket(ctx.backend);
    const listed = new Map<string, ManifestPack>();
    const oldManifests: string[] = [];
    let stale = false;
    for await (const obj of ctx.backend.list(INDEX_PREFIX)) {
      if (!isObjectId(idOf(obj.key))) continue;
      oldManifests.push(obj.key);
      const manifest = await tolerate(result.damagedManifests, obj.key, async () => decodeManifest(ctx.keys, await getVerified(ctx.backend, obj.key), obj.key));
      for (const pack of manifest?.packs ?? []) {
        const size = packSizes.get(pack.id);
        if (size === pack.size) listed.set(pack.id, pack);
        else {
          stale = true;
          // Truncated or rewritten: the manifest (authenticated, written with the pack) still says
          // where each blob was; those that lie inside what is left are kept (each is authenticated
          // when read), the rest are gone.
          if (size !== undefined && !listed.has(pack.id)) listed.set(pack.id, { id: pack.id, size, blobs: pack.blobs.filter((b) => b.offset + b.length <= size) });
        }
      }
    }
    const fromHeaders: ManifestPack[] = [];
    for (const [id, size] of packSizes) {
      if (listed.has(id)) continue;
      const blobs = await tolerate(result.unreadablePacks, packKey(id), () => readHeaderByRange(ctx.backend, ctx.keys, id, size));
      if (blobs) fromHeaders.push({ id, size, blobs });
      opts.progress?.progress?.({ phase: "repair", files: fromHeaders.length + result.unreadablePacks.length, bytes: 0 });
    }
    result.packsFromHeaders = fromHeaders.length;
    let packs = [...listed.values(), ...fromHeaders];
    if (opts.readData) {
      // Blobs that do not open are left out of the index, so the next commit of the same content
      // stores them again (and the snapshots that need them become whole again).
      // One pack in memory at a time.
      const read: ManifestPack[] = [];
      for (const [i, pack] of packs.entries()) {
        const bad = await unreadableBlobs(ctx, pack);
        if (bad.size) result.damagedBlobs.push({ object: packKey(pack.id), message: `${bad.size} of its ${pack.blobs.length} blobs cannot be read; left out of the index` });
        read.push(bad.size ? { ...pack, blobs: pack.blobs.filter((b) => !bad.has(b.id)) } : pack);
        opts.progress?.progress?.({ phase: "repair", files: i + 1, totalFiles: packs.length, bytes: 0 });
      }
      packs = read;
    }
    if (stale || result.damagedManifests.length > 0 || fromHeaders.length > 0 || result.damagedBlobs.length > 0) {
      const manifest = encodeManifest(ctx.keys, { packs });
      result.manifestsWritten = [manifestKey(manifest.id)];
      result.manifestsRemoved = oldManifests.filter((key) => key !== manifestKey(manifest.id));
      if (!dryRun) {
        await ctx.backend.put(manifestKey(manifest.id), manifest.bytes);
        await deleteMany(ctx.backend, result.manifestsRemoved);
        ctx.cache.clearPacks();
        ctx.cache.addManifest(manifest.id, packs);
      }
    }
    const usableBlobs = new Set(packs.flatMap((p) => p.blobs.map((b) => b.id)));

    // Snapshot records.
    const readable: [string, SnapshotRecord][] = [];
    for await (const obj of ctx.backend.list(SNAPSHOTS_PREFIX)) {
      const id = idOf(obj.key);
      if (!isObjectId(id)) continue;
      const damaged: DamagedObject[] = [];
      try {
        const record = await tolerate(damaged, obj.key, async () => decodeSnapshot(ctx.keys, await getVerified(ctx.backend, obj.key), obj.key));
        if (record) readable.push([id, record]);
      } catch (err) {
        if (!(err instanceof ObjectNotFoundError)) throw err; // forgotten meanwhile
      }
      for (const d of damaged) {
        const remove = opts.removeDamagedSnapshots === true && !dryRun;
        if (remove) await ctx.backend.delete(obj.key);
        result.damagedSnapshots.push({ ...d, removed: remove });
      }
    }

    // Snapshots that need what is gone.
    for (const [id, record] of readable.sort((a, b) => a[1].time.localeCompare(b[1].time))) {
      const needs = await snapshotNeeds(ctx, id, record, (blob) => usableBlobs.has(blob));
      if (needs.missingTree.length || needs.listingError || needs.files.length) {
        result.incompleteSnapshots.push({
          snapshot: id,
          files: needs.files,
          missingBlobs: needs.missing.size,
          ...(needs.listingError || needs.missingTree.length ? { listing: needs.listingError?.message ?? `${needs.missingTree.length} blobs of its listing are in no readable pack` } : {}),
        });
      }
    }
    if (!dryRun) await syncIndex(ctx.cache, ctx.backend, ctx.keys);
    return result;
  } finally {
    await lock.release();
  }
}

/** The blobs of a pack that do not open (read whole; a delta whose base cannot be read counts too). */
async function unreadableBlobs(ctx: RepoContext, pack: ManifestPack): Promise<Set<string>> {
  const key = packKey(pack.id);
  const bytes = await ctx.backend.get(key);
  const bad = new Set<string>();
  for (const e of pack.blobs) {
    try {
      const base = e.base ? (await ctx.reader.readMany([e.base]))[0] : undefined;
      decodeBlob(ctx.keys, e.id, bytes.subarray(e.offset, e.offset + e.length), key, { baseOf: (id) => (id === e.base ? base : undefined) });
    } catch (err) {
      if (!(err instanceof ClawbackError)) throw err;
      bad.add(e.id);
    }
  }
  return bad;
}
