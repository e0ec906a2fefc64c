import { StorageError } from "../../src/errors.ts";
import type { Backend, LocalFile } from "../../src/storage/backend.ts";

/**
 * Wraps a real backend and makes chosen calls fail, as a crash or a lost connection would at
 * that moment. `failPut(n)` fails the n-th put and every later one (the process "died" there).
 */
export function faultyBackend(inner: Backend, rule: { failPutFrom?: number; failGetFrom?: number; getPrefix?: string }): Backend {
  let puts = 0;
  let gets = 0;
  return {
    location: inner.location,
    async put(key, body) {
      if (rule.failPutFrom !== undefined && ++puts >= rule.failPutFrom) throw new StorageError(`injected failure writing ${key}`, { operation: "put", key });
      return inner.put(key, body);
    },
    // A pack stored from its file counts as a put, and fails as one.
    ...(inner.putFile
      ? {
          async putFile(key: string, file: LocalFile) {
            if (rule.failPutFrom !== undefined && ++puts >= rule.failPutFrom) throw new StorageError(`injected failure writing ${key}`, { operation: "put", key });
            return inner.putFile!(key, file);
          },
        }
      : {}),
    async get(key, range) {
      if (rule.failGetFrom !== undefined && key.startsWith(rule.getPrefix ?? "") && ++gets >= rule.failGetFrom) throw new StorageError(`injected failure reading ${key}`, { operation: "get", key });
      return inner.get(key, range);
    },
    head: (k) => inner.head(k),
    list: (p) => inner.list(p),
    delete: (k) => inner.delete(k),
    counts: () => inner.counts(),
    close: () => inner.close(),
  };
}
