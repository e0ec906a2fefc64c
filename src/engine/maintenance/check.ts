import { randomInt } from "node:crypto";
import { ClawbackError, IntegrityError, UsageError } from "../../errors.ts";
import { CONFIG_KEY, DATA_PREFIX, INDEX_PREFIX, KEYS_PREFIX, SNAPSHOTS_PREFIX, idOf, packKey } from "../../repo/layout.ts";
import { parseConfig } from "../../repo/config.ts";
import { keyFileId, parseKeyFile } from "../../crypto/keyfile.ts";
import { decodeBlob } from "../../repo/blob.ts";
import { decodeManifest } from "../../repo/manifest.ts";
import { readPackHeader, type PackEntry } from "../../repo/pack.ts";
import { decodeSnapshot } from "../../repo/snapshot.ts";
import { getVerified, syncIndex } from "../../index/sync.ts";
import type { RepoContext } from "../context.ts";
import { loadListing } from "../snapshots.ts";
import type { CheckOptions, CheckResult } from "../types.ts";

/**
 * Structure check, always from the bucket (never trusting the cache): config, key files, every
 * manifest and snapshot record re-read and authenticated, every pack a manifest names present
 * with its size, every blob a snapshot needs indexed. With readData, packs are downloaded,
 * hashed and every blob opened.
 */
export async function check(ctx: RepoContext, opts: CheckOptions = {}): Promise<CheckResult> {
  const errors: string[] = [];
  const warnings: string[] = [];
  const attempt = async (what: () => Promise<void>) => {
    try {
      await what();
    } catch (err) {
      if (!(err instanceof ClawbackError)) throw err;
      errors.push(err.message);
    }
  };

  await attempt(async () => void parseConfig(await ctx.backend.get(CONFIG_KEY)));
  for await (const obj of ctx.backend.list(KEYS_PREFIX)) {
    await attempt(async () => {
      const bytes = await ctx.backend.get(obj.key);
      if (keyFileId(bytes) !== idOf(obj.key)) throw new IntegrityError(obj.key, "content does not hash to its name");
      parseKeyFile(obj.key, bytes);
    });
  }

  // Listings and deltas' bases are read through the cache: bring it up to date with the bucket.
  await attempt(() => syncIndex(ctx.cache, ctx.backend, ctx.keys));

  const packSizes = new Map<string, number>();
  for await (const obj of ctx.backend.list(DATA_PREFIX)) packSizes.set(idOf(obj.key), obj.size);

  const blobs = new Map<string, { pack: string; entry: PackEntry }>();
  const manifestPacks = new Map<string, PackEntry[]>();
  for await (const obj of ctx.backend.list(INDEX_PREFIX)) {
    await attempt(async () => {
      const manifest = decodeManifest(ctx.keys, await getVerified(ctx.backend, obj.key), obj.key);
      for (const pack of manifest.packs) {
        const size = packSizes.get(pack.id);
        if (size === undefined) errors.push(`${packKey(pack.id)} is listed in ${obj.key} but missing from the bucket`);
        else if (size !== pack.size) errors.push(`${packKey(pack.id)} has ${size} bytes, ${obj.key} says ${pack.size}`);
        manifestPacks.set(pack.id, pack.blobs);
        for (const entry of pack.blobs) blobs.set(entry.id, { pack: pack.id, entry });
      }
    });
  }
  for (const id of packSizes.keys()) if (!manifestPacks.has(id)) warnings.push(`${packKey(id)} is not listed in any manifest (left by an interrupted commit; prune removes it)`);
  // Nothing refers to a partial write, so it harms no snapshot: a warning, not an error.
  for (const prefix of [DATA_PREFIX, INDEX_PREFIX, SNAPSHOTS_PREFIX]) {
    for await (const p of ctx.backend.partialWrites?.(prefix) ?? []) warnings.push(`${p.key} (${p.size} bytes) is a partial write of an interrupted command (or of one running now); prune removes it`);
  }

  for await (const obj of ctx.backend.list(SNAPSHOTS_PREFIX)) {
    await attempt(async () => {
      const id = idOf(obj.key);
      const record = decodeSnapshot(ctx.keys, await getVerified(ctx.backend, obj.key), obj.key);
      const missingTree = record.tree.filter((t) => !blobs.has(t));
      if (missingTree.length) throw new ClawbackError(`${obj.key}: ${missingTree.length} listing blobs are in no pack`);
      let missing = 0;
      let missingBases = 0;
      for (const e of await loadListing(ctx, record, id)) {
        for (const c of e.chunks ?? []) {
          const found = blobs.get(c);
          if (!found) missing++;
          else if (found.entry.base && !blobs.has(found.entry.base)) missingBases++;
        }
      }
      if (missing) throw new ClawbackError(`${obj.key}: ${missing} content blobs are in no pack`);
      if (missingBases) throw new ClawbackError(`${obj.key}: ${missingBases} content blobs are deltas of blobs that are in no pack`);
    });
  }

  let packsRead = 0;
  const toRead = selectPacks([...manifestPacks.keys()].filter((id) => packSizes.has(id)).sort(), opts);
  for (const packId of toRead) {
    const key = packKey(packId);
    await attempt(async () => {
      const bytes = await ctx.backend.get(key);
      const header = readPackHeader(ctx.keys, packId, bytes, key);
      const listed = manifestPacks.get(packId) ?? [];
      const inHeader = new Map(header.map((e) => [e.id, e]));
      for (const e of listed) {
        const h = inHeader.get(e.id);
        if (!h || h.offset !== e.offset || h.length !== e.length || h.base !== e.base) throw new ClawbackError(`${key}: blob ${e.id.slice(0, 16)}… is not where the manifest says`);
      }
      // Deltas open against their bases, read (and verified) through the index.
      const bases = await ctx.reader.readMap(header.flatMap((e) => (e.base ? [e.base] : [])));
      for (const e of header) decodeBlob(ctx.keys, e.id, bytes.subarray(e.offset, e.offset + e.length), key, { baseOf: (base) => (base === e.base ? bases.get(base) : undefined) });
      packsRead++;
      opts.progress?.progress?.({ phase: "check", files: packsRead, totalFiles: toRead.length, bytes: 0 });
    });
  }

  // Backend-specific findings (B2: deleted objects kept as hidden versions without a lifecycle rule).
  await attempt(async () => void warnings.push(...((await ctx.backend.diagnose?.()) ?? [])));

  return { ok: errors.length === 0, errors, warnings, packsRead };
}

function selectPacks(ids: string[], opts: CheckOptions): string[] {
  if (opts.readDataSubset) {
    const slice = /^(\d+)\/(\d+)$/.exec(opts.readDataSubset);
    if (slice) {
      const n = Number(slice[1]);
      const m = Number(slice[2]);
      if (m < 1 || n < 1 || n > m) throw new UsageError(`--read-data-subset ${opts.readDataSubset}: n/m needs 1 ≤ n ≤ m`);
      return ids.filter((_, i) => i % m === n - 1);
    }
    const pct = /^(\d+(?:\.\d+)?)%$/.exec(opts.readDataSubset);
    if (pct && Number(pct[1]) > 0 && Number(pct[1]) <= 100) {
      const want = Math.max(1, Math.round((ids.length * Number(pct[1])) / 100));
      const pool = [...ids];
      const out: string[] = [];
      while (out.length < want && pool.length) out.push(pool.splice(randomInt(pool.length), 1)[0]!);
      return out;
    }
    throw new UsageError(`--read-data-subset ${opts.readDataSubset}: use n/m (e.g. 1/5) or a percentage (e.g. 10%)`);
  }
  return opts.readData ? ids : [];
}
