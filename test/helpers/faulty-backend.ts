import { StorageError } from "../../src/errors.ts";
import { LOCKS_PREFIX } from "../../src/repo/layout.ts";
import type { Backend, LocalFile } from "../../src/storage/backend.ts";

export interface FaultRule {
  /** The n-th put (under `putPrefix`, if given) fails, and every later one: the process "died" there. */
  failPutFrom?: number;
  putPrefix?: string;
  /** The n-th get (under `getPrefix`, if given) fails, and every later one. */
  failGetFrom?: number;
  getPrefix?: string;
  /**
   * The n-th change to the repository (a put, or the delete of one key, a batch delete counting
   * each of its keys) fails, and every later one: a command killed between two of its writes.
   * Lock writes and deletes pass and are not counted: they stand for the lock that the next
   * command finds stale and sets aside, which would otherwise hold a test off for 30 minutes.
   */
  failChangeFrom?: number;
  /**
   * The failing change is carried out before the failure is thrown: the store took it and the
   * answer was lost, or the process died just after it (before anything it would have done next).
   */
  failedChangeLands?: boolean;
  /** Awaited before the n-th change (1-based) is made or failed: another process acting at that moment. */
  beforeChange?(n: number): Promise<void> | void;
  /** Each counted change that reached the store, in order ("put <key>" or "delete <key>"). */
  changes?: string[];
}

/**
 * Wraps a real backend and makes chosen calls fail, as a crash or a lost connection would at
 * that moment. A failed call never reaches the real backend (unless `failedChangeLands` says so).
 */
export function faultyBackend(inner: Backend, rule: FaultRule): Backend {
  let puts = 0;
  let gets = 0;
  let changes = 0;
  /** Makes one change through `run`, or fails it (see FaultRule). */
  const change = async (op: "put" | "delete", key: string, run: () => Promise<void>): Promise<void> => {
    if (key.startsWith(LOCKS_PREFIX)) return run();
    const n = ++changes;
    await rule.beforeChange?.(n);
    const fails = rule.failChangeFrom !== undefined && n >= rule.failChangeFrom;
    if (!fails || (rule.failedChangeLands && n === rule.failChangeFrom)) {
      await run();
      rule.changes?.push(`${op} ${key}`);
    }
    if (fails) throw new StorageError(`injected failure: ${op} ${key}`, { operation: op, key });
  };
  const put = async (key: string, run: () => Promise<void>): Promise<void> => {
    if (rule.failPutFrom !== undefined && key.startsWith(rule.putPrefix ?? "") && ++puts >= rule.failPutFrom) throw new StorageError(`injected failure writing ${key}`, { operation: "put", key });
    return change("put", key, run);
  };
  return {
    location: inner.location,
    put: (key, body) => put(key, () => inner.put(key, body)),
    // A pack stored from its file counts as a put, and fails as one.
    ...(inner.putFile ? { putFile: (key: string, file: LocalFile) => put(key, () => inner.putFile!(key, file)) } : {}),
    async get(key, range) {
      if (rule.failGetFrom !== undefined && key.startsWith(rule.getPrefix ?? "") && ++gets >= rule.failGetFrom) throw new StorageError(`injected failure reading ${key}`, { operation: "get", key });
      return inner.get(key, range);
    },
    head: (k) => inner.head(k),
    list: (p) => inner.list(p),
    delete: (key) => change("delete", key, () => inner.delete(key)),
    // One key after the other, so that a failure at the n-th leaves exactly the n − 1 before it
    // deleted (storage/delete.ts would otherwise run four at once and finish some after the throw).
    async deleteMany(keys) {
      for (const key of keys) await change("delete", key, () => inner.delete(key));
    },
    ...(inner.partialWrites ? { partialWrites: (prefix: string) => inner.partialWrites!(prefix) } : {}),
    counts: () => inner.counts(),
    close: () => inner.close(),
  };
}
