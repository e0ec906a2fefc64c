import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { describeTree, makeRandomTree, randomBytesFrom, prng } from "../helpers/tree.ts";
import { objectKeys, storedBytes, type TestRepo } from "../helpers/repo.ts";
import { allTargets } from "../helpers/targets.ts";
import { useScratch } from "../helpers/scratch.ts";

describe.each(allTargets())("deduplication on $name", (target) => {
  const scratch = useScratch();
  let t: TestRepo;
  beforeAll(() => target.start());
  afterAll(() => target.stop());
  const packs = async () => (await objectKeys(t!.raw, "data/")).length;

  it("committing an unchanged tree adds no pack and reads no file", async () => {
    t = await scratch.repo({ target });
    const src = await scratch.dir("src");
    await makeRandomTree(src, 21);
    await t.repo.commit(src);
    const before = await packs();
    const { snapshot } = await t.repo.commit(src);
    expect(await packs()).toBe(before);
    expect(snapshot.stats.addedChunks).toBe(0);
    expect(snapshot.stats.filesRead).toBe(0);
    expect(snapshot.parent).toBeDefined();
  });

  it("an unchanged tree adds no pack even with the index cache deleted (content is re-read, not re-stored)", async () => {
    t = await scratch.repo({ target });
    const src = await scratch.dir("src");
    await makeRandomTree(src, 22);
    await t.repo.commit(src);
    const before = await packs();
    const fresh = await t.reopen({ cacheDir: await scratch.dir("cache2") });
    const { snapshot } = await fresh.commit(src);
    expect(await packs()).toBe(before);
    expect(snapshot.stats.addedChunks).toBe(0);
  });

  it("a file the stat cache knows is stored again when a prune elsewhere removed its chunks", async () => {
    t = await scratch.repo({ target });
    const src = await scratch.dir("src");
    await makeRandomTree(src, 23);
    await t.repo.commit(src);
    // Another machine (its own cache) forgets every snapshot and prunes: every pack goes.
    const elsewhere = await t.reopen({ cacheDir: await scratch.dir("cache-elsewhere") });
    await elsewhere.forget((await elsewhere.log()).map((s) => s.id));
    await elsewhere.prune();
    expect(await packs()).toBe(0);
    // Nothing changed in the folder, so the stat cache vouches for every file; the chunks it
    // names are gone, so they must be read and stored again, and the snapshot must restore.
    const { snapshot } = await t.repo.commit(src);
    expect(snapshot.stats.filesRead).toBeGreaterThan(0);
    expect(await packs()).toBeGreaterThan(0);
    const out = path.join(await scratch.dir("out"), "restored");
    await t.repo.checkout(snapshot.id, out);
    expect(await describeTree(out)).toEqual(await describeTree(src));
  });

  it("identical files in two folders are stored once", async () => {
    t = await scratch.repo({ target });
    const src = await scratch.dir("src");
    const content = randomBytesFrom(prng(5), 3 * 1024 * 1024);
    await fs.mkdir(path.join(src, "one"));
    await fs.mkdir(path.join(src, "two"));
    await fs.writeFile(path.join(src, "one", "big.bin"), content);
    await fs.writeFile(path.join(src, "two", "copy.bin"), content);
    const { snapshot } = await t.repo.commit(src);
    expect(snapshot.stats.addedBytes).toBeLessThan(content.length * 1.05);
    expect(snapshot.stats.addedBytes).toBeGreaterThan(content.length);
  });

  it("appending 1 MiB to a 100 MiB file adds under 2 MiB", async () => {
    t = await scratch.repo({ target });
    const src = await scratch.dir("src");
    const file = path.join(src, "big.bin");
    await fs.writeFile(file, randomBytesFrom(prng(9), 100 * 1024 * 1024));
    await t.repo.commit(src);
    const before = await storedBytes(t.raw);
    await fs.appendFile(file, randomBytesFrom(prng(10), 1024 * 1024));
    await t.repo.commit(src);
    expect((await storedBytes(t.raw)) - before).toBeLessThan(2 * 1024 * 1024);
  });
});
