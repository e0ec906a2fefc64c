import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { makeRandomTree } from "../helpers/tree.ts";
import type { Repository } from "../../src/engine/repository.ts";
import { useScratch } from "../helpers/scratch.ts";
import { IndexCache } from "../../src/index/cache.ts";
import { BlobType } from "../../src/repo/blob.ts";
import type { ManifestPack } from "../../src/repo/manifest.ts";

async function answers(repo: Repository, src: string) {
  const log = await repo.log();
  const latest = log[log.length - 1]!;
  return {
    log,
    ls: await repo.ls(latest.id),
    diff: await repo.diff(log[0]!.id, latest.id),
    diffDir: await repo.diff(latest.id, { dir: src }),
    stats: await repo.stats(),
    check: await repo.check(),
  };
}

describe("the local index is only a cache (invariant 3)", () => {
  const scratch = useScratch();

  it("deleting the cache folder and running any command rebuilds it with the same answers", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await makeRandomTree(src, 51, { files: 25 });
    await t.repo.commit(src, { tags: ["first"] });
    await fs.writeFile(path.join(src, "a", "more.txt"), "more");
    await fs.rm(path.join(src, "with space"), { recursive: true });
    await t.repo.commit(src, { tags: ["second"] });
    await fs.writeFile(path.join(src, "a", "uncommitted.txt"), "pending");

    const expected = await answers(t.repo, src);
    expect(expected.diff.length).toBeGreaterThan(0);
    expect(expected.diffDir.map((c) => [c.path, c.kind])).toContainEqual(["a/uncommitted.txt", "added"]);
    await t.repo.close();
    await fs.rm(t.cacheDir, { recursive: true, force: true });

    const reopened = await t.reopen();
    expect(await answers(reopened, src)).toEqual(expected);
    const entries = await fs.readdir(t.cacheDir);
    expect(entries.length).toBe(1);
  });

  it("a cache behind the bucket (another machine committed) catches up", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await makeRandomTree(src, 52, { files: 10 });
    const other = await t.reopen({ cacheDir: await scratch.dir("other-cache") });
    await other.commit(src, { host: "other-machine" });
    const log = await t.repo.log();
    expect(log.map((s) => s.host)).toEqual(["other-machine"]);
    expect((await t.repo.ls("latest")).length).toBeGreaterThan(5);
  });
});

describe("blob lookups in the index cache", () => {
  const scratch = useScratch();

  it("answer the same through single queries and through the map loaded once they run out", async () => {
    const file = path.join(await scratch.dir("index"), "index.sqlite");
    const hex = (n: number) => n.toString(16).padStart(64, "0");
    // 6,000 blobs in five packs, more than the single queries answer; every tenth a delta.
    const packs: ManifestPack[] = Array.from({ length: 5 }, (_, p) => ({
      id: hex(1_000_000 + p),
      size: 1200 * 100,
      blobs: Array.from({ length: 1200 }, (_, b) => {
        const n = p * 1200 + b;
        return { id: hex(n + 1), type: BlobType.data, offset: b * 100, length: 100, rawLength: 300, ...(n % 10 === 9 ? { base: hex(n) } : {}) };
      }),
    }));
    const writer = new IndexCache(file);
    writer.addManifest(hex(9), packs);
    writer.close();
    const ids = [...packs.flatMap((p) => p.blobs.map((b) => b.id)), hex(999_999)];

    // The first 4,096 lookups are single queries, the rest answered by the map loaded then; asked
    // in the other order, each id is answered the other way round (6,001 ids: every one both ways).
    const asked = new IndexCache(file);
    const oneByOne = ids.map((id) => asked.blob(id));
    const found = ids.map((id) => asked.hasBlob(id));
    asked.close();
    const reversed = new IndexCache(file);
    const backwards = [...ids].reverse().map((id) => reversed.blob(id)).reverse();
    const foundBackwards = [...ids].reverse().map((id) => reversed.hasBlob(id)).reverse();
    reversed.close();
    expect(found).toEqual(oneByOne.map((l) => l !== undefined));
    expect(foundBackwards).toEqual(found);

    // Only the blobs asked for, in one query (a checkout's), the missing one left out; asked twice, once.
    const some = new IndexCache(file);
    const wanted = [...ids.filter((_, i) => i % 3 === 0), ids[3]!, ids.at(-1)!];
    const among = some.blobsAmong(wanted);
    some.close();
    expect(among.size).toBe(new Set(wanted).size - 1);
    for (const id of wanted) expect(among.get(id)).toEqual(oneByOne[ids.indexOf(id)]);

    expect(backwards).toEqual(oneByOne);
    expect(oneByOne.at(-1)).toBeUndefined();
    expect(oneByOne[9]).toEqual({ pack: packs[0]!.id, offset: 900, length: 100, rawLength: 300, type: BlobType.data, base: hex(9) });
    expect(oneByOne[5999]).toMatchObject({ pack: packs[4]!.id, offset: 119_900 });
  });
});
