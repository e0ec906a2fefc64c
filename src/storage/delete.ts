import pLimit from "p-limit";
import type { Backend } from "./backend.ts";

/**
 * Removes many objects: one DeleteObjects request per 1,000 keys on S3 and B2 (`deleteMany`), or
 * single deletes, `concurrency` at a time, on backends without batch deletes. Absent objects are
 * not an error.
 */
export async function deleteMany(backend: Backend, keys: readonly string[], concurrency = 4): Promise<void> {
  if (keys.length === 0) return;
  if (backend.deleteMany) return backend.deleteMany(keys);
  const limit = pLimit(Math.max(1, concurrency));
  await Promise.all(keys.map((key) => limit(() => backend.delete(key))));
}
