import { ConcurrentPruneError, ObjectNotFoundError } from "../errors.ts";
import type { Backend } from "../storage/backend.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { INDEX_PREFIX, SNAPSHOTS_PREFIX } from "../repo/layout.ts";
import type { IndexCache } from "./cache.ts";
import { syncIndex } from "./sync.ts";

/**
 * syncIndex, for a command that holds no exclusive lock: a prune (or forget) elsewhere may delete
 * a manifest or snapshot record between the listing that named it and the read of it. That is no
 * damage: a prune writes its new manifest before it deletes the old ones, so listing again finds
 * the repository whole. Once is retried; a second such miss is reported as ConcurrentPruneError,
 * never as a missing object (which would read as corruption).
 */
export async function syncIndexBesidePrune(cache: IndexCache, backend: Backend, keys: RepoKeys): Promise<void> {
  try {
    await syncIndex(cache, backend, keys);
    return;
  } catch (err) {
    if (!deletedMeanwhile(err)) throw err;
  }
  try {
    await syncIndex(cache, backend, keys);
  } catch (err) {
    if (deletedMeanwhile(err)) throw new ConcurrentPruneError(backend.location, err.key, { cause: err });
    throw err;
  }
}

function deletedMeanwhile(err: unknown): err is ObjectNotFoundError {
  return err instanceof ObjectNotFoundError && (err.key.startsWith(INDEX_PREFIX) || err.key.startsWith(SNAPSHOTS_PREFIX));
}
