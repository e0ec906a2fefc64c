import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { makeRandomTree } from "../helpers/tree.ts";
import type { Repository } from "../../src/engine/repository.ts";
import { useScratch } from "../helpers/scratch.ts";

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
