import { createHash } from "node:crypto";
import { IntegrityError } from "../errors.ts";
import type { Backend } from "../storage/backend.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { INDEX_PREFIX, SNAPSHOTS_PREFIX, idOf, manifestKey, snapshotKey, isObjectId } from "../repo/layout.ts";
import { decodeManifest } from "../repo/manifest.ts";
import { decodeSnapshot } from "../repo/snapshot.ts";
import type { IndexCache } from "./cache.ts";

/** Fetches an object named by the SHA-256 of its bytes and checks the name. */
export async function getVerified(backend: Backend, key: string): Promise<Uint8Array> {
  const bytes = await backend.get(key);
  if (createHash("sha256").update(bytes).digest("hex") !== idOf(key)) throw new IntegrityError(key, "content does not hash to its name");
  return bytes;
}

/**
 * Brings the cache up to date with the bucket: loads manifests and snapshot records it has not
 * seen; when one it knew is gone (a prune elsewhere), it drops the pack rows and reloads them all.
 */
export async function syncIndex(cache: IndexCache, backend: Backend, keys: RepoKeys): Promise<void> {
  const remote = new Set<string>();
  for await (const obj of backend.list(INDEX_PREFIX)) if (isObjectId(idOf(obj.key))) remote.add(idOf(obj.key));
  let known = cache.manifestIds();
  if ([...known].some((id) => !remote.has(id))) {
    cache.clearPacks();
    known = new Set();
  }
  for (const id of remote) {
    if (known.has(id)) continue;
    const key = manifestKey(id);
    cache.addManifest(id, decodeManifest(keys, await getVerified(backend, key), key).packs);
  }

  const snapshots = new Set<string>();
  for await (const obj of backend.list(SNAPSHOTS_PREFIX)) if (isObjectId(idOf(obj.key))) snapshots.add(idOf(obj.key));
  const cached = cache.snapshotIds();
  for (const id of cached) if (!snapshots.has(id)) cache.deleteSnapshot(id);
  for (const id of snapshots) {
    if (cached.has(id)) continue;
    const key = snapshotKey(id);
    cache.putSnapshot(id, decodeSnapshot(keys, await getVerified(backend, key), key));
  }
}
