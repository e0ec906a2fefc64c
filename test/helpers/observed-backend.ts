import type { Backend, ByteRange } from "../../src/storage/backend.ts";

/**
 * Wraps a real backend and lets a test watch it: `beforePut` and `beforeGet` run (and are awaited)
 * before the inner call, to see what is stored or to make requests slow; `afterPut` and `afterGet`
 * run once the inner call has succeeded (to count what was read, or to cancel an operation at a
 * given moment). Every call goes through unchanged.
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

/** Reads of one kind in flight: now, and the most at once (in requests and in bytes asked for). */
export interface InFlight {
  now: number;
  most: number;
  bytes: number;
  mostBytes: number;
}

/**
 * Hooks for observedBackend that hold every read `kindOf` names `ms` long, as a distant store
 * would, and count, per kind, how many are in flight at once.
 */
export function heldReads(ms: number, kindOf: (key: string) => string | undefined): { hooks: Parameters<typeof observedBackend>[1]; seen: Map<string, InFlight> } {
  const seen = new Map<string, InFlight>();
  const of = (kind: string) => seen.get(kind) ?? seen.set(kind, { now: 0, most: 0, bytes: 0, mostBytes: 0 }).get(kind)!;
  return {
    seen,
    hooks: {
      async beforeGet(key, range) {
        const kind = kindOf(key);
        if (kind === undefined) return;
        const f = of(kind);
        f.most = Math.max(f.most, ++f.now);
        f.mostBytes = Math.max(f.mostBytes, (f.bytes += range?.length ?? 0));
        await new Promise((resolve) => setTimeout(resolve, ms));
      },
      afterGet(key, bytes) {
        const kind = kindOf(key);
        if (kind === undefined) return;
        const f = of(kind);
        f.now--;
        f.bytes -= bytes.byteLength;
      },
    },
  };
}
