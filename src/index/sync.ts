import { createHash } from "node:crypto";
import pLimit from "p-limit";
import { IntegrityError, ObjectNotFoundError } from "../errors.ts";
import type { Backend } from "../storage/backend.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { INDEX_PREFIX, SNAPSHOTS_PREFIX, idOf, manifestKey, objectsInBucket, packKey, packsInBucket, snapshotKey } from "../repo/layout.ts";
import { decodeManifest, type ManifestPack } from "../repo/manifest.ts";
import { PACK_TRAILER_BYTES, packHeaderFromBytes, packHeaderLength } from "../repo/pack.ts";
import { decodeSnapshot } from "../repo/snapshot.ts";
import type { IndexCache } from "./cache.ts";

/** Fetches an object named by the SHA-256 of its bytes and checks the name. */
export async function getVerified(backend: Backend, key: string): Promise<Uint8Array> {
  const bytes = await backend.get(key);
  if (createHash("sha256").update(bytes).digest("hex") !== idOf(key)) throw new IntegrityError(key, "content does not hash to its name");
  return bytes;
}

/** An object that could not be read and was skipped (invariant 12), by its name in the repository. */
export interface DamagedObject {
  object: string;
  message: string;
}

export interface SyncReport {
  /** Pack manifests, snapshot records and pack headers that failed authentication, each skipped. */
  damaged: DamagedObject[];
  /** Packs indexed from their own headers because no readable manifest lists them. */
  packsFromHeaders: number;
}

/**
 * Objects a sync fetches at once. A new machine (or a cache many commits behind) loads every
 * manifest and snapshot record it has not seen, each a round trip: one at a time, a year of daily
 * snapshots took minutes over B2.
 */
const FETCH_CONCURRENCY = 16;

/**
 * `read(item)` for each item, FETCH_CONCURRENCY at a time, each result handed to `use` in the
 * items' order. The first failure (in that order) is thrown, and reads not yet started are dropped.
 */
async function fetchInOrder<T, R>(items: readonly T[], read: (item: T) => Promise<R>, use: (item: T, result: R) => void): Promise<void> {
  const limit = pLimit(FETCH_CONCURRENCY);
  const reads = items.map((item) => {
    const result = limit(() => read(item));
    result.catch(() => {}); // met in order below
    return result;
  });
  try {
    for (const [i, item] of items.entries()) use(item, await reads[i]!);
  } finally {
    limit.clearQueue();
  }
}

/** Runs `read`; an IntegrityError is recorded as damage to `object` instead of thrown. */
export async function tolerate<T>(damaged: DamagedObject[], object: string, read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (!(err instanceof IntegrityError)) throw err;
    damaged.push({ object, message: err.message });
    return undefined;
  }
}

/**
 * Brings the cache up to date with the bucket: loads manifests and snapshot records it has not
 * seen; when one it knew is gone (a prune elsewhere), it drops the pack rows and reloads them all.
 *
 * One damaged object costs only what depends on it (invariant 12): a manifest or snapshot record
 * that fails authentication is reported in the result and skipped. After a full reload, or when a
 * manifest was unreadable, packs that no readable manifest lists are indexed from their own
 * headers (two range reads each), so their blobs stay readable.
 */
export async function syncIndex(cache: IndexCache, backend: Backend, keys: RepoKeys): Promise<SyncReport> {
  const damaged: DamagedObject[] = [];
  // Packs this cache indexed from their own headers are in no manifest, so a prune elsewhere that
  // deleted them (leftovers of a commit that died) changed no manifest: only the bucket's listing
  // shows they are gone. Their blobs must leave the index, or the next commit would take them
  // from a pack that no longer exists.
  const fromHeaders = cache.headerPackIds();
  // The listings go out together: over B2 each is a round trip, and every command syncs first.
  // (Snapshots listed at the same moment as the manifests, not after loading them, also leave
  // less time for a snapshot to appear whose manifest was not listed.)
  const [remote, snapshots, inBucket] = await Promise.all([
    objectsInBucket(backend, INDEX_PREFIX),
    objectsInBucket(backend, SNAPSHOTS_PREFIX),
    fromHeaders.length > 0 ? packsInBucket(backend) : undefined,
  ]);
  let known = cache.manifestIds();
  let fullReload = known.size === 0;
  const headerPackGone = fromHeaders.some((id) => !inBucket!.has(id));
  if (headerPackGone || [...known].some((id) => !remote.has(id))) {
    cache.clearPacks();
    known = new Set();
    fullReload = true;
  }
  // Added in the listing's order (a blob in two packs keeps the first location added).
  await fetchInOrder(
    [...remote.keys()].filter((id) => !known.has(id)).map((id) => ({ id, key: manifestKey(id) })),
    ({ key }) => tolerate(damaged, key, async () => decodeManifest(keys, await getVerified(backend, key), key)),
    ({ id }, manifest) => {
      if (manifest) cache.addManifest(id, manifest.packs);
    },
  );
  let packsFromHeaders = 0;
  if (fullReload || damaged.length > 0) {
    const indexed = new Set(cache.packs().map((p) => p.id));
    const uncovered: ManifestPack[] = [];
    await fetchInOrder(
      [...(inBucket ?? (await packsInBucket(backend)))].filter(([id]) => !indexed.has(id)),
      ([id, size]) =>
        tolerate(damaged, packKey(id), () => readHeaderByRange(backend, keys, id, size)).catch((err: unknown) => {
          if (err instanceof ObjectNotFoundError) return undefined; // deleted meanwhile (a prune elsewhere)
          throw err;
        }),
      ([id, size], blobs) => {
        if (blobs) uncovered.push({ id, size, blobs });
      },
    );
    if (uncovered.length) cache.addHeaderPacks(uncovered);
    packsFromHeaders = uncovered.length;
  }

  const cached = cache.snapshotIds();
  for (const id of cached) if (!snapshots.has(id)) cache.deleteSnapshot(id);
  await fetchInOrder(
    [...snapshots.keys()].filter((id) => !cached.has(id)).map((id) => ({ id, key: snapshotKey(id) })),
    ({ key }) =>
      tolerate(damaged, key, async () => decodeSnapshot(keys, await getVerified(backend, key), key)).catch((err: unknown) => {
        // Listed, then gone: forgotten meanwhile by another process.
        if (err instanceof ObjectNotFoundError) return undefined;
        throw err;
      }),
    ({ id }, record) => {
      if (record) cache.putSnapshot(id, record);
    },
  );
  cache.setDamaged(damaged);
  return { damaged, packsFromHeaders };
}

/**
 * A pack's header, read by range from its end (the trailer, then the sealed header), without the
 * blobs. The header is authenticated; each blob is authenticated when it is read.
 */
export async function readHeaderByRange(backend: Backend, keys: RepoKeys, packId: string, size: number): Promise<ManifestPack["blobs"]> {
  const key = packKey(packId);
  if (size < PACK_TRAILER_BYTES) throw new IntegrityError(key, "pack too short");
  const trailer = await backend.get(key, { offset: size - PACK_TRAILER_BYTES, length: PACK_TRAILER_BYTES });
  const length = packHeaderLength(trailer, size, key);
  const sealed = await backend.get(key, { offset: size - PACK_TRAILER_BYTES - length, length });
  if (sealed.byteLength !== length) throw new IntegrityError(key, "short range read");
  return packHeaderFromBytes(keys, sealed, size, key);
}
