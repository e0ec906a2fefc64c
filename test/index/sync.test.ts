import { describe, expect, it } from "vitest";
import * as path from "node:path";
import type { Backend } from "../../src/storage/backend.ts";
import { describeTree, makeRandomTree } from "../helpers/tree.ts";
import { useScratch } from "../helpers/scratch.ts";

describe("syncing the index cache", () => {
  const scratch = useScratch();

  it("a manifest that a prune elsewhere replaces between the listing and the read is not an error: the index is listed again", async () => {
    const t = await scratch.repo();
    const srcA = await scratch.dir("a");
    const srcB = await scratch.dir("b");
    await makeRandomTree(srcA, 41, { files: 8, maxSize: 20_000 });
    await makeRandomTree(srcB, 42, { files: 8, maxSize: 20_000 });
    const a = (await t.repo.commit(srcA)).snapshot.id;
    const b = (await t.repo.commit(srcB)).snapshot.id;
    await t.repo.forget([a]);
    await t.repo.close();

    const pruner = await t.reopen({ cacheDir: await scratch.dir("pruner") });
    let pruned = false;
    // The first manifest read of this process waits for the other process's prune to finish.
    const racing = (inner: Backend): Backend => ({
      ...inner,
      location: inner.location,
      put: (k, body) => inner.put(k, body),
      head: (k) => inner.head(k),
      list: (p) => inner.list(p),
      delete: (k) => inner.delete(k),
      counts: () => inner.counts(),
      close: () => inner.close(),
      async get(key, range) {
        if (key.startsWith("index/") && !pruned) {
          pruned = true;
          await pruner.prune();
        }
        return inner.get(key, range);
      },
    });
    const repo = await t.reopen({ cacheDir: await scratch.dir("fresh"), wrapBackend: racing });
    expect(pruned).toBe(true);
    expect((await repo.log()).map((s) => s.id)).toEqual([b]);
    const dst = path.join(await scratch.dir("out"), "b");
    await repo.checkout(b, dst);
    expect(await describeTree(dst)).toEqual(await describeTree(srcB));
  });
});
