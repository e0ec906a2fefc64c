import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../../src/errors.ts";
import { makeRandomTree } from "../../helpers/tree.ts";
import { objectKeys } from "../../helpers/repo.ts";
import { b2Target } from "../../helpers/targets.ts";
import { useScratch } from "../../helpers/scratch.ts";

describe("check --read-data-subset", () => {
  const scratch = useScratch();

  it("n/m slices cover every pack exactly once; p% reads that share; bad forms are refused", async () => {
    const t = await scratch.repo({ packSize: 128 * 1024 });
    const src = await scratch.dir("src");
    await makeRandomTree(src, 81, { files: 30 });
    await t.repo.commit(src);
    const packs = (await objectKeys(t.raw, "data/")).length;
    expect(packs).toBeGreaterThan(5);

    const slices = [];
    for (let n = 1; n <= 3; n++) slices.push(await t.repo.check({ readDataSubset: `${n}/3` }));
    expect(slices.every((r) => r.ok)).toBe(true);
    expect(slices.reduce((sum, r) => sum + r.packsRead, 0)).toBe(packs);
    expect((await t.repo.check({ readDataSubset: "50%" })).packsRead).toBe(Math.round(packs / 2));
    expect((await t.repo.check({ readData: true })).packsRead).toBe(packs);
    expect((await t.repo.check()).packsRead).toBe(0);
    for (const bad of ["0/3", "4/3", "1/0", "abc", "0%", "150%"]) {
      await expect(t.repo.check({ readDataSubset: bad }), bad).rejects.toBeInstanceOf(UsageError);
    }
  });
});

describe("check on B2", () => {
  const target = b2Target();
  const scratch = useScratch();
  beforeAll(() => target.start());
  afterAll(() => target.stop());

  it("warns when the bucket keeps deleted files as hidden versions (no lifecycle rule)", async () => {
    const t = await scratch.repo({ target });
    const result = await t.repo.check();
    expect(result.ok).toBe(true);
    expect(result.warnings.join("\n")).toMatch(/lifecycle/i);
  });
});
