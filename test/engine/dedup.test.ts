import { afterEach, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { dirSize, makeRandomTree, randomBytesFrom, rng, tempDir } from "../helpers/tree.ts";
import { newRepo, type TestRepo } from "../helpers/repo.ts";

async function packCount(repoDir: string): Promise<number> {
  let n = 0;
  for (const e of await fs.readdir(path.join(repoDir, "data"), { recursive: true, withFileTypes: true })) if (e.isFile()) n++;
  return n;
}

describe("deduplication", () => {
  let t: TestRepo | undefined;
  const dirs: string[] = [];
  afterEach(async () => {
    await t?.cleanup();
    for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
  });

  it("committing an unchanged tree adds no pack and reads no file", async () => {
    t = await newRepo();
    const src = await tempDir("src");
    dirs.push(src);
    await makeRandomTree(src, 21);
    await t.repo.commit(src);
    const packs = await packCount(t.url);
    const { snapshot } = await t.repo.commit(src);
    expect(await packCount(t.url)).toBe(packs);
    expect(snapshot.stats.addedChunks).toBe(0);
    expect(snapshot.stats.filesRead).toBe(0);
    expect(snapshot.parent).toBeDefined();
  });

  it("an unchanged tree adds no pack even with the index cache deleted (content is re-read, not re-stored)", async () => {
    t = await newRepo();
    const src = await tempDir("src");
    dirs.push(src);
    await makeRandomTree(src, 22);
    await t.repo.commit(src);
    const packs = await packCount(t.url);
    const fresh = await t.reopen({ cacheDir: await tempDir("cache2") });
    const { snapshot } = await fresh.commit(src);
    expect(await packCount(t.url)).toBe(packs);
    expect(snapshot.stats.addedChunks).toBe(0);
  });

  it("identical files in two folders are stored once", async () => {
    t = await newRepo();
    const src = await tempDir("src");
    dirs.push(src);
    const content = randomBytesFrom(rng(5), 3 * 1024 * 1024);
    await fs.mkdir(path.join(src, "one"));
    await fs.mkdir(path.join(src, "two"));
    await fs.writeFile(path.join(src, "one", "big.bin"), content);
    await fs.writeFile(path.join(src, "two", "copy.bin"), content);
    const { snapshot } = await t.repo.commit(src);
    expect(snapshot.stats.addedBytes).toBeLessThan(content.length * 1.05);
    expect(snapshot.stats.addedBytes).toBeGreaterThan(content.length);
  });

  it("appending 1 MiB to a 100 MiB file adds under 2 MiB", async () => {
    t = await newRepo();
    const src = await tempDir("src");
    dirs.push(src);
    const file = path.join(src, "big.bin");
    await fs.writeFile(file, randomBytesFrom(rng(9), 100 * 1024 * 1024));
    await t.repo.commit(src);
    const before = await dirSize(t.url);
    await fs.appendFile(file, randomBytesFrom(rng(10), 1024 * 1024));
    await t.repo.commit(src);
    const added = (await dirSize(t.url)) - before;
    expect(added).toBeLessThan(2 * 1024 * 1024);
  });
});
