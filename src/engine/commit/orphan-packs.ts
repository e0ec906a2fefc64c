import { manifestKey } from "../../repo/layout.ts";
import { encodeManifest, type ManifestPack } from "../../repo/manifest.ts";
import { readHeaderByRange } from "../../index/sync.ts";
import type { RepoContext } from "../context.ts";

/**
 * Packs in the bucket that no manifest lists were uploaded by a commit that never got to its
 * manifest: a crash, or a shutdown push cut off by the gateway's budget. A commit lists them in a
 * manifest of its own before it stores anything, so their blobs are reused instead of uploaded
 * again (write order still holds: the packs exist before the manifest that names them). Only the
 * header is read, by two ranged reads from the pack's end. A pack whose header does not open is
 * left alone (for check and prune to report and remove). `inBucket`: the bucket's packs by id
 * and size (packsInBucket), listed under the commit's lock.
 */
export async function adoptOrphanPacks(ctx: RepoContext, inBucket: ReadonlyMap<string, number>): Promise<ManifestPack[]> {
  const indexed = new Set(ctx.cache.packs().map((p) => p.id));
  const adopted: ManifestPack[] = [];
  for (const [id, size] of inBucket) {
    if (indexed.has(id)) continue;
    try {
      adopted.push({ id, size, blobs: await readHeaderByRange(ctx.backend, ctx.keys, id, size) });
    } catch {
      continue;
    }
  }
  if (adopted.length === 0) return adopted;
  const manifest = encodeManifest(ctx.keys, { packs: adopted });
  await ctx.backend.put(manifestKey(manifest.id), manifest.bytes);
  ctx.cache.addManifest(manifest.id, adopted);
  return adopted;
}
