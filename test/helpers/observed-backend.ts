import type { Backend, ByteRange } from "../../src/storage/backend.ts";

/**
 * Wraps a real backend and lets a test watch it: `beforePut` and `beforeGet` run (and are awaited)
 * before the inner call, to see what is stored or to make requests slow; `afterPut` and `afterGet` run once the inner
 * call has succeeded (to count what was read, or to cancel an operation at a given moment). Every
 * call goes through unchanged.
 */
export function observedBackend(
  inner: Backend,
  hooks: { beforePut?(key: string, body: Uint8Array): Promise<void> | void; afterPut?(key: string): void; beforeGet?(key: string, range?: ByteRange): Promise<void> | void; afterGet?(key: string, bytes: Uint8Array): void },
): Backend {
  return {
    location: inner.location,
    async put(key, body) {
      await hooks.beforePut?.(key, body);
      await inner.put(key, body);
      hooks.afterPut?.(key);
    },
    async get(key, range) {
      await hooks.beforeGet?.(key, range);
      const bytes = await inner.get(key, range);
      hooks.afterGet?.(key, bytes);
      return bytes;
    },
    head: (key) => inner.head(key),
    list: (prefix) => inner.list(prefix),
    delete: (key) => inner.delete(key),
    ...(inner.deleteMany ? { deleteMany: (keys: readonly string[]) => inner.deleteMany!(keys) } : {}),
    ...(inner.diagnose ? { diagnose: () => inner.diagnose!() } : {}),
    counts: () => inner.counts(),
    close: () => inner.close(),
  };
}
