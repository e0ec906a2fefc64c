// Object names under the repository prefix (format version 1).

import type { Backend } from "../storage/backend.ts";

export const CONFIG_KEY = "config";
export const KEYS_PREFIX = "keys/";
export const DATA_PREFIX = "data/";
export const INDEX_PREFIX = "index/";
export const SNAPSHOTS_PREFIX = "snapshots/";
export const LOCKS_PREFIX = "locks/";

export const packKey = (id: string) => `${DATA_PREFIX}${id.slice(0, 2)}/${id}`;
export const manifestKey = (id: string) => `${INDEX_PREFIX}${id}`;
export const snapshotKey = (id: string) => `${SNAPSHOTS_PREFIX}${id}`;
export const keyFileKey = (id: string) => `${KEYS_PREFIX}${id}`;
export const lockKey = (id: string) => `${LOCKS_PREFIX}${id}`;

/** The id part of an object key ("data/ab/ab12…" → "ab12…"). */
export function idOf(key: string): string {
  return key.slice(key.lastIndexOf("/") + 1);
}

const HEX64 = /^[0-9a-f]{64}$/;
export const isObjectId = (s: string) => HEX64.test(s);

/** The objects under `prefix` whose names are ids, by id, with their sizes (other names there are not the repository's). */
export async function objectsInBucket(backend: Pick<Backend, "list">, prefix: string): Promise<Map<string, number>> {
  const objects = new Map<string, number>();
  for await (const obj of backend.list(prefix)) if (isObjectId(idOf(obj.key))) objects.set(idOf(obj.key), obj.size);
  return objects;
}

/** The packs in the bucket, by id, with their sizes. */
export function packsInBucket(backend: Pick<Backend, "list">): Promise<Map<string, number>> {
  return objectsInBucket(backend, DATA_PREFIX);
}
