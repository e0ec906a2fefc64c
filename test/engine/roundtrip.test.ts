import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { describeTree, makeRandomTree } from "../helpers/tree.ts";
import { allTargets } from "../helpers/targets.ts";
import { useScratch } from "../helpers/scratch.ts";

describe.each(allTargets())("commit and checkout round trip on $name", (target) => {
  const scratch = useScratch();
  beforeAll(() => target.start());
  afterAll(() => target.stop());

  for (const seed of [1, 2, 3]) {
    it(`restores seeded tree ${seed} byte-identical with modes, mtimes and links`, async () => {
      const t = await scratch.repo({ target, packSize: 1024 * 1024 });
      const src = await scratch.dir("src");
      const dst = path.join(await scratch.dir("dst"), "restored");
      await makeRandomTree(src, seed);
      const { snapshot, warnings } = await t.repo.commit(src, { reason: "test" });
      expect(warnings).toEqual([]);
      expect(snapshot.stats.files).toBeGreaterThan(10);

      const result = await t.repo.checkout(snapshot.id, dst);
      expect(result.safetySnapshot).toBeUndefined();
      expect(await describeTree(dst, { dirTimes: true })).toEqual(await describeTree(src, { dirTimes: true }));
      // No staging or holder folders are left beside the target.
      expect((await fs.readdir(path.dirname(dst))).filter((n) => n.includes("clawback"))).toEqual([]);
    });
  }
});

describe("checkout into an existing folder", () => {
  const scratch = useScratch();

  it("blobs sealed inline (no worker threads) and by workers read back alike", async () => {
    const t = await scratch.repo({ codecThreads: 0 });
    const src = await scratch.dir("src");
    const dst = path.join(await scratch.dir("dst"), "out");
    await makeRandomTree(src, 5, { files: 12 });
    const { snapshot } = await t.repo.commit(src);
    const withWorkers = await t.reopen({ codecThreads: 2 });
    await withWorkers.checkout(snapshot.id, dst);
    expect(await describeTree(dst)).toEqual(await describeTree(src));
  });

  it("restores one file or one subtree with a path filter, leaving the rest of the target alone", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await makeRandomTree(src, 7);
    const { snapshot } = await t.repo.commit(src);
    const before = await describeTree(src);

    await fs.writeFile(path.join(src, "a", "b", "c", "new-file"), "local change");
    await fs.rm(path.join(src, "with space"), { recursive: true });
    await fs.writeFile(path.join(src, "a", "untouched"), "stays");

    const result = await t.repo.checkout(snapshot.id, src, { paths: ["with space", "a/b"] });
    expect(result.safetySnapshot).toBeDefined();
    const after = await describeTree(src);
    for (const [p, item] of Object.entries(before)) {
      if (p.startsWith("with space") || p.startsWith("a/b")) expect(after[p], p).toEqual(item);
    }
    expect(after["a/b/c/new-file"]).toBeUndefined();
    expect(after["a/untouched"]).toBeDefined();
  });

  it("a full checkout over a changed folder takes a safety snapshot that restores the replaced state", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await makeRandomTree(src, 11, { files: 15 });
    const original = await describeTree(src);
    const { snapshot } = await t.repo.commit(src);
    await fs.writeFile(path.join(src, "added-later.txt"), "newer work");
    const changed = await describeTree(src);

    const result = await t.repo.checkout(snapshot.id, src);
    expect(await describeTree(src)).toEqual(original);
    const safety = await t.repo.show(result.safetySnapshot!);
    expect(safety.reason).toBe("safety");
    // "latest" skips the safety snapshot, so restoring latest again restores the same snapshot.
    expect((await t.repo.show("latest")).id).toBe(snapshot.id);

    await t.repo.checkout(safety.id, src, { safetySnapshot: false });
    expect(await describeTree(src)).toEqual(changed);
  });

  it("keeps excluded paths of the target (secrets stay on the machine) on a full checkout", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.mkdir(path.join(src, "credentials"));
    await fs.writeFile(path.join(src, "credentials", "token"), "machine secret");
    await fs.writeFile(path.join(src, ".env"), "KEY=1");
    await fs.writeFile(path.join(src, "notes.md"), "v1");
    const { snapshot } = await t.repo.commit(src, { excludes: ["credentials/", ".env"] });
    expect((await t.repo.ls(snapshot.id)).map((e) => e.path)).toEqual(["notes.md"]);

    await fs.writeFile(path.join(src, "notes.md"), "v2");
    await fs.writeFile(path.join(src, "credentials", "token"), "rotated secret");
    await t.repo.checkout(snapshot.id, src);
    expect(await fs.readFile(path.join(src, "notes.md"), "utf8")).toBe("v1");
    expect(await fs.readFile(path.join(src, "credentials", "token"), "utf8")).toBe("rotated secret");
    expect(await fs.readFile(path.join(src, ".env"), "utf8")).toBe("KEY=1");
  });
});

describe("modification times", () => {
  const scratch = useScratch();

  it("come back to the microsecond, also just below a millisecond, where a float shows the next one", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    // 462.49988 ms: node's float mtimeMs rounds it to 462.5; the listing keeps 462.499 ms.
    const stamps = ["1795536677.462499880", "1795536677.000000999", "1795536677.999999999", "1600000000.123456789"];
    for (const [i, stamp] of stamps.entries()) {
      const file = path.join(src, `f${i}`);
      await fs.writeFile(file, `file ${i}`);
      expect(spawnSync("touch", ["-d", `@${stamp}`, file]).status).toBe(0);
    }
    const { snapshot } = await t.repo.commit(src);
    const dst = path.join(await scratch.dir("dst"), "out");
    await t.repo.checkout(snapshot.id, dst);
    for (const [i, stamp] of stamps.entries()) {
      const restored = (await fs.stat(path.join(dst, `f${i}`), { bigint: true })).mtimeNs;
      const [sec, frac] = stamp.split(".");
      expect(restored / 1000n).toBe(BigInt(sec!) * 1_000_000n + BigInt(frac!.slice(0, 6)));
    }
  });
});
