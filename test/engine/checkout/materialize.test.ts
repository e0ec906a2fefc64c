import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { AbortedError, IntegrityError, PathError } from "../../../src/errors.ts";
import type { CodecThreads } from "../../../src/engine/codec/codec-pool.ts";
import { describeTree, makeRandomTree } from "../../helpers/tree.ts";
import { flipByte, objectKeys, type TestRepo } from "../../helpers/repo.ts";
import { useScratch } from "../../helpers/scratch.ts";
import { heldReads, observedBackend } from "../../helpers/observed-backend.ts";
import { mountTmpfs } from "../../helpers/tmpfs.ts";

// A checkout hands fetched ranges to the codec's worker thread, which decodes them and writes
// them into the staging folder itself, while the main thread decodes and writes the ranges the
// worker has no room for. Both write pieces of the same files.
const WORKER: CodecThreads = { encode: 1, decode: 0 };
const INLINE: CodecThreads = { encode: 0, decode: 0 };
const codecs = [
  ["worker and main thread", WORKER],
  ["main thread alone", INLINE],
] as const;

describe("checkout writes ranges on the worker and on the main thread", () => {
  const scratch = useScratch();

  it("restores the same tree either way, with blobs shared between files and files spread over many packs", async () => {
    const t = await scratch.repo({ packSize: 256 * 1024 });
    const src = await scratch.dir("src");
    await makeRandomTree(src, 11, { files: 30, maxSize: 2_000_000 });
    // The same content in three files: one blob, several places, written by one thread.
    const shared = randomBytes(700_000);
    for (const name of ["a/copy-1", "a/b/copy-2", "with space/copy-3"]) await fs.writeFile(path.join(src, name), shared);
    const { snapshot } = await t.repo.commit(src);
    expect((await objectKeys(t.raw, "data/")).length).toBeGreaterThan(10);

    for (const [label, codecThreads] of codecs) {
      const dst = path.join(await scratch.dir(label), "out");
      const repo = await t.reopen({ codecThreads });
      await repo.checkout(snapshot.id, dst);
      expect(await describeTree(dst, { dirTimes: true }), label).toEqual(await describeTree(src, { dirTimes: true }));
    }
  });

  /** A reopened `t` whose range reads are held 20 ms each (any backend but a local folder counts as remote), and their count in flight. */
  async function distant(t: TestRepo) {
    const held = heldReads(20, (key) => (key.startsWith("data/") ? "data" : undefined));
    const repo = await t.reopen({ cacheDir: await scratch.dir("cache"), wrapBackend: (b) => observedBackend(b, held.hooks) });
    return { repo, seen: () => held.seen.get("data")! };
  }

  it("from a remote store 32 small ranges are on their way at once, and the tree restores", async () => {
    const t = await scratch.repo({ packSize: 32 * 1024 });
    const src = await scratch.dir("src");
    await makeRandomTree(src, 5, { files: 40, maxSize: 600_000 });
    const { snapshot } = await t.repo.commit(src);
    expect((await objectKeys(t.raw, "data/")).length).toBeGreaterThan(32);
    const { repo, seen } = await distant(t);
    const dst = path.join(await scratch.dir("dst"), "out");
    await repo.checkout(snapshot.id, dst);
    expect(seen().most).toBe(32);
    expect(await describeTree(dst, { dirTimes: true })).toEqual(await describeTree(src, { dirTimes: true }));
  });

  it("from a remote store large ranges on their way hold at most 32 MiB together", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    for (let i = 0; i < 12; i++) await fs.writeFile(path.join(src, `big-${i}`), randomBytes(4 * 1024 * 1024));
    const { snapshot } = await t.repo.commit(src);
    const { repo, seen } = await distant(t);
    const dst = path.join(await scratch.dir("dst"), "out");
    await repo.checkout(snapshot.id, dst);
    // Ranges are merged up to 4 MiB: 8 or so of them fit (more than the 2 a local folder gets).
    expect(seen().most).toBeGreaterThan(2);
    expect(seen().mostBytes).toBeGreaterThan(16 * 1024 * 1024);
    expect(seen().mostBytes).toBeLessThanOrEqual(32 * 1024 * 1024);
    expect(await describeTree(dst)).toEqual(await describeTree(src));
  });

  it("a damaged range decoded on the worker fails the checkout naming the pack; nothing is left beside the target", async () => {
    const t = await scratch.repo({ codecThreads: WORKER });
    const src = await scratch.dir("src");
    await makeRandomTree(src, 3, { files: 8, maxSize: 300_000 });
    const { snapshot } = await t.repo.commit(src);
    // One small pack: one range, and the first range always goes to the worker.
    const [pack, ...others] = await objectKeys(t.raw, "data/");
    expect(others).toEqual([]);
    await flipByte(t.raw, pack!, () => 40);

    const parent = await scratch.dir("dst");
    const repo = await t.reopen({ codecThreads: WORKER, cacheDir: await scratch.dir("cache") });
    const err = await repo.checkout(snapshot.id, path.join(parent, "out")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).object).toBe(pack);
    expect(await fs.readdir(parent)).toEqual([]);
  });

  it.each(codecs)("a file system that fills up fails the checkout naming the file (%s); no half-restored target is left", async (_label, codecThreads) => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.mkdir(path.join(src, "media"));
    for (let i = 0; i < 3; i++) await fs.writeFile(path.join(src, "media", `clip-${i}.bin`), randomBytes(1_500_000));
    const { snapshot } = await t.repo.commit(src);

    const small = await scratch.dir("small");
    const unmount = mountTmpfs(small, "2m");
    if (!unmount) return; // mounting needs root; nothing to test here without it
    try {
      const repo = await t.reopen({ codecThreads });
      const err = await repo.checkout(snapshot.id, path.join(small, "out")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PathError);
      expect((err as PathError).message).toMatch(/clip-\d\.bin: cannot write the restored file: ENOSPC/);
      expect(await fs.readdir(small)).toEqual([]);
    } finally {
      unmount();
    }
  });

  it.each(codecs)("a checkout cancelled part-way (%s) stops with AbortedError and leaves nothing beside the target", async (_label, codecThreads) => {
    const t = await scratch.repo({ packSize: 256 * 1024 });
    const src = await scratch.dir("src");
    await makeRandomTree(src, 13, { files: 30, maxSize: 1_500_000 });
    const { snapshot } = await t.repo.commit(src);

    const parent = await scratch.dir("dst");
    const repo = await t.reopen({ codecThreads });
    const controller = new AbortController();
    let written = 0;
    const progress = (e: { phase: string; bytes: number }) => {
      if (e.phase === "checkout") written = e.bytes;
      if (written > 0) controller.abort();
    };
    const err = await repo.checkout(snapshot.id, path.join(parent, "out"), { signal: controller.signal, progress: { progress } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect(written).toBeGreaterThan(0);
    expect(await fs.readdir(parent)).toEqual([]);
  });
});
