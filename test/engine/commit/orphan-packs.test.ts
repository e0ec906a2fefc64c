// A commit cut off after uploading packs (before its manifest) leaves no snapshot; the next commit
// reuses those packs instead of uploading their blobs again, and everything restores.
import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { useScratch } from "../../helpers/scratch.ts";
import { faultyBackend } from "../../helpers/faulty-backend.ts";
import { prng, randomBytesFrom, describeTree } from "../../helpers/tree.ts";
import { DATA_PREFIX, INDEX_PREFIX } from "../../../src/repo/layout.ts";

describe("commit after an interrupted commit", () => {
  const scratch = useScratch();

  it("reuses the packs the interrupted commit uploaded (under 10 % uploaded again)", async () => {
    const src = await scratch.dir("src");
    const rand = prng(15);
    for (let i = 0; i < 6; i++) await fs.writeFile(path.join(src, `f${i}.bin`), randomBytesFrom(rand, 3 * 1024 * 1024));
    const t = await scratch.repo({ packSize: 1024 * 1024 });

    // The "process dies" at the first manifest put: every pack is up, no manifest, no snapshot.
    let manifestPuts = 0;
    const cut = await t.reopen({
      wrapBackend: (b) => {
        const faulty = faultyBackend(b, { failPutFrom: 1 });
        return {
          ...b,
          location: b.location,
          put: (key, body) => (key.startsWith(INDEX_PREFIX) ? (manifestPuts++, faulty.put(key, body)) : b.put(key, body)),
          get: (k, r) => b.get(k, r),
          head: (k) => b.head(k),
          list: (p) => b.list(p),
          delete: (k) => b.delete(k),
          counts: () => b.counts(),
          close: () => b.close(),
        };
      },
    });
    await expect(cut.commit(src, { reason: "shutdown" })).rejects.toThrow(/injected failure/);
    expect(manifestPuts).toBe(1);
    let orphanBytes = 0;
    for await (const o of t.raw.list(DATA_PREFIX)) orphanBytes += o.size;
    expect(orphanBytes).toBeGreaterThan(15 * 1024 * 1024);
    expect(await cut.log()).toEqual([]);

    // A fresh process (fresh cache) commits the same folder.
    const next = await t.reopen({ cacheDir: await scratch.dir("cache2") });
    const { snapshot } = await next.commit(src, { reason: "schedule" });
    expect(snapshot.stats.addedBytes).toBeLessThan(orphanBytes * 0.1);

    const out = await scratch.dir("out");
    await next.checkout(snapshot.id, out, { safetySnapshot: false });
    expect(await describeTree(out)).toEqual(await describeTree(src));
    expect((await next.check({ readData: true })).ok).toBe(true);
  });
});
