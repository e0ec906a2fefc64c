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
    const cut = await t.reopen({ wrapBackend: (b) => faultyBackend(b, { failPutFrom: 1, putPrefix: INDEX_PREFIX }) });
    await expect(cut.commit(src, { reason: "shutdown" })).rejects.toThrow(/injected failure writing index\//);
    for await (const manifest of t.raw.list(INDEX_PREFIX)) expect.unreachable(`no manifest was written, found ${manifest.key}`);
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

  it("a pack one cache indexed from its header and a prune elsewhere deleted is dropped from that cache: its next commit stores the blobs again, and everything restores", async () => {
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "base.txt"), "first\n");
    const t = await scratch.repo({ packSize: 256 * 1024 });
    await t.repo.commit(src);

    // A commit that dies at its manifest leaves packs no manifest lists.
    const rand = prng(16);
    for (let i = 0; i < 3; i++) await fs.writeFile(path.join(src, `f${i}.bin`), randomBytesFrom(rand, 1024 * 1024));
    const cut = await t.reopen({ wrapBackend: (b) => faultyBackend(b, { failPutFrom: 1, putPrefix: INDEX_PREFIX }) });
    await expect(cut.commit(src)).rejects.toThrow(/injected failure/);
    await cut.close();
    const packs = async () => {
      const ids: string[] = [];
      for await (const o of t.raw.list(DATA_PREFIX)) ids.push(o.key);
      return ids;
    };
    const withOrphans = await packs();

    // Another machine's cache, new: its first sync indexes those packs from their headers.
    const other = await t.reopen({ cacheDir: await scratch.dir("other-cache") });
    expect(await other.log()).toHaveLength(1);
    // A prune whose cache never saw them deletes them as leftovers; no manifest changes.
    await t.repo.prune();
    expect((await packs()).length).toBeLessThan(withOrphans.length);

    // The other machine commits the same files: they are stored again, not taken from the gone packs.
    const { snapshot } = await other.commit(src);
    expect(snapshot.stats.addedBytes).toBeGreaterThan(3 * 1024 * 1024);
    const out = path.join(await scratch.dir("out"), "restored");
    await other.checkout(snapshot.id, out);
    expect(await describeTree(out)).toEqual(await describeTree(src));
    const fresh = await t.reopen({ cacheDir: await scratch.dir("fresh-cache") });
    expect((await fresh.check({ readData: true })).ok).toBe(true);
    expect((await other.check({ readData: true })).ok).toBe(true);
  });
});
